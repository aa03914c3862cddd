"""Gather items that arrive together into one blocking call on a worker thread.

Scrapy hands a page's items to the pipelines concurrently; batching them lets the sentiment
model and the bulk writer work on many at once without blocking the crawl's event loop.
"""
from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable


class MicroBatcher:
    def __init__(self, process_batch: Callable[[list], list], max_size: int, max_wait: float,
                 name: str, workers: int = 1):
        self.process_batch = process_batch
        self.max_size = max_size
        self.max_wait = max_wait
        self.pending: list[tuple[Any, asyncio.Future]] = []
        self.running: set[asyncio.Future] = set()
        self.timer: asyncio.TimerHandle | None = None
        # One worker by default: batches run in order, and a model is never driven from two threads.
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name)

    async def submit(self, value: Any) -> Any:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self.pending.append((value, future))
        if len(self.pending) >= self.max_size:
            self._flush()
        elif self.timer is None:
            self.timer = loop.call_later(self.max_wait, self._flush)
        return await future

    def _flush(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if not self.pending:
            return
        batch, self.pending = self.pending, []
        task = asyncio.ensure_future(self._run(batch))
        self.running.add(task)
        task.add_done_callback(self.running.discard)

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
        self._flush()
        if self.running:
            await asyncio.gather(*self.running, return_exceptions=True)
        self.executor.shutdown(wait=True)
