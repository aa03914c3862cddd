"""Which watched brands a review mentions: case-, width- and kana-insensitive, no spaces needed."""
from __future__ import annotations

from itemadapter import ItemAdapter

from foundations.terms import TermMatcher
from pipelines.sections import required_section

SEARCHED_FIELDS = ("title", "body", "item_name")


class BrandMatchPipeline:
    def __init__(self, brands: list[dict], stats=None):
        self.matcher = TermMatcher(brands)
        self.stats = stats
        self.mentions = 0  # published when the crawl closes: a stats call per item costs more than the count

    @classmethod
    def from_crawler(cls, crawler):
        brands = required_section(crawler.settings, "KUCHIKOMI_BRANDS")
        return cls(brands, crawler.stats)

    def process_item(self, item):
        adapter = ItemAdapter(item)
        text = "\n".join(filter(None, (adapter.get(f) for f in SEARCHED_FIELDS)))
        adapter["brands"], adapter["brand_terms"] = self.matcher.match(text)
        if adapter["brands"]:
            self.mentions += 1
        return item

    def close_spider(self):
        if self.stats is not None and self.mentions:
            self.stats.inc_value("kuchikomi/brand_mentions", self.mentions)
