"""Fewer, cheaper garbage collections while a crawl runs.

CPython starts a collection every 700 container allocations, and a crawl makes hundreds per item;
every tenth reaches the middle generation, and from there the oldest, which walks every live
object: queued requests, parsed pages, and all that was loaded at start (models, parsers, Scrapy).
On the crawl benchmark (bench/crawl.py) that was a fifth of the crawl's time. At the engine's start,
what exists is frozen (kept for the life of the process, never walked again), and collections
start every KUCHIKOMI_GC_THRESHOLD allocations; when the last crawl of the process stops, both are
undone. A crawl's garbage cycles (failures, deferreds) wait a little longer to be freed: a few MB.
"""
from __future__ import annotations

import gc

from scrapy import signals
from scrapy.exceptions import NotConfigured


class GarbageCollectionTuning:
    # Crawls of one process (one per source) share the collector: the first to start tunes it,
    # the last to stop restores it.
    running = 0
    previous_threshold: tuple[int, int, int] | None = None

    def __init__(self, threshold: int):
        self.threshold = threshold

    @classmethod
    def from_crawler(cls, crawler):
        threshold = crawler.settings.getint("KUCHIKOMI_GC_THRESHOLD")
        if threshold <= 0:
            raise NotConfigured("KUCHIKOMI_GC_THRESHOLD is not set")
        extension = cls(threshold)
        crawler.signals.connect(extension.engine_started, signal=signals.engine_started)
        crawler.signals.connect(extension.engine_stopped, signal=signals.engine_stopped)
        return extension

    def engine_started(self):
        cls = type(self)
        cls.running += 1
        if cls.running == 1:
            cls.previous_threshold = gc.get_threshold()
            gc.collect()
            gc.freeze()
            gc.set_threshold(self.threshold, *cls.previous_threshold[1:])

    def engine_stopped(self):
        cls = type(self)
        cls.running -= 1
        if cls.running == 0 and cls.previous_threshold is not None:
            gc.set_threshold(*cls.previous_threshold)
            gc.unfreeze()
