"""Spider for forum, Q&A and platform APIs (Discourse, Hacker News, Stack Exchange, Reddit, Zhihu, 5ch, Hatena,
the App Store, Bilibili, Weibo, Xiaohongshu, Taobao): each post is an item.

Paging goes on until the API has no more pages, `max_pages` is reached, or — for listings that run
newest first — a page holds only posts the index already has (what a previous crawl collected).
A 5ch thread is fetched again from the byte offset the last crawl reached (HTTP Range), so only its new
posts come. A platform that refuses (a login page, 401/403/412, a captcha, a refusal code in its answer)
is one WARNING and a counted skip: kuchikomi uses the headers and cookies the user configured, and
never works around a login, a signature or a captcha.
"""
from __future__ import annotations


import scrapy

from crawlers import source_state
from crawlers.extraction.forum_posts import PlatformRefused
from crawlers.extraction.platforms import PLATFORMS, decode_answer, post_item
from crawlers.seen import SeenReviews
from crawlers.spiders import url_list
from pipelines.dedup import document_id

# Answers that mean "log in first", "too many requests from you" or "prove you are human".
REFUSAL_STATUSES = [401, 403, 412, 461, 471]
_HTML_START = (b"<!doctype html", b"<html", b"<!--", b"<head", b"<body")


class ForumSpider(scrapy.Spider):
    name = "forum"
    handle_httpstatus_list = [*REFUSAL_STATUSES, 206, 416]

    def __init__(self, start_urls=None, source: str = "default", platform: str = "discourse",
                 max_pages: int | None = None, headers: dict | None = None, cookies: dict | None = None,
                 **kwargs):
        kwargs.pop("follow_pagination", None)
        super().__init__(**kwargs)
        if platform not in PLATFORMS:
            raise ValueError(f"platform {platform!r}: use one of {', '.join(PLATFORMS)}")
        self.start_urls = url_list(start_urls)
        self.source = source
        self.platform = PLATFORMS[platform]
        self.max_pages = int(max_pages) if max_pages else None
        # The user's own session for platforms that want one (values may come from ${ENV_VAR}s).
        self.headers = {"Accept": "application/json", **(headers or {})}
        self.cookies = dict(cookies or {})
        self.seen_in_crawl: set[str] = set()
        self.index = None
        self.threads: dict = {}  # 5ch: per .dat URL, the bytes and posts known, and the title

    @classmethod
    def from_crawler(cls, crawler, *args, **kwargs):
        spider = super().from_crawler(crawler, *args, **kwargs)
        spider.index = SeenReviews.from_settings(crawler.settings)
        return spider

    def _request(self, url: str, page: int, headers: dict | None = None, **options) -> scrapy.Request:
        return scrapy.Request(url, callback=self.parse, cb_kwargs={"page": page},
                              headers={**self.headers, **(headers or {})}, cookies=self.cookies, **options)

    async def start(self):
        if self.platform.differential:
            self.threads = source_state.load(self.source).get("threads", {})
        for url in self.start_urls:
            known = self.threads.get(url)
            if self.platform.differential and known:
                # From the last byte known: a thread rewritten since (a post removed) does not start with it.
                yield self._request(url, 1, headers={"Range": f"bytes={known['bytes'] - 1}-",
                                                     "Accept-Encoding": "identity"},
                                    meta={"dont_cache": True})
            else:
                yield self._request(url, 1, meta={"dont_cache": True} if self.platform.differential else {})

    def _refused(self, response, why: str) -> None:
        self.crawler.stats.inc_value("kuchikomi/skipped/platform_refused")
        hint = " (configure your own logged-in session: `headers:` or `cookies:` in the source)" \
            if self.platform.login else ""
        self.logger.warning("%s refused %s: %s%s", self.platform.name, response.url, why, hint)

    def _answer(self, response):
        """What the platform's reader takes; None (counted, logged) when the answer is no such thing."""
        stats = self.crawler.stats
        try:
            data = decode_answer(self.platform, response.body)
        except ValueError:
            if response.body.lstrip()[:14].lower().startswith(_HTML_START):
                self._refused(response, "it answered an HTML page (a login or captcha page), not JSON")
            else:
                stats.inc_value("kuchikomi/skipped/not_json")
                self.logger.warning("skipped %s: not a JSON reply", response.url)
            return None
        if self.platform.answer != "json":
            return data
        if not isinstance(data, (dict, list)):
            stats.inc_value("kuchikomi/skipped/unexpected_json")
            return None
        return data

    def parse(self, response, page: int = 1):
        stats = self.crawler.stats
        stats.inc_value("kuchikomi/pages")
        if response.status in REFUSAL_STATUSES:
            self._refused(response, f"HTTP {response.status}")
            return
        if "cached" in response.flags:
            stats.inc_value("kuchikomi/pages_unchanged")
            return
        if response.status == 416:  # a 5ch thread with nothing past the offset asked for
            stats.inc_value("kuchikomi/pages_unchanged")
            return
        answer = self._answer(response)
        if answer is None:
            return
        url = response.request.url
        if self.platform.differential and response.status == 206 and \
                not (url in self.threads and answer.startswith("\n")):
            # The thread changed under the offset asked from (a post removed): read it whole again.
            self.threads.pop(url, None)
            yield self._request(url, page, meta={"dont_cache": True})
            return
        try:
            if self.platform.differential:
                page_read = self._read_thread(response, answer)
            else:
                page_read = self.platform.read(answer, response.url)
        except PlatformRefused as exc:
            self._refused(response, str(exc))
            return
        except (AttributeError, KeyError, TypeError, ValueError) as exc:  # a reply of another shape than the API's
            stats.inc_value("kuchikomi/skipped/unexpected_json")
            self.logger.warning("skipped %s: not a reply this platform's reader knows (%r)", response.url, exc)
            return
        items = [post_item(post, self.source) for post in page_read.posts]
        new = [item for item in items if item["review_id"] not in self.seen_in_crawl]
        self.seen_in_crawl.update(item["review_id"] for item in items)
        yield from new
        if not page_read.next_url or not new or (self.max_pages and page >= self.max_pages):
            return
        if page_read.newest_first and self.index is not None and \
                self.index.all_known([document_id(item) for item in new]):
            stats.inc_value("kuchikomi/paging_stopped_at_known")
            return
        yield self._request(response.urljoin(page_read.next_url), page + 1)

    def _read_thread(self, response, text: str):
        """A 5ch .dat, whole (200) or from the offset asked for (206), numbered on from the posts known."""
        url = response.request.url
        known = self.threads.get(url) if response.status == 206 else None
        if known:
            text = text[1:]  # the last byte known, asked for again as a check
        page_read = self.platform.read(text, url, first_number=known["posts"] + 1 if known else 1,
                                       title=known and known.get("title"))
        title = page_read.posts[0].title if page_read.posts else known and known.get("title")
        self.threads[url] = {"bytes": (known["bytes"] - 1 if known else 0) + len(response.body),
                             "posts": (known["posts"] if known else 0) + len(text.splitlines()), "title": title}
        return page_read

    def closed(self, reason):
        if self.platform.differential and reason == "finished":
            source_state.save(self.source, threads=self.threads)
