"""Retries that honour Retry-After: a 429 or 503 with that header slows the whole site down for as long
as it asks, then the request is tried again. A site asking for more than KUCHIKOMI_RETRY_AFTER_MAX
seconds is not waited for: the page is counted and logged as skipped."""
from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

from scrapy.downloadermiddlewares.retry import RetryMiddleware
from scrapy.utils.response import response_status_message

logger = logging.getLogger(__name__)
HONOURED = (429, 503)


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After value: a number of seconds or an HTTP date; None if unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())


class RetryAfterMiddleware(RetryMiddleware):
    def __init__(self, settings):
        super().__init__(settings)
        self.max_wait = settings.getfloat("KUCHIKOMI_RETRY_AFTER_MAX", 600)

    @classmethod
    def from_crawler(cls, crawler):
        middleware = super().from_crawler(crawler)
        middleware.crawler = crawler
        return middleware

    async def process_response(self, request, response):
        if request.meta.get("dont_retry") or response.status not in HONOURED:
            return super().process_response(request, response)
        wait = retry_after_seconds(response.headers.get("Retry-After", b"").decode("latin-1"))
        stats = self.crawler.stats
        if wait is None:
            return super().process_response(request, response)
        if wait > self.max_wait:
            stats.inc_value("kuchikomi/skipped/retry_after_too_long")
            logger.warning("skipped %s: %d asks to retry after %.0f s (more than KUCHIKOMI_RETRY_AFTER_MAX=%.0f)",
                           request.url, response.status, wait, self.max_wait)
            return response
        stats.inc_value(f"kuchikomi/retry_after/{response.status}")
        self._slow_down(request, wait)
        logger.info("%s answered %d, Retry-After %.1f s: waiting", request.url, response.status, wait)
        await asyncio.sleep(wait)
        return self._retry(request, response_status_message(response.status)) or response

    def _slow_down(self, request, wait: float) -> None:
        """Space this site's requests by the wait it asked for; AutoThrottle relaxes it again later."""
        downloader = self.crawler.engine.downloader
        slot = downloader.slots.get(downloader.get_slot_key(request))
        if slot is not None:
            slot.delay = max(slot.delay, wait)
