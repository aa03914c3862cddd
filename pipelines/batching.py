"""Gather items that arrive together into one blocking call on a worker thread.

Scrapy hands a page's items to the pipelines concurrently; batching them lets the sentiment
model and the bulk writer work on many at once without blocking the crawl's event loop.
A batch goes as soon as a worker is free and max_size items wait, or the oldest has waited `linger`
seconds, or none has arrived for `quiet` seconds (the crawl paused or ended: waiting longer would
gather nothing). With no linger that is group commit: every item submitted so far (those of the same
event-loop turn go together). A linger trades latency for fewer, bigger batches: Elasticsearch
spends several times more CPU on twenty bulk requests of ten reviews than on one of two hundred,
CPU that a crawl sharing its machine with the node needs itself.
"""
from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable


class MicroBatcher:
    def __init__(self, process_batch: Callable[[list], list], max_size: int, name: str, workers: int = 1,
                 linger: float = 0.0, quiet: float | None = None):
        self.process_batch = process_batch
        self.max_size = max_size
        self.workers = workers
        self.linger = linger
        self.quiet = linger if quiet is None else min(quiet, linger)
        self.last_submitted = 0.0
        # (value, its future, when it was submitted), oldest first.
        self.pending: list[tuple[Any, asyncio.Future, float]] = []
        self.running: set[asyncio.Future] = set()
        self.timer: asyncio.TimerHandle | None = None
        # One worker by default: batches run in order, and a model is never driven from two threads.
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name)

    async def submit(self, value: Any) -> Any:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self.last_submitted = loop.time()
        self.pending.append((value, future, self.last_submitted))
        if len(self.pending) >= self.max_size:
            self._dispatch()
        elif self.timer is None:
            # Even with no linger, after the other items of this turn have joined.
            self.timer = loop.call_later(self.quiet, self._timer_fired)
        return await future

    def _due_in(self, now: float) -> float:
        """Seconds until the waiting items are due (0: now): linger after the oldest, or a quiet spell."""
        return max(0.0, min(self.pending[0][2] + self.linger, self.last_submitted + self.quiet) - now)

    def _timer_fired(self) -> None:
        self.timer = None
        self._dispatch()

    def _dispatch(self, closing: bool = False) -> None:
        loop = asyncio.get_running_loop()
        while self.pending and len(self.running) < self.workers:
            # A timer may fire a hair early (the loop's clock resolution): the batch goes all the same.
            if not (closing or len(self.pending) >= self.max_size or self._due_in(loop.time()) < 1e-3):
                break
            batch, self.pending = self.pending[:self.max_size], self.pending[self.max_size:]
            task = asyncio.ensure_future(self._run(batch))
            self.running.add(task)
            task.add_done_callback(self._finished)
        # While every worker is busy, the next to finish dispatches: no timer needed.
        if self.pending and self.timer is None and len(self.running) < self.workers:
            self.timer = loop.call_later(self._due_in(loop.time()), self._timer_fired)

    def _finished(self, task: asyncio.Future) -> None:
        self.running.discard(task)
        if self.pending:
            self._dispatch()

    async def _run(self, batch: list[tuple[Any, asyncio.Future, float]]) -> None:
        loop = asyncio.get_running_loop()
        try:
            results = await loop.run_in_executor(self.executor, self.process_batch,
                                                 [value for value, _, _ in batch])
        except Exception as exc:
            for _, future, _ in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, future, _), result in zip(batch, results):
            if not future.done():
                future.set_result(result)

    async def close(self) -> None:
        while self.pending or self.running:
            self._dispatch(closing=True)
            if self.running:
                await asyncio.gather(*list(self.running), return_exceptions=True)
        if self.timer is not None:
            self.timer.cancel()
        self.executor.shutdown(wait=True)
