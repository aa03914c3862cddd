"""Spider for any page that carries schema.org Review/AggregateRating markup, or forum posts
(DiscussionForumPosting, Comment, Answer), or reviews a site profile describes."""
from __future__ import annotations

from datetime import datetime, timezone
from urllib.parse import urlsplit

import scrapy
from scrapy.http import HtmlResponse, Response
from w3lib.url import canonicalize_url

from crawlers.extraction.dates import to_iso8601
from crawlers.extraction.site_profile import load_profile
from crawlers.extraction.structured_data import (extract_graph, iter_posts, iter_reviews, own_aggregate, post_text,
                                                 rating_of, text_of, votes_of)
from crawlers.items import ReviewItem
from crawlers.spiders import declared_language, url_list

# Links a site uses for "next page"; kept as data so new layouts need no code.
PAGINATION_XPATHS = [
    "//link[@rel='next']/@href",
    "//a[@rel='next']/@href",
    "//a[contains(concat(' ', normalize-space(@class), ' '), ' next ')]/@href",
    "//*[contains(@class, 'pagination')]//a[@aria-label='Next' or @aria-label='next']/@href",
]


class ReviewsSpider(scrapy.Spider):
    name = "reviews"

    def __init__(self, start_urls=None, source: str = "default", follow_pagination: bool = True,
                 max_pages: int | None = None, profile: str | None = None, render: bool = False,
                 render_wait_for: str | None = None, **kwargs):
        super().__init__(**kwargs)
        # Rendered in Chromium by scrapy-playwright (its download handler, set up by the crawl runner).
        self.request_meta = {"playwright": True} if render else {}
        if render_wait_for:
            from scrapy_playwright.page import PageMethod
            self.request_meta["playwright_page_methods"] = [PageMethod("wait_for_selector", render_wait_for)]
        self.profile = load_profile(profile) if profile else None
        self.start_urls = url_list(start_urls)
        self.source = source
        self.follow_pagination = follow_pagination
        self.max_pages = int(max_pages) if max_pages else None
        self.pages_seen = 0

    async def start(self):
        for url in self.start_urls:
            yield scrapy.Request(url, callback=self.parse, meta=dict(self.request_meta))

    def parse(self, response: Response):
        if not isinstance(response, HtmlResponse):
            self.crawler.stats.inc_value("kuchikomi/skipped/not_html")
            self.logger.warning("skipped %s: not an HTML page (%s)", response.url,
                                response.headers.get("Content-Type", b"").decode(errors="replace"))
            return
        self.pages_seen += 1
        self.crawler.stats.inc_value("kuchikomi/pages")
        if "cached" in response.flags:
            # Unchanged since the last crawl (304 or a stored copy): its reviews are indexed already.
            self.crawler.stats.inc_value("kuchikomi/pages_unchanged")
        else:
            nodes = extract_graph(response.text, response.url, response.selector.root, self.crawler.stats)
            items = list(profile_reviews(response, self.profile, self.source, nodes)) if self.profile \
                else structured_items(response, self.source, nodes)
            if not items:
                self.crawler.stats.inc_value("kuchikomi/pages_without_reviews")
            yield from items
        if self.follow_pagination and (self.max_pages is None or self.pages_seen < self.max_pages):
            profile_next = self.profile.next_page(response.text, response.url) if self.profile else None
            for url in dict.fromkeys(([profile_next] if profile_next else []) + next_page_urls(response)):
                yield response.follow(url, callback=self.parse, meta=dict(self.request_meta))


def next_page_urls(response: HtmlResponse) -> list[str]:
    urls = []
    for xpath in PAGINATION_XPATHS:
        for href in response.xpath(xpath).getall():
            absolute = response.urljoin(href.strip())
            if absolute not in urls and canonicalize_url(absolute) != canonicalize_url(response.url):
                urls.append(absolute)
    return urls


def profile_reviews(response: HtmlResponse, profile, source: str = "default", nodes: list[dict] | None = None):
    """The reviews a site profile finds, with the page's own schema.org aggregate when it has one."""
    nodes = extract_graph(response.text, response.url) if nodes is None else nodes
    aggregate = own_aggregate(None, nodes)
    for item in profile.reviews(response.text, response.url, source):
        item["aggregate_rating"] = aggregate
        item["page_language"] = declared_language(response)
        yield item


def structured_items(response: HtmlResponse, source: str = "default", nodes: list[dict] | None = None,
                     stats=None) -> list[ReviewItem]:
    """The page's schema.org reviews; on a page without any, its forum posts, comments or answers.
    `stats` counts the page's broken markup blocks (when its `nodes` are not given already read)."""
    if nodes is None:
        nodes = extract_graph(response.text, response.url, response.selector.root, stats)
    return list(reviews_from_response(response, source, nodes)) or list(posts_from_response(response, source, nodes))


def reviews_from_response(response: HtmlResponse, source: str = "default", nodes: list[dict] | None = None):
    """One ReviewItem per schema.org Review on the page."""
    nodes = extract_graph(response.text, response.url) if nodes is None else nodes
    page_language = declared_language(response)
    fetched = datetime.now(timezone.utc)
    fetched_at = fetched.isoformat(timespec="milliseconds")
    site = urlsplit(response.url).hostname
    aggregates: dict[int, dict | None] = {}  # per reviewed entity: a product's reviews share it
    for review, entity in iter_reviews(nodes):
        if id(entity) not in aggregates:
            aggregates[id(entity)] = own_aggregate(entity, nodes)
        review_id = text_of(review.get("@id")) or text_of(review.get("identifier"))
        review_url = text_of(review.get("url"))
        if review_url:
            review_url = response.urljoin(review_url)
        elif review_id and review_id.startswith("#"):
            review_url = response.urljoin(review_id)
        elif review_id and review_id.startswith("http"):
            review_url = review_id
        yield ReviewItem(
            kind="review",
            source=source,
            source_url=response.url,
            review_url=review_url,
            review_id=review_id,
            site=site,
            author=text_of(review.get("author")),
            rating=rating_of(review.get("reviewRating")),
            title=text_of(review.get("name")) or text_of(review.get("headline")),
            body=text_of(review.get("reviewBody")) or text_of(review.get("description"))
            or text_of(review.get("text")),
            published_at=to_iso8601(text_of(review.get("datePublished"))
                                    or text_of(review.get("dateCreated")), relative_to=fetched),
            page_language=text_of(review.get("inLanguage")) or
            (text_of(entity.get("inLanguage")) if entity else None) or page_language,
            item_name=text_of(entity.get("name")) if entity else None,
            aggregate_rating=dict(aggregates[id(entity)]) if aggregates[id(entity)] else None,
            fetched_at=fetched_at,
        )


def posts_from_response(response: HtmlResponse, source: str = "default", nodes: list[dict] | None = None):
    """One post per schema.org forum posting, comment or answer on the page, titled with its thread."""
    nodes = extract_graph(response.text, response.url) if nodes is None else nodes
    fetched = datetime.now(timezone.utc)
    page_language = declared_language(response)
    for post, thread in iter_posts(nodes):
        # A thread's position ("#3") keeps a post one document when its text is edited.
        post_id = text_of(post.get("identifier")) or text_of(post.get("@id")) or text_of(post.get("position"))
        post_url = text_of(post.get("url"))
        yield ReviewItem(
            kind="post", source=source, source_url=response.url,
            review_url=response.urljoin(post_url) if post_url else None, review_id=post_id,
            site=urlsplit(response.url).hostname, author=text_of(post.get("author")),
            title=text_of(post.get("headline")) or text_of(post.get("name"))
            or (text_of(thread.get("headline")) or text_of(thread.get("name")) if thread else None),
            body=post_text(post),
            published_at=to_iso8601(text_of(post.get("datePublished")) or text_of(post.get("dateCreated")),
                                    relative_to=fetched),
            page_language=text_of(post.get("inLanguage")) or page_language, votes=votes_of(post),
            fetched_at=fetched.isoformat(timespec="milliseconds"))
