"""Validate the spider's items and bring their fields to one form."""
from __future__ import annotations

import math
import re
import unicodedata

from itemadapter import ItemAdapter
from scrapy.exceptions import DropItem

from index.storage.schema import keyword_limits

TEXT_FIELDS = ("author", "title", "body", "item_name", "review_id", "page_language")
# Half of a surrogate pair, as a page's JSON-LD can escape it ("\ud83d" without its other half):
# no encoder writes it as UTF-8, so it becomes U+FFFD rather than failing the review's indexing.
LONE_SURROGATE = re.compile(r"[\ud800-\udfff]")
# A 40 KB author or review URL would make Elasticsearch refuse the whole review; cut to the mapping's bound instead.
KEYWORD_LIMITS = keyword_limits()
RATING_NUMBERS = ("value", "best", "worst", "normalized")


def finite_rating(rating: dict) -> bool:
    """No Infinity or NaN in it: `ratingValue: Infinity` would otherwise read as five stars."""
    return all(math.isfinite(rating[key]) for key in RATING_NUMBERS if rating.get(key) is not None)


def drop(stats, reason: str, item) -> DropItem:
    if stats is not None:
        stats.inc_value(f"kuchikomi/dropped/{reason.split(':')[0].replace(' ', '_')}")
    return DropItem(f"{reason} ({ItemAdapter(item).get('source_url')})")


class NormalisePipeline:
    def __init__(self, stats=None):
        self.stats = stats

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler.stats)

    def process_item(self, item):
        adapter = ItemAdapter(item)
        for name in TEXT_FIELDS:
            value = adapter.get(name)
            if value is not None:
                value = unicodedata.normalize("NFC", LONE_SURROGATE.sub("\ufffd", str(value))).strip()
                adapter[name] = value or None
        for name, limit in KEYWORD_LIMITS.items():
            value = adapter.get(name)
            if isinstance(value, str) and len(value) > limit:
                adapter[name] = value[:limit]
                if self.stats is not None:
                    self.stats.inc_value(f"kuchikomi/truncated/{name}")
        if not adapter.get("source_url"):
            raise drop(self.stats, "no source url", item)
        if not (adapter.get("body") or adapter.get("title")):
            raise drop(self.stats, "no text", item)
        for name in ("rating", "aggregate_rating"):
            if adapter.get(name) and not finite_rating(adapter[name]):
                if self.stats is not None:
                    self.stats.inc_value("kuchikomi/skipped/non_finite_rating")
                adapter[name] = None  # the review stays, without the rating
        for name in ("rating", "aggregate_rating"):
            rating = adapter.get(name)
            if rating and (rating.get("normalized") is None or not 0 <= rating["normalized"] <= 1):
                if self.stats is not None:
                    self.stats.inc_value(f"kuchikomi/invalid_{name}")
                adapter[name] = None
        return item
