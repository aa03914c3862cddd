"""Which reader or shipped profile reads a URL, as data: each platform's answer format and URL globs here,
each profile's `urls:` in its YAML. `kuchikomi extract` and the spiders pick by them."""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from fnmatch import fnmatchcase
from functools import lru_cache
from typing import Callable
from urllib.parse import urlsplit

import yaml

from crawlers.extraction import forum_posts, platform_posts
from crawlers.extraction.site_profile import PROFILES
from crawlers.items import ReviewItem


@dataclass(frozen=True)
class Platform:
    name: str
    read: Callable
    urls: tuple[str, ...] = ()  # host/path globs of its API answers
    answer: str = "json"  # what the reader takes: json (parsed), text (decoded with `encoding`) or bytes
    encoding: str | None = None
    login: bool = False  # answers a logged-in session only: the user's own headers or cookies
    differential: bool = False  # fetched again from the byte offset it was known to (HTTP Range)


PLATFORMS: dict[str, Platform] = {platform.name: platform for platform in [
    Platform("discourse", forum_posts.discourse),
    Platform("hackernews", forum_posts.hackernews, ("hn.algolia.com/api/*",)),
    Platform("stackexchange", forum_posts.stackexchange, ("api.stackexchange.com/*",)),
    Platform("reddit", forum_posts.reddit, ("www.reddit.com/*.json*", "old.reddit.com/*.json*")),
    Platform("zhihu", forum_posts.zhihu, ("zhuanlan.zhihu.com/api/*", "www.zhihu.com/api/*")),
    Platform("fivech", platform_posts.fivech, ("*.5ch.net/*/dat/*.dat", "*.2ch.net/*/dat/*.dat",
                                               "*.bbspink.com/*/dat/*.dat"),
             answer="text", encoding="cp932", differential=True),
    Platform("hatena", platform_posts.hatena, ("b.hatena.ne.jp/entry/json*", "b.hatena.ne.jp/entry/jsonlite*")),
    Platform("appstore", platform_posts.appstore, ("itunes.apple.com/*customerreviews*",
                                                   "itunes.apple.com/*/viewContentsUserReviews*"), answer="bytes"),
    Platform("bilibili", platform_posts.bilibili, ("api.bilibili.com/x/v2/reply*",)),
    Platform("weibo", platform_posts.weibo, ("m.weibo.cn/api/*", "m.weibo.cn/comments/*", "m.weibo.cn/statuses/*"),
             login=True),
    Platform("xiaohongshu", platform_posts.xiaohongshu, ("edith.xiaohongshu.com/api/sns/web/*",), login=True),
    Platform("taobao", platform_posts.taobao, ("h5api.m.taobao.com/h5/mtop.wdetail.getitemrates/*",
                                               "acs.m.taobao.com/h5/mtop.wdetail.getitemrates/*"), login=True),
]}


def decode_answer(platform: Platform, body: bytes):
    """What the platform's reader takes from an answer's body; ValueError when it is not JSON as expected."""
    if platform.answer == "bytes":
        return body
    if platform.answer == "text":
        return body.decode(platform.encoding or "utf-8", errors="replace")
    return json.loads(body)


@lru_cache(maxsize=1)
def _profile_urls() -> tuple[tuple[str, str], ...]:
    pairs = []
    for path in sorted(PROFILES.glob("*.yaml")):
        rules = yaml.safe_load(path.read_text(encoding="utf-8"))
        pairs += [(pattern, rules["name"]) for pattern in rules.get("urls", [])]
    return tuple(pairs)


def _matches(pattern: str, url: str) -> bool:
    parts = urlsplit(url)
    target = f"{parts.hostname or ''}{parts.path}" + (f"?{parts.query}" if parts.query else "")
    return fnmatchcase(target, pattern) or fnmatchcase(target, pattern + "?*")


def reader_for(url: str) -> tuple[str, str] | None:
    """("platform", name) or ("profile", name) for a URL one of them is made for; None otherwise."""
    for platform in PLATFORMS.values():
        if any(_matches(pattern, url) for pattern in platform.urls):
            return "platform", platform.name
    for pattern, name in _profile_urls():
        if _matches(pattern, url):
            return "profile", name
    return None


def post_item(post: forum_posts.Post, source: str) -> ReviewItem:
    """The item of a post a platform's reader found."""
    item = ReviewItem(kind=post.kind, source=source, source_url=post.url, review_url=post.url,
                      review_id=post.post_id, site=urlsplit(post.url).hostname, author=post.author,
                      title=post.title, body=post.text, published_at=post.published_at, votes=post.votes,
                      rating=post.rating, fetched_at=datetime.now(timezone.utc).isoformat(timespec="milliseconds"))
    # Set only when known: the index holds these fields for the items that have them.
    for name in ("parent_id", "author_id", "date_precision"):
        if getattr(post, name):
            item[name] = getattr(post, name)
    return item
