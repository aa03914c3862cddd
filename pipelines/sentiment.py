"""Sentiment, categories and aspects for each review, classified in batches on a worker thread; team corrections
win."""
from __future__ import annotations

import logging

from elasticsearch.exceptions import TransportError
from itemadapter import ItemAdapter

from foundations.review_text import review_text
from index.storage.client import connect, corrections_index, reviews_alias
from index.storage.schema import ensure_corrections_index
from pipelines.batching import MicroBatcher
from pipelines.sections import required_section
from sentiment.corrections import Corrections, corrected, corrected_categories
from sentiment.model import load_classifier

logger = logging.getLogger(__name__)
# Items gathered per call into the model; the model sorts them by length and runs its own batches.
COLLECT = 32


class SentimentPipeline:
    def __init__(self, classifier, corrections: Corrections | None = None, stats=None):
        self.classifier = classifier
        self.corrections = corrections
        self.stats = stats
        self.batcher = MicroBatcher(self._classify, max_size=COLLECT, name="sentiment")

    @classmethod
    def from_crawler(cls, crawler):
        es_config = required_section(crawler.settings, "KUCHIKOMI_ELASTICSEARCH")
        # One model serves every crawler in the process when the caller loaded it already.
        classifier = (crawler.settings.get("KUCHIKOMI_CLASSIFIER")
                      or load_classifier(crawler.settings.get("KUCHIKOMI_SENTIMENT") or {}))
        corrections = Corrections(connect(es_config, check=False), corrections_index(es_config),
                                  reviews_alias(es_config))
        return cls(classifier, corrections, crawler.stats)

    def open_spider(self):
        try:
            ensure_corrections_index(self.corrections.client, self.corrections.index)
        except TransportError as exc:
            logger.warning("sentiment corrections unavailable, model labels used as they are: %s", exc)

    def _count(self, key: str, n: int = 1) -> None:
        if self.stats is not None and n:
            self.stats.inc_value(f"kuchikomi/sentiment/{key}", n)

    def _overrides(self, doc_ids: list[str]) -> dict[str, dict]:
        try:
            return self.corrections.lookup([doc_id for doc_id in doc_ids if doc_id])
        except TransportError as exc:
            # The model's label still goes out; the review is not held back for want of a correction.
            logger.warning("could not read sentiment corrections for %d reviews: %s", len(doc_ids), exc)
            self._count("corrections_unavailable", len(doc_ids))
            return {}

    def _classify(self, batch: list[tuple[str, str | None]]) -> list[dict]:
        results = self.classifier.classify([text for text, _ in batch])
        overrides = self._overrides([doc_id for _, doc_id in batch]) if self.corrections else {}
        for i, (_, doc_id) in enumerate(batch):
            correction = overrides.get(doc_id) or {}
            if correction.get("label"):
                results[i] = corrected(results[i], correction["label"])
                self._count("corrected")
            if "categories" in correction:
                results[i]["categories"] = corrected_categories(correction["categories"])
                self._count("categories_corrected")
        return results

    async def process_item(self, item):
        adapter = ItemAdapter(item)
        sentiment = await self.batcher.submit((review_text(adapter), adapter.get("doc_id")))
        for field in ("categories", "aspects"):  # the review's own fields, not the model's output
            if field in sentiment:
                adapter[field] = sentiment.pop(field)
        adapter["sentiment"] = sentiment
        self._count(sentiment["label"])
        return item

    async def close_spider(self):
        await self.batcher.close()
