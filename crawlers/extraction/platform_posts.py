"""Posts and reviews from Japanese and Chinese platforms' answers: 5ch `.dat` threads, はてなブックマーク,
App Store customer reviews, Bilibili, Weibo (m.weibo.cn), Xiaohongshu and Taobao.

Each reader turns one answer into a Page, as the readers in forum_posts do. An answer that is a refusal
(not logged in, a captcha, a blocked request) raises PlatformRefused: kuchikomi never works around one.
Dates are in the site's zone; the fetch time resolves relative ones (刚刚, 3分钟前, 06-14).
"""
from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from urllib.parse import parse_qsl, urlsplit

from lxml import etree

from crawlers.extraction.dates import parse_date
from crawlers.extraction.feed_entries import html_to_text
from crawlers.extraction.forum_posts import Page, PlatformRefused, Post, _with_query

JST, CST = "Asia/Tokyo", "Asia/Shanghai"


def _date(value, zone: str, fetched: datetime | None = None) -> tuple[str | None, str | None]:
    parsed = parse_date(value, fetched or datetime.now(timezone.utc), zone)
    return (parsed.iso, parsed.precision) if parsed else (None, None)


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _query(url: str) -> dict:
    return dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))


# 5ch / 2ch: a thread's .dat holds one line per post, `name<>mail<>date ID:xxx BE:...<>body<>title` (the
# title on the first line only), in CP932. Fetched again from a byte offset it gives only the new posts.
_DAT_URL = re.compile(r"^/(?P<board>[^/]+)/dat/(?P<key>\d+)\.dat$")
_FIVECH_ID = re.compile(r"\bID:(\S+)")
_FIVECH_BREAK = re.compile(r"\s*<br>\s*", re.I)  # a line break in the post: one, not a paragraph


def fivech(text: str, url: str, first_number: int = 1, title: str | None = None) -> Page:
    """The posts of a .dat, numbered from `first_number` (a differential fetch starts past the known ones)."""
    parts = urlsplit(url)
    found = _DAT_URL.match(parts.path)
    board, key = (found["board"], found["key"]) if found else ("", parts.path)
    posts = []
    for number, line in enumerate(text.splitlines(), start=first_number):
        fields = line.split("<>")
        if len(fields) < 4:
            continue
        name, _mail, stamp, body = fields[:4]
        if number == 1 and len(fields) > 4 and fields[4].strip():
            title = html_to_text(fields[4])
        date_text = stamp.split(" ID:")[0].split(" BE:")[0].strip()
        published, _ = _date(date_text, JST)
        if published is None:  # あぼーん: a deleted post keeps its number, and nothing else
            continue
        author_id = _FIVECH_ID.search(stamp)
        posts.append(Post(post_id=f"5ch:{board}:{key}:{number}",
                          url=f"{parts.scheme}://{parts.netloc}/test/read.cgi/{board}/{key}/{number}",
                          author=html_to_text(name), title=title, published_at=published,
                          text=html_to_text(_FIVECH_BREAK.sub("\n", body)),
                          thread=key, author_id=author_id.group(1) if author_id else None))
    return Page(posts, None, False)


def hatena(data: dict, url: str) -> Page:
    """はてなブックマーク entry JSON (/entry/jsonlite/?url=...): each bookmark with a comment is a post,
    its tags written before it as Hatena users type them ([tag])."""
    eid, title = data.get("eid"), data.get("title")
    posts = []
    for mark in data.get("bookmarks") or []:
        if not isinstance(mark, dict) or not (mark.get("comment") or "").strip() or not mark.get("user"):
            continue
        tags = "".join(f"[{tag}]" for tag in mark.get("tags") or [])
        published, _ = _date(mark.get("timestamp"), JST)
        posts.append(Post(post_id=f"hatena:{eid}:{mark['user']}",
                          url=f"https://b.hatena.ne.jp/entry/{eid}/comment/{mark['user']}", author=mark["user"],
                          title=title, text=f"{tags} {mark['comment'].strip()}".strip(), published_at=published,
                          thread=str(eid), author_id=mark["user"]))
    return Page(posts, None, False)


def _stars(value, best: float = 5, worst: float = 1) -> dict | None:
    number = _int(value)
    if number is None:
        return None
    return {"value": float(number), "best": best, "worst": worst,
            "normalized": round(min(max((number - worst) / (best - worst), 0.0), 1.0), 4)}


def _label(entry: dict, name: str):
    value = entry.get(name)
    return value.get("label") if isinstance(value, dict) else None


# Apple's customer-reviews feed serves 10 pages at most (page=1..10).
APPSTORE_LAST_PAGE = 10
_APPSTORE_PAGE = re.compile(r"/page=(\d+)/")


def appstore(body: bytes, url: str) -> Page:
    """Customer reviews: Apple's feed (…/rss/customerreviews/page=1/id={app}/sortby=mostrecent/json) or the
    legacy iTunes viewContentsUserReviews XML."""
    if body.lstrip()[:1] == b"<":
        return _appstore_legacy(body, url)
    feed = (json.loads(body) or {}).get("feed") or {}
    entries = feed.get("entry") or []
    entries = [entries] if isinstance(entries, dict) else entries
    posts = []
    for entry in entries:
        if not isinstance(entry, dict) or _label(entry, "im:rating") is None:
            continue  # the app itself, listed first on some pages
        review_id = _label(entry, "id")
        author = (entry.get("author") or {}).get("name") or {}
        published, _ = _date(_label(entry, "updated"), "UTC")
        posts.append(Post(post_id=f"appstore:{review_id}", url=f"{url.split('#')[0]}#{review_id}",
                          author=author.get("label"), title=_label(entry, "title"), text=_label(entry, "content"),
                          published_at=published, votes=_int(_label(entry, "im:voteCount")),
                          rating=_stars(_label(entry, "im:rating")), kind="review"))
    page = _APPSTORE_PAGE.search(url)
    number = int(page.group(1)) if page else 1
    next_url = None
    if page and posts and number < APPSTORE_LAST_PAGE:
        next_url = url[:page.start()] + f"/page={number + 1}/" + url[page.end():]
    return Page(posts, next_url, "sortby=mostrecent" in url.lower())


_STARS_ALT = re.compile(r"(\d+)\s+stars?")
_LEGACY_BYLINE = re.compile(r"^by\s+(?P<author>.+?)\s+-\s+(?:Version\s+\S+\s+-\s+)?(?P<date>.+)$")


def _appstore_legacy(body: bytes, url: str) -> Page:
    root = etree.fromstring(body, etree.XMLParser(recover=True, resolve_entities=False, no_network=True))
    for node in root.iter():
        if isinstance(node.tag, str):
            node.tag = etree.QName(node).localname
    star_block = "HBoxView[@topInset='1'][contains(@alt, 'star')]"
    posts = []
    # A review: the innermost box holding a star rating, its title above, "by NAME - Version V - DATE", the text.
    for review in root.xpath(f"//VBoxView[.//{star_block}][not(.//VBoxView[.//{star_block}])]"):
        stars = _STARS_ALT.search(review.xpath(f"string(.//{star_block}/@alt)"))
        byline = " ".join(review.xpath("string(.//TextView[@styleSet='basic13'][.//GotoURL])").split())
        by = _LEGACY_BYLINE.match(byline)
        report = review.xpath("string(.//GotoURL[contains(@url, 'userReviewId=')]/@url)")
        review_id = _query(report).get("userReviewId") or None
        published, _ = _date(by["date"] if by else None, "UTC")
        text = review.xpath("string(TextView[@styleSet='normal11'])").strip()
        posts.append(Post(post_id=f"appstore:{review_id}", url=f"{url.split('#')[0]}#{review_id}",
                          author=by["author"] if by else None,
                          title=review.xpath("string(HBoxView[1]/TextView)").strip(),
                          text=text, published_at=published, rating=_stars(stars.group(1) if stars else None),
                          kind="review"))
    return Page(posts, None, False)


# Bilibili's reply API: page mode (/x/v2/reply?type=1&oid=...&pn=1: data.page) and cursor mode
# (/x/v2/reply/main?...&next=0: data.cursor). Nested replies come with their root reply.
_BILIBILI_PAGES = {1: "https://www.bilibili.com/video/av{oid}", 12: "https://www.bilibili.com/read/cv{oid}",
                   17: "https://t.bilibili.com/{oid}"}


def _bilibili_post(reply: dict, url: str) -> Post:
    page = _BILIBILI_PAGES.get(reply.get("type"), url.split("#")[0]).format(oid=reply.get("oid"))
    published, _ = _date(reply.get("ctime"), CST)
    parent = reply.get("parent") or reply.get("root")
    return Post(post_id=f"bilibili:{reply['rpid']}", url=f"{page}#reply{reply['rpid']}",
                author=(reply.get("member") or {}).get("uname"), title=None,
                text=(reply.get("content") or {}).get("message"), published_at=published, thread=str(reply.get("oid")),
                votes=reply.get("like"), parent_id=f"bilibili:{parent}" if parent else None,
                author_id=str(reply["mid"]) if reply.get("mid") else None)


def bilibili(data: dict, url: str) -> Page:
    if data.get("code") != 0:
        raise PlatformRefused(f"Bilibili answered code {data.get('code')}: {data.get('message')}")
    answer = data.get("data") or {}
    posts, seen, pending = [], set(), list(answer.get("replies") or [])
    pending.reverse()
    while pending:
        reply = pending.pop()
        if not isinstance(reply, dict) or reply.get("rpid") is None or reply["rpid"] in seen:
            continue
        seen.add(reply["rpid"])
        posts.append(_bilibili_post(reply, url))
        pending.extend(reversed(reply.get("replies") or []))
    cursor, page = answer.get("cursor"), answer.get("page")
    next_url = None
    if isinstance(cursor, dict) and not cursor.get("is_end") and posts:
        next_url = _with_query(url, next=cursor.get("next"))
    elif isinstance(page, dict) and posts and page.get("num", 1) * page.get("size", 20) < page.get("count", 0):
        next_url = _with_query(url, pn=page.get("num", 1) + 1)
    query = _query(url)  # by time: sort=0 in page mode (the default), mode=2 in cursor mode
    return Page(posts, next_url, query.get("mode") == "2" if "mode" in query else query.get("sort", "0") == "0")


# m.weibo.cn: a user's statuses (container/getIndex), one status (statuses/show), comments
# (api/comments/show, paged; comments/hotflow, with max_id). {"ok": -100} sends a visitor to the login page.
def _weibo_user(item: dict) -> tuple[str | None, str | None]:
    user = item.get("user") or {}
    return user.get("screen_name"), str(user["id"]) if user.get("id") else None


def _weibo_status(status: dict, fetched: datetime) -> Post:
    author, author_id = _weibo_user(status)
    published, _ = _date(status.get("created_at"), CST, fetched)
    return Post(post_id=f"weibo:{status['id']}", url=f"https://m.weibo.cn/status/{status.get('bid') or status['id']}",
                author=author, title=None, text=html_to_text(status.get("longText", {}).get("longTextContent")
                                                             or status.get("text")),
                published_at=published, thread=str(status["id"]), votes=status.get("attitudes_count"),
                author_id=author_id)


def _weibo_comment(comment: dict, status_id: str, fetched: datetime, parent: str | None = None) -> Post:
    author, author_id = _weibo_user(comment)
    published, _ = _date(comment.get("created_at"), CST, fetched)
    return Post(post_id=f"weibo:{comment['id']}", url=f"https://m.weibo.cn/detail/{status_id}#comment{comment['id']}",
                author=author, title=None, text=html_to_text(comment.get("text")), published_at=published,
                thread=status_id, votes=comment.get("like_count", comment.get("like_counts")),
                parent_id=parent, author_id=author_id)


def weibo(data: dict, url: str) -> Page:
    if data.get("ok") not in (0, 1):
        raise PlatformRefused(f"Weibo answered ok={data.get('ok')} (a login is needed: {data.get('url') or 'no url'})")
    fetched = datetime.now(timezone.utc)
    answer = data.get("data") or {}
    path, query = urlsplit(url).path, _query(url)
    if data.get("ok") == 0 or not isinstance(answer, dict):  # "这里还没有内容": nothing (more) here
        return Page([], None, True)
    if "cards" in answer:
        statuses = [card["mblog"] for card in answer["cards"] if isinstance(card, dict) and card.get("mblog")]
        posts = [_weibo_status(status, fetched) for status in statuses if status.get("id")]
        info = answer.get("cardlistInfo") or {}
        follow = {"since_id": info["since_id"]} if info.get("since_id") else {"page": info["page"]} \
            if info.get("page") else None
        return Page(posts, _with_query(url, **follow) if follow and posts else None, True)
    if path.endswith(("/comments/show", "/comments/hotflow")):
        status_id = query.get("id") or query.get("mid") or ""
        posts = []
        for comment in answer.get("data") or []:
            if not isinstance(comment, dict) or not comment.get("id"):
                continue
            posts.append(_weibo_comment(comment, status_id, fetched))
            posts += [_weibo_comment(reply, status_id, fetched, f"weibo:{comment['id']}")
                      for reply in comment.get("comments") or [] if isinstance(reply, dict) and reply.get("id")]
        if path.endswith("/hotflow"):
            max_id = answer.get("max_id")
            return Page(posts, _with_query(url, max_id=max_id, max_id_type=answer.get("max_id_type", 0))
                        if max_id and posts else None, False)
        page = _int(query.get("page")) or 1
        return Page(posts, _with_query(url, page=page + 1) if posts and page < (answer.get("max") or 0) else None,
                    True)
    if answer.get("id") and answer.get("user"):  # statuses/show
        return Page([_weibo_status(answer, fetched)], None, False)
    return Page([], None, False)  # statuses/extend and the like hold no post of their own


# Xiaohongshu (小红书) web API: /api/sns/web/v2/comment/page?note_id=... and /comment/sub/page (replies).
def _xhs_comment(comment: dict, parent: str | None) -> Post:
    user = comment.get("user_info") or {}
    published, _ = _date(comment.get("create_time"), CST)
    note = comment.get("note_id") or ""
    return Post(post_id=f"xhs:{comment['id']}",
                url=f"https://www.xiaohongshu.com/explore/{note}#comment-{comment['id']}",
                author=user.get("nickname"), title=None, text=comment.get("content"), published_at=published,
                thread=note, votes=_int(comment.get("like_count")), parent_id=parent, author_id=user.get("user_id"))


def xiaohongshu(data: dict, url: str) -> Page:
    if data.get("code") != 0 or data.get("success") is False:
        raise PlatformRefused(f"Xiaohongshu answered code {data.get('code')}: {data.get('msg')}")
    answer = data.get("data") or {}
    root = _query(url).get("root_comment_id")
    posts = []
    for comment in answer.get("comments") or []:
        if not isinstance(comment, dict) or not comment.get("id"):
            continue
        target = (comment.get("target_comment") or {}).get("id") or root
        posts.append(_xhs_comment(comment, f"xhs:{target}" if target else None))
        posts += [_xhs_comment(reply, f"xhs:{comment['id']}") for reply in comment.get("sub_comments") or []
                  if isinstance(reply, dict) and reply.get("id")]
    next_url = _with_query(url, cursor=answer["cursor"]) if answer.get("has_more") and answer.get("cursor") else None
    return Page(posts, next_url, False)


# Taobao's h5 API (mtop.wdetail.getitemrates): rateType 1/0/-1 is a good/neutral/bad rating, no stars.
# Its URLs are signed for one request: kuchikomi reads the page it is given and does not sign others.
TAOBAO_RATE_TYPES = {"1": 1.0, "0": 0.0, "-1": -1.0}


def taobao(data: dict, url: str) -> Page:
    status = (data.get("ret") or ["no ret"])[0]
    if not str(status).startswith("SUCCESS"):
        raise PlatformRefused(f"Taobao answered {status}")
    posts = []
    for rate in (data.get("data") or {}).get("rateList") or []:
        if not isinstance(rate, dict) or not rate.get("id"):
            continue
        verdict = TAOBAO_RATE_TYPES.get(str(rate.get("rateType")))
        rating = None if verdict is None else {"value": verdict, "best": 1.0, "worst": -1.0,
                                               "normalized": (verdict + 1) / 2}
        published, precision = _date(rate.get("feedbackDate"), CST)
        item = rate.get("auctionNumId") or ""
        posts.append(Post(post_id=f"taobao:{rate['id']}",
                          url=f"https://item.taobao.com/item.htm?id={item}#rate{rate['id']}",
                          author=rate.get("userNick"), title=None, text=rate.get("feedback"), published_at=published,
                          thread=str(item), rating=rating, kind="review", date_precision=precision))
    return Page(posts, None, False)
