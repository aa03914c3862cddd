"""A crawl that survives SIGKILL: a journal of the pages a source's crawl has queued and finished.

Scrapy's JOBDIR marks a request seen when it is scheduled and writes its queue on a clean close,
so a killed crawl loses the pages in flight and their items. Here a page is finished only when its
callback has run to the end and every item it yielded has left the item pipelines (stored in
Elasticsearch or its disk spool). Each line is appended and flushed at once (KUCHIKOMI_HOME/jobs/
<source>.jsonl); the next `kuchikomi crawl` of that source starts from the pages queued but not
finished, fetched afresh. Re-written reviews keep their document ids, so nothing is stored twice.
A crawl that ends normally deletes its journal.
"""
from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any, AsyncIterator, Iterable

from scrapy import Request, signals
from scrapy.exceptions import NotConfigured
from scrapy.utils.request import request_from_dict

logger = logging.getLogger(__name__)
JOB_KEY = "kuchikomi_job"  # request meta: the journal key of the page, kept through redirects and retries


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


def _request_record(request: Request, spider) -> dict:
    data = request.to_dict(spider=spider)
    data["headers"] = {key.decode("latin-1"): [v.decode("latin-1") for v in values]
                       for key, values in data["headers"].items()}
    data["body"] = data["body"].decode("latin-1")
    data["meta"] = {key: value for key, value in data["meta"].items() if _jsonable(value)}
    data.pop("_class", None)
    return data


def _request_from_record(data: dict, spider) -> Request:
    data = {**data, "headers": {key.encode("latin-1"): [v.encode("latin-1") for v in values]
                                for key, values in data["headers"].items()},
            "body": data["body"].encode("latin-1")}
    return request_from_dict(data, spider=spider)


class JobJournalMiddleware:
    def __init__(self, crawler, directory: Path):
        self.crawler = crawler
        self.directory = directory
        self.path: Path | None = None
        self.handle = None
        self.state: dict[str, str] = {}      # key -> "queued" | "done"
        self.pending: list[dict] = []        # queued, not finished, by an interrupted crawl
        self.unfinished_starts: set[str] = set()  # start pages among them (journaled without a request)
        self.resuming = False
        self.items_open: dict[str, int] = {}
        self.callbacks_done: set[str] = set()

    @classmethod
    def from_crawler(cls, crawler):
        directory = crawler.settings.get("KUCHIKOMI_JOBS_DIR")
        if not directory:
            raise NotConfigured("KUCHIKOMI_JOBS_DIR is not set")
        middleware = cls(crawler, Path(directory))
        crawler.signals.connect(middleware.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(middleware.spider_closed, signal=signals.spider_closed)
        for signal in (signals.item_scraped, signals.item_dropped, signals.item_error):
            crawler.signals.connect(middleware.item_finished, signal=signal)
        return middleware

    def spider_opened(self, spider):
        name = re.sub(r"[^\w.-]", "_", getattr(spider, "source", None) or spider.name)
        self.path = self.directory / f"{name}.jsonl"
        if self.path.exists():
            self._read()
            self.resuming = True
        self.directory.mkdir(parents=True, exist_ok=True)
        self.handle = open(self.path, "a", encoding="utf-8")

    def _read(self) -> None:
        queued: dict[str, dict | None] = {}
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue  # a line cut short by the kill
            if "queued" in entry:
                queued.setdefault(entry["queued"], entry.get("request"))
                self.state.setdefault(entry["queued"], "queued")
            elif "done" in entry:
                self.state[entry["done"]] = "done"
        unfinished = {key: request for key, request in queued.items() if self.state[key] == "queued"}
        self.pending = [request for request in unfinished.values() if request is not None]
        # Start pages are journaled by key alone: the start requests bring them again.
        self.unfinished_starts = {key for key, request in unfinished.items() if request is None}

    def _write(self, entry: dict) -> None:
        self.handle.write(json.dumps(entry, ensure_ascii=False) + "\n")
        self.handle.flush()  # in the OS's hands now: a killed process loses none of it

    def spider_closed(self, spider, reason):
        if self.handle is None:
            return
        self.handle.close()
        if reason == "finished":
            self.path.unlink(missing_ok=True)
            return
        left = sum(1 for state in self.state.values() if state == "queued")
        logger.warning("crawl of %s stopped (%s) with %d pages unfinished: the next crawl resumes them",
                       getattr(spider, "source", spider.name), reason, left)

    def _journal(self, request: Request, start: bool = False) -> Request | None:
        """Record a new page; None for a page this job has queued or finished already. A start page
        is recorded by its key alone: a resumed crawl gets its request from the spider's start again."""
        key = self.crawler.request_fingerprinter.fingerprint(request).hex()
        request.meta[JOB_KEY] = key  # before the record, so a resumed request carries it too
        if key in self.unfinished_starts and start:
            self.unfinished_starts.discard(key)
            request.meta["dont_cache"] = True  # as for every resumed page, below
            return request
        if key in self.state:
            return request if request.dont_filter else None
        self.state[key] = "queued"
        self._write({"queued": key} if start else
                    {"queued": key, "request": _request_record(request, self.crawler.spider)})
        return request

    async def process_start(self, start: AsyncIterator[Any]) -> AsyncIterator[Any]:
        if self.resuming:
            resumed = len(self.pending) + len(self.unfinished_starts)
            logger.info("resuming an interrupted crawl of %s: %d pages", self.crawler.spider.source, resumed)
            self.crawler.stats.set_value("kuchikomi/job/resumed_pages", resumed)
            for record in self.pending:
                request = _request_from_record(record, self.crawler.spider)
                # Fetched afresh: a cached copy of a page whose items were lost would read as unchanged.
                request.meta["dont_cache"] = True
                yield request
        # Then the start requests: unfinished ones again, new ones (a crawl killed before Scrapy had
        # taken them all), not those finished already.
        async for output in start:
            if isinstance(output, Request):
                output = self._journal(output, start=True)
            if output is not None:
                yield output

    def _output(self, output: Any, key: str | None) -> Any:
        if isinstance(output, Request):
            return self._journal(output)
        if key is not None:
            self.items_open[key] = self.items_open.get(key, 0) + 1
        return output

    def _callback_finished(self, key: str | None) -> None:
        if key is not None:
            self.callbacks_done.add(key)
            self._finish_if_complete(key)

    def process_spider_output(self, response, result: Iterable[Any]) -> Iterable[Any]:
        key = response.meta.get(JOB_KEY)
        for output in result:
            if (output := self._output(output, key)) is not None:
                yield output
        self._callback_finished(key)

    async def process_spider_output_async(self, response, result: AsyncIterator[Any]) -> AsyncIterator[Any]:
        key = response.meta.get(JOB_KEY)
        async for output in result:
            if (output := self._output(output, key)) is not None:
                yield output
        self._callback_finished(key)

    def item_finished(self, item, response=None, **kwargs):
        key = response.meta.get(JOB_KEY) if response is not None else None
        if key is not None and key in self.items_open:
            self.items_open[key] -= 1
            self._finish_if_complete(key)

    def _finish_if_complete(self, key: str) -> None:
        if key in self.callbacks_done and not self.items_open.get(key) and self.state.get(key) != "done":
            self.state[key] = "done"
            self.callbacks_done.discard(key)
            self.items_open.pop(key, None)
            self._write({"done": key})
