"""Scrapy's HTTP redirects, with the ones that lead nowhere counted and logged: a chain longer than
REDIRECT_MAX_TIMES, and a redirect to a page this crawl has already fetched (a loop, or a second
address of the same page, which the duplicate filter drops)."""
from __future__ import annotations

import logging

from scrapy import signals
from scrapy.downloadermiddlewares.redirect import RedirectMiddleware
from scrapy.exceptions import IgnoreRequest

logger = logging.getLogger(__name__)


class CountedRedirectMiddleware(RedirectMiddleware):
    @classmethod
    def from_crawler(cls, crawler):
        middleware = super().from_crawler(crawler)
        crawler.signals.connect(middleware.request_dropped, signal=signals.request_dropped)
        return middleware

    def _redirect(self, redirected, request, reason):
        try:
            return super()._redirect(redirected, request, reason)
        except IgnoreRequest:
            self.crawler.stats.inc_value("kuchikomi/skipped/too_many_redirects")
            chain = [*request.meta.get("redirect_urls", []), request.url, redirected.url]
            logger.warning("skipped %s: more than %d redirects (%s)", chain[0], self.max_redirect_times,
                           " -> ".join(chain))
            raise

    def request_dropped(self, request, spider=None):
        if request.meta.get("redirect_urls"):
            self.crawler.stats.inc_value("kuchikomi/skipped/redirect_to_known_page")
            logger.info("skipped %s: redirected to %s, a page this crawl already has",
                        request.meta["redirect_urls"][0], request.url)
