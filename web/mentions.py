"""Mentions as the inbox and the mention page show them: an excerpt with the brand marked, the sentences
that drove a negative label, categories, stars, and only http(s) links to the original."""
from __future__ import annotations

from urllib.parse import urlsplit

from elasticsearch import Elasticsearch

from foundations.terms import TermMatcher
from index.research.query import BrandNames
from index.research.search import SHOWN_FIELDS, Filters, build_query

EXCERPT = 220
ARRIVALS = 50


def safe_url(url: object) -> str | None:
    """The URL if it is an http(s) link (javascript:, data: and the like are shown as text only)."""
    if not isinstance(url, str):
        return None
    try:
        scheme = urlsplit(url.strip()).scheme.lower()
    except ValueError:
        return None
    return url.strip() if scheme in ("http", "https") else None


def marked(text: str, matcher: TermMatcher, limit: int | None = EXCERPT) -> list[tuple[str, bool]]:
    """The text (cut to about `limit` characters around the first brand mention) as (piece, is_brand)."""
    spans = matcher.spans(text)
    start, end = 0, len(text)
    if limit and len(text) > limit:
        first = spans[0][0] if spans else 0
        start = max(0, min(first - limit // 4, len(text) - limit))
        end = start + limit
    pieces, position = [], start
    if start:
        pieces.append(("…", False))
    for span_start, span_end, _ in spans:
        if span_start < position or span_end > end:
            continue
        pieces += [(text[position:span_start], False), (text[span_start:span_end], True)]
        position = span_end
    pieces.append((text[position:end], False))
    if end < len(text):
        pieces.append(("…", False))
    return [(piece, brand) for piece, brand in pieces if piece]


def stars(doc: dict) -> float | None:
    normalized = (doc.get("rating") or {}).get("normalized")
    return None if normalized is None else round(1 + 4 * normalized, 1)


def present(doc: dict, matcher: TermMatcher, triage: dict | None = None) -> dict:
    """What a row of the inbox shows, as plain data (the page's template and its JSON feed alike)."""
    sentiment = doc.get("sentiment") or {}
    label = sentiment.get("label")
    return {
        "doc_id": doc.get("doc_id"), "title": doc.get("title") or "", "site": doc.get("site") or "",
        "brands": list(doc.get("brands") or []), "language": doc.get("language") or "",
        "date": doc.get("date") or doc.get("published_at") or doc.get("fetched_at"),
        "fetched_at": doc.get("fetched_at"), "sentiment": label, "corrected": bool(sentiment.get("corrected")),
        "stars": stars(doc), "excerpt": marked(doc.get("body") or doc.get("title") or "", matcher),
        "drivers": list(sentiment.get("drivers") or [])[:3] if label == "negative" else [],
        "status": (triage or {}).get("status", "new"),
        "categories": [c["name"] for c in doc.get("categories") or [] if isinstance(c, dict) and c.get("name")],
    }


def find(client: Elasticsearch, alias: str, doc_id: str) -> dict | None:
    """The stored review (searched, not fetched: the alias may span several indices after a rollover)."""
    reply = client.search(index=alias, body={"query": {"term": {"doc_id": doc_id}}, "size": 1})
    hits = reply["hits"]["hits"]
    return hits[0]["_source"] if hits else None


def arrivals(client: Elasticsearch, alias: str, filters: Filters, brands: BrandNames, after: str) -> list[dict]:
    """Matching reviews fetched after `after` (ISO), oldest first, for the inbox's live updates."""
    query = build_query(filters, brands)
    query["bool"]["filter"].append({"range": {"fetched_at": {"gt": after}}})
    reply = client.search(index=alias, body={"query": query, "size": ARRIVALS, "_source": SHOWN_FIELDS,
                                             "sort": [{"fetched_at": "asc"}, {"doc_id": "asc"}]})
    return [hit["_source"] for hit in reply["hits"]["hits"]]


def newest_fetch(client: Elasticsearch, alias: str, filters: Filters, brands: BrandNames) -> str | None:
    """When the newest matching review was fetched: the inbox's live updates start after it (not at the
    page's own time, which a review fetched just before but not yet searchable would slip behind)."""
    reply = client.search(index=alias, body={"query": build_query(filters, brands), "size": 0,
                                             "aggs": {"newest": {"max": {"field": "fetched_at"}}}})
    return reply["aggregations"]["newest"].get("value_as_string")
