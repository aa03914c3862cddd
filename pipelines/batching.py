"""Gather items that arrive together into one blocking call on a worker thread.

Scrapy hands a page's items to the pipelines concurrently; batching them lets the sentiment
model and the bulk writer work on many at once without blocking the crawl's event loop.
Group commit: a batch starts as soon as a worker is free, taking every item submitted so far (those
of the same event-loop turn go together); while all workers are busy, items wait and the next batch
takes them, up to max_size. So a quiet crawl waits for nothing and a busy one gets big batches.
"""
from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable


class MicroBatcher:
    def __init__(self, process_batch: Callable[[list], list], max_size: int, name: str, workers: int = 1):
        self.process_batch = process_batch
        self.max_size = max_size
        self.workers = workers
        self.pending: list[tuple[Any, asyncio.Future]] = []
        self.running: set[asyncio.Future] = set()
        self.scheduled = False
        # One worker by default: batches run in order, and a model is never driven from two threads.
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name)

    async def submit(self, value: Any) -> Any:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self.pending.append((value, future))
        if not self.scheduled:
            self.scheduled = True
            loop.call_soon(self._dispatch)  # after the other items of this turn have joined
        return await future

    def _dispatch(self) -> None:
        self.scheduled = False
        while self.pending and len(self.running) < self.workers:
            batch, self.pending = self.pending[:self.max_size], self.pending[self.max_size:]
            task = asyncio.ensure_future(self._run(batch))
            self.running.add(task)
            task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Future) -> None:
        self.running.discard(task)
        if self.pending:
            self._dispatch()

    async def _run(self, batch: list[tuple[Any, asyncio.Future]]) -> None:
        loop = asyncio.get_running_loop()
        try:
            results = await loop.run_in_executor(self.executor, self.process_batch,
                                                 [value for value, _ in batch])
        except Exception as exc:
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, future), result in zip(batch, results):
            if not future.done():
                future.set_result(result)

    async def close(self) -> None:
        while self.pending or self.running:
            self._dispatch()
            if self.running:
                await asyncio.gather(*list(self.running), return_exceptions=True)
        self.executor.shutdown(wait=True)
