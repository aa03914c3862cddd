"""Spider for sites that list their pages in sitemaps (indexes, gzipped, robots.txt `Sitemap:` lines).

Each listed page is read like the reviews spider reads one; a page without review markup becomes a
post of its main text. Pages whose `lastmod` is older than the start of the source's last complete
crawl are not fetched again.
"""
from __future__ import annotations

from datetime import datetime, timezone
from urllib.parse import urlsplit

from scrapy.http import HtmlResponse
from scrapy.spiders import SitemapSpider

from crawlers import source_state
from crawlers.extraction.dates import to_iso8601
from crawlers.extraction.main_text import main_text
from crawlers.items import ReviewItem
from crawlers.spiders import declared_language, url_list
from crawlers.spiders.reviews import structured_items


class SitemapReviewsSpider(SitemapSpider):
    name = "sitemap"

    def __init__(self, start_urls=None, source: str = "default", **kwargs):
        kwargs.pop("follow_pagination", None)
        kwargs.pop("max_pages", None)
        super().__init__(**kwargs)
        self.sitemap_urls = url_list(start_urls)
        self.source = source
        self.started_at = datetime.now(timezone.utc)
        last = source_state.load(source).get("last_complete_crawl")
        self.changed_since = datetime.fromisoformat(last) if last else None

    def sitemap_filter(self, entries):
        for entry in entries:
            if self.changed_since and entry.get("lastmod"):
                modified = _instant(entry["lastmod"])
                if modified is not None and modified < self.changed_since:
                    self.crawler.stats.inc_value("kuchikomi/sitemap/unchanged")
                    continue
            yield entry

    def parse(self, response):
        self.crawler.stats.inc_value("kuchikomi/pages")
        if "cached" in response.flags:
            self.crawler.stats.inc_value("kuchikomi/pages_unchanged")
            return
        if not isinstance(response, HtmlResponse):
            self.crawler.stats.inc_value("kuchikomi/skipped/not_html")
            return
        items = structured_items(response, self.source, stats=self.crawler.stats)
        if items:
            yield from items
            return
        # No review or post markup: an article, kept as its main text.
        post = post_from_page(response, self.source)
        if post is None:
            self.crawler.stats.inc_value("kuchikomi/pages_without_text")
        else:
            yield post

    def closed(self, reason):
        if reason == "finished":
            source_state.save(self.source, last_complete_crawl=self.started_at.isoformat())


def post_from_page(response: HtmlResponse, source: str) -> ReviewItem | None:
    fetched = datetime.now(timezone.utc)
    found = main_text(response.text, response.url)
    if not found.text:
        return None
    return ReviewItem(kind="post", source=source, source_url=response.url, site=urlsplit(response.url).hostname,
                      author=found.author, title=found.title, body=found.text,
                      published_at=to_iso8601(found.date, relative_to=fetched),
                      page_language=declared_language(response),
                      fetched_at=fetched.isoformat(timespec="milliseconds"))


def _instant(lastmod: str) -> datetime | None:
    iso = to_iso8601(lastmod)
    if not iso:
        return None
    value = datetime.fromisoformat(iso)
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
