from __future__ import annotations

import hashlib

EXCERPT_CHARS = 280

COMMON_PROPERTIES = {
    "name": {"type": "string", "pattern": "^[A-Za-z0-9_.-]+$"},
    "type": {"type": "string"},
    "channels": {"type": "array", "minItems": 1, "items": {"type": "string"}},
}


def alert_id(doc_id: str, rule_name: str) -> str:
    """One alert per (document, rule): the id that makes delivery idempotent."""
    return hashlib.sha1(f"{doc_id}\x1f{rule_name}".encode()).hexdigest()


def excerpt(text: str | None, limit: int = EXCERPT_CHARS) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def alert_payload(rule, item, reason: str, brands: list[str]) -> dict:
    rating = item.get("rating") or {}
    sentiment = item.get("sentiment") or {}
    return {
        "alert_id": alert_id(item["doc_id"], rule.name),
        "rule": rule.name,
        "rule_type": rule.type,
        "channels": list(rule.channels),
        "reason": reason,
        "doc_id": item["doc_id"],
        "brands": brands,
        "site": item.get("site"),
        "url": item.get("review_url") or item.get("source_url"),
        "item_name": item.get("item_name"),
        "author": item.get("author"),
        "title": item.get("title"),
        "excerpt": excerpt(item.get("body")),
        "rating": rating.get("value"),
        "rating_best": rating.get("best"),
        "rating_normalized": rating.get("normalized"),
        "sentiment": sentiment.get("label"),
        "sentiment_score": sentiment.get("score"),
        "language": item.get("language"),
        "published_at": item.get("published_at"),
        "fetched_at": item.get("fetched_at"),
    }
