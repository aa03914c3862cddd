"""Spider for forum and Q&A APIs (Discourse, Hacker News, Stack Exchange, Reddit, Zhihu): each post is an item.

Paging goes on until the API has no more pages, `max_pages` is reached, or — for listings that run
newest first — a page holds only posts the index already has (what a previous crawl collected).
"""
from __future__ import annotations

import json
from datetime import datetime, timezone
from urllib.parse import urlsplit

import scrapy

from crawlers.extraction.forum_posts import READERS
from crawlers.items import ReviewItem
from crawlers.seen import SeenReviews
from crawlers.spiders import url_list
from pipelines.dedup import document_id


class ForumSpider(scrapy.Spider):
    name = "forum"

    def __init__(self, start_urls=None, source: str = "default", platform: str = "discourse",
                 max_pages: int | None = None, **kwargs):
        kwargs.pop("follow_pagination", None)
        super().__init__(**kwargs)
        if platform not in READERS:
            raise ValueError(f"platform {platform!r}: use one of {', '.join(READERS)}")
        self.start_urls = url_list(start_urls)
        self.source = source
        self.read = READERS[platform]
        self.max_pages = int(max_pages) if max_pages else None
        self.seen_in_crawl: set[str] = set()
        self.index = None

    @classmethod
    def from_crawler(cls, crawler, *args, **kwargs):
        spider = super().from_crawler(crawler, *args, **kwargs)
        spider.index = SeenReviews.from_settings(crawler.settings)
        return spider

    async def start(self):
        for url in self.start_urls:
            yield scrapy.Request(url, callback=self.parse, cb_kwargs={"page": 1},
                                 headers={"Accept": "application/json"})

    def parse(self, response, page: int = 1):
        stats = self.crawler.stats
        stats.inc_value("kuchikomi/pages")
        if "cached" in response.flags:
            stats.inc_value("kuchikomi/pages_unchanged")
            return
        try:
            data = json.loads(response.text)
        except ValueError:
            stats.inc_value("kuchikomi/skipped/not_json")
            self.logger.warning("skipped %s: not a JSON reply", response.url)
            return
        if not isinstance(data, (dict, list)):
            stats.inc_value("kuchikomi/skipped/unexpected_json")
            return
        try:
            page_read = self.read(data, response.url)
        except (AttributeError, KeyError, TypeError, ValueError) as exc:  # a reply of another shape than the API's
            stats.inc_value("kuchikomi/skipped/unexpected_json")
            self.logger.warning("skipped %s: not a reply this platform's reader knows (%r)", response.url, exc)
            return
        fetched_at = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
        items = [ReviewItem(kind="post", source=self.source, source_url=post.url, review_url=post.url,
                            review_id=post.post_id, site=urlsplit(post.url).hostname, author=post.author,
                            title=post.title, body=post.text, published_at=post.published_at,
                            votes=post.votes, fetched_at=fetched_at) for post in page_read.posts]
        new = [item for item in items if item["review_id"] not in self.seen_in_crawl]
        self.seen_in_crawl.update(item["review_id"] for item in items)
        yield from new
        if not page_read.next_url or not new or (self.max_pages and page >= self.max_pages):
            return
        if page_read.newest_first and self.index is not None and \
                self.index.all_known([document_id(item) for item in new]):
            stats.inc_value("kuchikomi/paging_stopped_at_known")
            return
        yield response.follow(page_read.next_url, callback=self.parse, cb_kwargs={"page": page + 1},
                              headers={"Accept": "application/json"})
