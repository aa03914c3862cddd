"""Community posts from forum and Q&A APIs: Discourse, Hacker News (Algolia), Stack Exchange, Reddit,
Zhihu columns (the Japanese and Chinese platforms are in platform_posts).

Each reader turns one API reply into a Page: its posts, which page to ask for next (None: the last),
and whether pages run newest first (then paging may stop at the first page of known posts).
Field names of each API are kept here, as data for the readers, not spread over the spider.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from crawlers.extraction.feed_entries import html_to_text


@dataclass
class Page:
    posts: list
    next_url: str | None
    newest_first: bool  # a page of only known posts then means the rest is known too


@dataclass
class Post:
    post_id: str
    url: str
    author: str | None
    title: str | None
    text: str | None
    published_at: str | None
    thread: str | None = None
    votes: int | None = None  # likes, points or score
    parent_id: str | None = None  # post_id of the post this one replies to
    author_id: str | None = None
    rating: dict | None = None  # {"value", "best", "worst", "normalized"} for rated reviews (App Store, Taobao)
    kind: str = "post"  # "review" when it rates what it is about
    date_precision: str | None = None


class PlatformRefused(Exception):
    """The platform answered with a refusal (a login, a captcha, a blocked request), not with posts."""


def _with_query(url: str, **changes) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    query.update({key: str(value) for key, value in changes.items()})
    return urlunsplit(parts._replace(query=urlencode(query)))


def _iso(value) -> str | None:
    if value in (None, ""):
        return None
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, timezone.utc).isoformat()
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).isoformat()
    except ValueError:
        return None


# Discourse: /t/{id}/posts.json gives posts 1-20; ?post_number=N gives the ~20 posts ending before N,
# newest first (past the end: the last ~20). Paging asks for last+20 until a page brings nothing new. /posts.json (latest across the
# forum) pages backwards with ?before={lowest id}.
DISCOURSE_CHUNK = 20
DISCOURSE_LIKE_ACTION = 2  # actions_summary id of a like


def _discourse_likes(post: dict) -> int | None:
    for action in post.get("actions_summary") or []:
        if isinstance(action, dict) and action.get("id") == DISCOURSE_LIKE_ACTION:
            return action.get("count")
    return post.get("like_count")


def discourse(data: dict, url: str) -> Page:
    base = f"{urlsplit(url).scheme}://{urlsplit(url).netloc}"
    latest = "latest_posts" in data
    raw = data.get("latest_posts") or (data.get("post_stream") or {}).get("posts") or []
    posts = [Post(post_id=f"discourse:{urlsplit(url).netloc}:{p['id']}",
                  url=f"{base}/t/{p.get('topic_slug') or '-'}/{p['topic_id']}/{p['post_number']}",
                  author=p.get("username"), title=p.get("topic_title") or data.get("title"),
                  text=html_to_text(p.get("cooked")), published_at=_iso(p.get("created_at")),
                  thread=str(p.get("topic_id")), votes=_discourse_likes(p))
             for p in raw if isinstance(p, dict) and "id" in p and "topic_id" in p]
    if not raw:
        return Page(posts, None, latest)
    if latest:
        return Page(posts, _with_query(url, before=min(p["id"] for p in raw)), True)
    # Post numbers have gaps (deleted posts), so the end shows as a page with nothing new (the spider stops).
    return Page(posts, _with_query(url, post_number=max(p["post_number"] for p in raw) + DISCOURSE_CHUNK), False)


def _hn_item_url(item_id) -> str:
    return f"https://news.ycombinator.com/item?id={item_id}"


def hackernews(data: dict, url: str) -> Page:
    """Algolia search replies (hits, page, nbPages) and item replies (a story or comment with children)."""
    if "hits" in data:
        posts = [Post(post_id=f"hn:{hit['objectID']}", url=_hn_item_url(hit["objectID"]), author=hit.get("author"),
                      title=hit.get("title") or hit.get("story_title"),
                      text=html_to_text(hit.get("comment_text") or hit.get("story_text")) or hit.get("title"),
                      published_at=_iso(hit.get("created_at")), thread=str(hit.get("story_id") or hit["objectID"]),
                      votes=hit.get("points"))
                 for hit in data["hits"] if isinstance(hit, dict) and hit.get("objectID")]
        page, pages = data.get("page", 0), data.get("nbPages", 0)
        return Page(posts, _with_query(url, page=page + 1) if page + 1 < pages else None,
                    "search_by_date" in urlsplit(url).path)
    posts, pending = [], [data]
    while pending:  # an item and all its replies
        item = pending.pop()
        if not isinstance(item, dict) or item.get("id") is None:
            continue
        pending.extend(item.get("children") or [])
        text = html_to_text(item.get("text")) or item.get("title")
        if text and item.get("author"):
            posts.append(Post(post_id=f"hn:{item['id']}", url=_hn_item_url(item["id"]), author=item.get("author"),
                              title=item.get("title"), text=text, published_at=_iso(item.get("created_at")),
                              thread=str(item.get("story_id") or item["id"]), votes=item.get("points")))
    return Page(posts, None, False)


def stackexchange(data: dict, url: str) -> Page:
    """/2.3/questions, /answers and /search replies (items, has_more); bodies need filter=withbody."""
    posts = []
    for item in data.get("items") or []:
        if not isinstance(item, dict):
            continue
        item_id = item.get("answer_id") or item.get("question_id") or item.get("comment_id")
        if item_id is None:
            continue
        owner = item.get("owner") or {}
        posts.append(Post(post_id=f"se:{urlsplit(item.get('link') or url).netloc}:{item_id}",
                          url=item.get("link") or url, author=owner.get("display_name"),
                          title=html_to_text(item.get("title")),
                          text=html_to_text(item.get("body")) or html_to_text(item.get("title")),
                          published_at=_iso(item.get("creation_date")), thread=str(item.get("question_id")),
                          votes=item.get("score")))
    query = dict(parse_qsl(urlsplit(url).query))
    page = int(query.get("page", 1)) if query.get("page", "1").isdigit() else 1
    return Page(posts, _with_query(url, page=page + 1) if data.get("has_more") else None,
                query.get("sort") == "creation" and query.get("order", "desc") == "desc")


def reddit(data: dict, url: str) -> Page:
    """Listings (/r/{sub}/new.json, /search.json): data.children[].data, paged with `after`."""
    listing = data.get("data") or {}
    posts = []
    for child in listing.get("children") or []:
        item = (child or {}).get("data") or {}
        if not item.get("id") or item.get("author") in (None, "[deleted]"):
            continue
        posts.append(Post(post_id=f"reddit:{item.get('name') or item['id']}",
                          url=urljoin("https://www.reddit.com", item.get("permalink") or ""),
                          author=item.get("author"), title=item.get("title") or item.get("link_title"),
                          text=item.get("selftext") or item.get("body") or item.get("title"),
                          published_at=_iso(item.get("created_utc")),
                          thread=item.get("link_id") or item.get("name"), votes=item.get("score")))
    after = listing.get("after")
    query = dict(parse_qsl(urlsplit(url).query))
    newest_first = urlsplit(url).path.rstrip("/").endswith("/new.json") or query.get("sort") == "new"
    return Page(posts, _with_query(url, after=after) if after else None, newest_first)


def _zhihu_post(post: dict, url: str) -> Post | None:
    post_id = post.get("slug") or post.get("id")
    if not post_id or not isinstance(post, dict):
        return None
    author = post.get("author") or {}
    link = post.get("url") or f"/p/{post_id}"
    return Post(post_id=f"zhihu:{post_id}", url=urljoin("https://zhuanlan.zhihu.com", link),
                author=author.get("name") if isinstance(author, dict) else None, title=post.get("title"),
                text=html_to_text(post.get("content")) or html_to_text(post.get("excerpt") or post.get("summary")),
                published_at=_iso(post.get("publishedTime") or post.get("created")),
                thread=(post.get("column") or {}).get("slug"),
                votes=post.get("likesCount", post.get("voteup_count")))


def zhihu(data: dict | list, url: str) -> Page:
    """Zhihu column (专栏) APIs: one post, a column's post list (a JSON list, paged by offset), or
    the v4 list ({"data": [...], "paging": {"is_end", "next"}}). All newest first."""
    if isinstance(data, list):
        posts = [p for p in (_zhihu_post(item, url) for item in data if isinstance(item, dict)) if p]
        query = dict(parse_qsl(urlsplit(url).query))
        limit = int(query["limit"]) if query.get("limit", "").isdigit() else 10
        offset = int(query["offset"]) if query.get("offset", "").isdigit() else 0
        return Page(posts, _with_query(url, limit=limit, offset=offset + len(data)) if len(data) >= limit else None,
                    True)
    if isinstance(data.get("data"), list):
        posts = [p for p in (_zhihu_post(item, url) for item in data["data"] if isinstance(item, dict)) if p]
        paging = data.get("paging") or {}
        return Page(posts, None if paging.get("is_end", True) else paging.get("next"), True)
    post = _zhihu_post(data, url)
    return Page([post] if post else [], None, False)
