"""The crawl's garbage-collection tuning: on while crawls run, undone when the last one stops."""
import gc

import pytest
from scrapy.exceptions import NotConfigured
from scrapy.utils.test import get_crawler

from crawlers.extensions.garbage_collection import GarbageCollectionTuning


def tuning(threshold: int) -> GarbageCollectionTuning:
    return GarbageCollectionTuning.from_crawler(get_crawler(settings_dict={"KUCHIKOMI_GC_THRESHOLD": threshold}))


def test_two_crawls_of_one_process_tune_the_collector_once_and_restore_it_after_the_last():
    before = gc.get_threshold()
    first, second = tuning(50000), tuning(50000)
    first.engine_started()
    try:
        assert gc.get_threshold()[0] == 50000
        assert gc.get_freeze_count() > 1000  # what was loaded before the crawl is never walked again
        second.engine_started()
        first.engine_stopped()
        assert gc.get_threshold()[0] == 50000  # the second crawl still runs
    finally:
        second.engine_stopped()
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0  # a `crawl --loop` process does not pile up frozen objects


def test_no_threshold_switches_it_off():
    with pytest.raises(NotConfigured):
        tuning(0)
