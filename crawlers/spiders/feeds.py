"""Spider for RSS, Atom and JSON Feed sources: each entry is a post. With `follow_articles`, each new entry's
page is fetched and the post holds its main text (trafilatura), not only the feed's summary."""
from __future__ import annotations

from datetime import datetime, timezone
from urllib.parse import urljoin, urlsplit

import scrapy
from scrapy.http import HtmlResponse, Response

from crawlers.extraction.feed_entries import parse_feed
from crawlers.extraction.main_text import main_text
from crawlers.items import ReviewItem
from crawlers.seen import SeenReviews
from crawlers.spiders import url_list
from pipelines.dedup import document_id


class FeedSpider(scrapy.Spider):
    name = "feed"

    def __init__(self, start_urls=None, source: str = "default", follow_articles: bool = False, **kwargs):
        kwargs.pop("follow_pagination", None)
        kwargs.pop("max_pages", None)
        super().__init__(**kwargs)
        self.start_urls = url_list(start_urls)
        self.source = source
        # `scrapy crawl feed -a follow_articles=true` passes a string
        self.follow_articles = str(follow_articles).lower() in ("true", "1", "yes")
        self.index = None

    @classmethod
    def from_crawler(cls, crawler, *args, **kwargs):
        spider = super().from_crawler(crawler, *args, **kwargs)
        spider.index = SeenReviews.from_settings(crawler.settings) if spider.follow_articles else None
        return spider

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
        posts = posts_from_feed(feed, response.url, self.source)
        if not self.follow_articles:
            yield from posts
            return
        for post in posts:
            if not post["review_url"] or self.index is not None and self.index.all_known([document_id(post)]):
                yield post  # no page to read, or stored already: the entry as the feed gives it
            else:
                # A plain dict, so the job journal can keep the request for a resumed crawl.
                yield response.follow(post["review_url"], callback=self.parse_article, cb_kwargs={"entry": dict(post)},
                                      errback=self.article_failed)

    def parse_article(self, response: Response, entry: dict):
        """The entry, with its page's main text as the body (the feed's summary when the page has none)."""
        self.crawler.stats.inc_value("kuchikomi/articles")
        post = ReviewItem(**entry)
        found = main_text(response.text, response.url) if isinstance(response, HtmlResponse) else None
        if found is None or not found.text:
            self.crawler.stats.inc_value("kuchikomi/articles_without_text")
            yield post
            return
        post["body"] = found.text
        post["author"] = post["author"] or found.author
        yield post

    def article_failed(self, failure):
        """The article could not be fetched: the feed's entry is kept as it is."""
        self.crawler.stats.inc_value("kuchikomi/articles_failed")
        self.logger.warning("kept the feed's summary of %s: the article could not be fetched (%s)",
                            failure.request.url, failure.value)
        yield ReviewItem(**failure.request.cb_kwargs["entry"])


def posts_from_feed(feed, feed_url: str, source: str = "default"):
    fetched_at = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
    for entry in feed.entries:
        link = urljoin(feed_url, entry.link) if entry.link else None
        yield ReviewItem(
            kind="post", source=source, source_url=link or feed_url, review_url=link,
            review_id=entry.entry_id, site=urlsplit(link or feed_url).hostname, author=entry.author,
            title=entry.title, body=entry.text, published_at=entry.published_at, fetched_at=fetched_at)

