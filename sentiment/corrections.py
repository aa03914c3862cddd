"""Team corrections of sentiment labels and categories: stored in Elasticsearch, applied as overrides at once.

A correction is keyed by the review's document id, so it holds for every later crawl of the same
review; it keeps the review's text, so `kuchikomi sentiment train` can learn from it. One document
holds both a review's corrected `label` and its corrected `categories` (either may be absent).
"""
from __future__ import annotations

from datetime import datetime

from elasticsearch import Elasticsearch, NotFoundError, helpers

from foundations.review_text import review_text
from sentiment.model import LABELS


class CorrectionError(ValueError):
    pass


def corrected(sentiment: dict, label: str) -> dict:
    """The model's output with a person's label on top; the model's own label is kept beside it."""
    return {**sentiment, "label": label, "score": 1.0, "corrected": True,
            "model_label": sentiment.get("model_label", sentiment.get("label"))}


def corrected_categories(names: list[str]) -> list[dict]:
    """A review's categories as the team set them."""
    return [{"name": name, "score": 1.0, "corrected": True} for name in names]


class Corrections:
    def __init__(self, client: Elasticsearch, index: str, reviews_index: str):
        self.client = client
        self.index = index
        self.reviews_index = reviews_index

    def record(self, doc_id: str, label: str, now: datetime, by: str | None = None,
               note: str | None = None) -> tuple[dict, dict]:
        """Store the correction and relabel the indexed review; (correction, updated review)."""
        if label not in LABELS:
            raise CorrectionError(f"label must be one of {', '.join(LABELS)}, not {label!r}")
        review, index = self._review(doc_id)
        sentiment = review.get("sentiment") or {}
        correction = {
            "doc_id": doc_id, "label": label,
            "model_label": sentiment.get("model_label", sentiment.get("label")),
            "model": sentiment.get("model"), "model_version": sentiment.get("model_version"),
            "language": review.get("language"),
            "text": review_text(review),
            "note": note, "corrected_by": by, "corrected_at": now.isoformat()}
        # An update, not a replacement: a category correction of the same review stays.
        self.client.update(index=self.index, id=doc_id, body={"doc": correction, "doc_as_upsert": True},
                           refresh="wait_for")
        review["sentiment"] = corrected(sentiment, label)
        self.client.update(index=index, id=doc_id, body={"doc": {"sentiment": review["sentiment"]}},
                           refresh="wait_for")
        return correction, review

    def record_categories(self, doc_id: str, add: list[str], remove: list[str], known: list[str], now: datetime,
                          by: str | None = None) -> tuple[list[str], dict]:
        """Add and remove categories of an indexed review, store the set the team vouches for and rewrite the
        review's categories with it; (the categories before, updated review)."""
        unknown = [name for name in add + remove if name not in known]
        if unknown:
            raise CorrectionError(f"{unknown[0]!r} is not a category here (defined: {', '.join(known)})")
        review, index = self._review(doc_id)
        before = [entry["name"] for entry in review.get("categories") or []]
        after = [name for name in before if name not in remove] + \
            [name for name in add if name not in before and name not in remove]
        correction = {"doc_id": doc_id, "categories": after, "model_categories": before,
                      "language": review.get("language"), "text": review_text(review),
                      "categories_corrected_by": by, "categories_corrected_at": now.isoformat()}
        self.client.update(index=self.index, id=doc_id, body={"doc": correction, "doc_as_upsert": True},
                           refresh="wait_for")
        review["categories"] = corrected_categories(after)
        self.client.update(index=index, id=doc_id, body={"doc": {"categories": review["categories"]}},
                           refresh="wait_for")
        return before, review

    def _review(self, doc_id: str) -> tuple[dict, str]:
        try:
            hit = self.client.get(index=self.reviews_index, id=doc_id)
        except NotFoundError:
            raise CorrectionError(f"no review with id {doc_id!r} in {self.reviews_index} "
                                  "(ids are shown by `kuchikomi search --json`)") from None
        return hit["_source"], hit["_index"]

    def lookup(self, doc_ids: list[str]) -> dict[str, dict]:
        """Corrections ({"label", "categories"}, either may be absent) by document id, for the ids that have one."""
        if not doc_ids:
            return {}
        reply = self.client.mget(index=self.index, body={"ids": doc_ids}, _source_includes=["label", "categories"])
        return {doc["_id"]: doc["_source"] for doc in reply["docs"] if doc.get("found")}

    def all(self) -> list[dict]:
        if not self.client.indices.exists(index=self.index):
            return []
        return [hit["_source"] for hit in helpers.scan(self.client, index=self.index,
                                                       query={"query": {"match_all": {}}})]
