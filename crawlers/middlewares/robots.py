"""Scrapy's robots.txt rules, with every page they forbid counted and logged with its URL
(Scrapy itself logs them only at DEBUG)."""
from __future__ import annotations

import logging

from scrapy.downloadermiddlewares.robotstxt import RobotsTxtMiddleware
from scrapy.exceptions import IgnoreRequest

logger = logging.getLogger(__name__)


class CountedRobotsTxtMiddleware(RobotsTxtMiddleware):
    def process_request_2(self, rp, request) -> None:
        try:
            super().process_request_2(rp, request)
        except IgnoreRequest:
            self.crawler.stats.inc_value("kuchikomi/skipped/robots_txt")
            logger.info("skipped %s: forbidden by robots.txt", request.url)
            raise
