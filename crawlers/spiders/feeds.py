"""Spider for RSS, Atom and JSON Feed sources: each entry is a post."""
from __future__ import annotations

from datetime import datetime, timezone
from urllib.parse import urljoin, urlsplit

import scrapy
from scrapy.http import Response

from crawlers.extraction.feed_entries import parse_feed
from crawlers.items import ReviewItem
from crawlers.spiders import url_list


class FeedSpider(scrapy.Spider):
    name = "feed"

    def __init__(self, start_urls=None, source: str = "default", **kwargs):
        kwargs.pop("follow_pagination", None)
        kwargs.pop("max_pages", None)
        super().__init__(**kwargs)
        self.start_urls = url_list(start_urls)
        self.source = source

    async def start(self):
        for url in self.start_urls:
            yield scrapy.Request(url, callback=self.parse)

    def parse(self, response: Response):
        self.crawler.stats.inc_value("kuchikomi/pages")
        if "cached" in response.flags:
            self.crawler.stats.inc_value("kuchikomi/pages_unchanged")  # the feed has not changed (304)
            return
        content_type = response.headers.get("Content-Type", b"").decode("latin-1") or None
        feed = parse_feed(response.body, content_type, response.url)
        if not feed.entries:
            self.crawler.stats.inc_value("kuchikomi/skipped/not_a_feed" if feed.bozo else "kuchikomi/feeds_empty")
            self.logger.warning("skipped %s: %s", response.url,
                                "not a readable feed" if feed.bozo else "the feed has no entries")
            return
        yield from posts_from_feed(feed, response.url, self.source)


def posts_from_feed(feed, feed_url: str, source: str = "default"):
    fetched_at = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
    for entry in feed.entries:
        link = urljoin(feed_url, entry.link) if entry.link else None
        yield ReviewItem(
            kind="post", source=source, source_url=link or feed_url, review_url=link,
            review_id=entry.entry_id, site=urlsplit(link or feed_url).hostname, author=entry.author,
            title=entry.title, body=entry.text, published_at=entry.published_at, fetched_at=fetched_at)

