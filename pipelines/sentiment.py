"""Sentiment for each review, classified in batches on a worker thread."""
from __future__ import annotations

from itemadapter import ItemAdapter
from scrapy.exceptions import NotConfigured

from crawlers.config import monitor_from_settings
from pipelines.batching import MicroBatcher
from sentiment.model import load_classifier


def review_text(adapter) -> str:
    return "\n".join(filter(None, [adapter.get("title"), adapter.get("body")]))


class SentimentPipeline:
    def __init__(self, classifier, batch_size: int, stats=None):
        self.classifier = classifier
        self.stats = stats
        self.batcher = MicroBatcher(classifier.classify, max_size=batch_size, max_wait=0.05,
                                    name="sentiment")

    @classmethod
    def from_crawler(cls, crawler):
        monitor = monitor_from_settings(crawler.settings)
        if monitor is None:
            raise NotConfigured("no monitor config (KUCHIKOMI_CONFIG)")
        config = monitor.sentiment
        # One model serves every crawler in the process when the caller loaded it already.
        classifier = crawler.settings.get("KUCHIKOMI_CLASSIFIER") or load_classifier(config)
        return cls(classifier, config.get("batch_size", 32), crawler.stats)

    async def process_item(self, item):
        adapter = ItemAdapter(item)
        adapter["sentiment"] = await self.batcher.submit(review_text(adapter))
        if self.stats is not None:
            self.stats.inc_value(f"kuchikomi/sentiment/{adapter['sentiment']['label']}")
        return item

    async def close_spider(self):
        await self.batcher.close()
