"""Full-text search over the reviews alias."""
from __future__ import annotations

from elasticsearch import Elasticsearch

SEARCH_FIELDS = ["title^2", "body", "item_name"]
SHOWN_FIELDS = ["doc_id", "site", "item_name", "title", "body", "rating", "sentiment", "brands",
                "language", "published_at", "review_url", "source_url"]


def search_reviews(client: Elasticsearch, alias: str, query: str, size: int = 10) -> tuple[list[dict], int]:
    body = {
        "query": {"simple_query_string": {"query": query, "fields": SEARCH_FIELDS,
                                          "default_operator": "and"}},
        "_source": SHOWN_FIELDS,
        "sort": ["_score", {"published_at": {"order": "desc", "missing": "_last"}}],
    }
    reply = client.search(index=alias, body=body, size=size, track_total_hits=True)
    return [hit["_source"] for hit in reply["hits"]["hits"]], reply["hits"]["total"]["value"]
