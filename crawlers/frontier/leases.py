"""Releasing a page's lease in the Redis frontier once the page and every item from it have left the pipelines.

The bookkeeping is the job journal's (a page is finished when its callback has run to the end and each item
it yielded was scraped, dropped or failed); here a finished page ends its lease instead of writing a line.
"""
from __future__ import annotations

from typing import Any, AsyncIterator

from scrapy import Request, signals

from crawlers.middlewares.job_journal import JOB_KEY as LEASE_KEY, JobJournalMiddleware


class LeaseMiddleware(JobJournalMiddleware):
    @classmethod
    def from_crawler(cls, crawler):
        middleware = cls(crawler, directory=None)
        for signal in (signals.item_scraped, signals.item_dropped, signals.item_error):
            crawler.signals.connect(middleware.item_finished, signal=signal)
        return middleware

    async def process_start(self, start: AsyncIterator[Any]) -> AsyncIterator[Any]:
        async for output in start:
            yield output  # into the shared queue: the shared seen set drops the other workers' copies

    def _journal(self, request: Request, start: bool = False) -> Request:
        # A new page: a lease of its own (the scheduler gives it one), not the one whose meta it copied.
        request.meta.pop(LEASE_KEY, None)
        return request

    def _finish_if_complete(self, key: str) -> None:
        if key in self.callbacks_done and not self.items_open.get(key):
            self.callbacks_done.discard(key)
            self.items_open.pop(key, None)
            self.crawler.engine.scheduler.release(key)
