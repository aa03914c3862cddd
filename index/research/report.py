"""The marketing reports, each one Elasticsearch aggregation over the filtered reviews, as rows.

Every report takes the same Filters as search, so "share of voice of negative Japanese reviews last
quarter" is a filter away. Rows are plain dicts with the same keys for table, CSV, chart and API.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable

from elasticsearch import Elasticsearch

from index.research.query import BrandNames, QuerySyntaxError
from index.research.search import Filters, build_query

INTERVALS = ("day", "week", "month")
INTERVAL_REPORTS = ("mentions", "rating_trend", "categories")  # the reports over time, which take an interval
NO_BRAND = "(no brand)"
CATEGORIES_SHOWN = 50  # the nine shipped ones and a team's own


@dataclass
class Report:
    name: str
    title: str
    columns: list[str]
    rows: list[dict]


def _aggregate(client: Elasticsearch, alias: str, filters: Filters, brands: BrandNames, aggs: dict) -> dict:
    body = {"size": 0, "query": build_query(filters, brands), "aggs": aggs, "track_total_hits": True}
    return client.search(index=alias, body=body)["aggregations"]


def _check_interval(interval: str) -> None:
    if interval not in INTERVALS:
        raise QuerySyntaxError(f"interval {interval!r}: use one of {', '.join(INTERVALS)}")


def _sentiment_counts(bucket: dict) -> dict:
    counts = {b["key"]: b["doc_count"] for b in bucket["sentiment"]["buckets"]}
    return {label: counts.get(label, 0) for label in ("positive", "neutral", "negative")}


def mentions(client, alias, filters: Filters, brands: BrandNames, interval: str = "week", top: int = 10) -> Report:
    """Reviews per period, per brand, split by sentiment."""
    _check_interval(interval)
    aggs = {"over_time": {
        "date_histogram": {"field": "date", "calendar_interval": interval, "min_doc_count": 1},
        "aggs": {"brand": {"terms": {"field": "brands", "size": top, "missing": NO_BRAND},
                           "aggs": {"sentiment": {"terms": {"field": "sentiment.label", "size": 3}}}}}}}
    result = _aggregate(client, alias, filters, brands, aggs)
    rows = []
    for period in result["over_time"]["buckets"]:
        for brand in period["brand"]["buckets"]:
            rows.append({"period": period["key_as_string"][:10], "brand": brand["key"],
                         "mentions": brand["doc_count"], **_sentiment_counts(brand)})
    return Report("mentions", f"Mentions per {interval} by brand",
                  ["period", "brand", "mentions", "positive", "neutral", "negative"], rows)


def categories(client, alias, filters: Filters, brands: BrandNames, interval: str = "week",
               top: int = 10) -> Report:
    """Reviews per period, brand and category, split by sentiment, with the category's share of negatives."""
    _check_interval(interval)
    aggs = {"over_time": {
        "date_histogram": {"field": "date", "calendar_interval": interval, "min_doc_count": 1},
        "aggs": {"brand": {"terms": {"field": "brands", "size": top, "missing": NO_BRAND}, "aggs": {
            "category": {"terms": {"field": "categories.name", "size": CATEGORIES_SHOWN},
                         "aggs": {"sentiment": {"terms": {"field": "sentiment.label", "size": 3}}}}}}}}}
    result = _aggregate(client, alias, filters, brands, aggs)
    rows = []
    for period in result["over_time"]["buckets"]:
        for brand in period["brand"]["buckets"]:
            for category in brand["category"]["buckets"]:
                counts = _sentiment_counts(category)
                rows.append({"period": period["key_as_string"][:10], "brand": brand["key"],
                             "category": category["key"], "mentions": category["doc_count"], **counts,
                             "negative_share": round(counts["negative"] / category["doc_count"], 4)})
    return Report("categories", f"Categories per {interval} by brand",
                  ["period", "brand", "category", "mentions", "positive", "neutral", "negative", "negative_share"],
                  rows)


def aspects(client, alias, filters: Filters, brands: BrandNames, top: int = 10) -> Report:
    """Per brand and aspect, the review sentences that praise or blame it ("battery −, sound +")."""
    aggs = {"brand": {"terms": {"field": "brands", "size": top, "missing": NO_BRAND}, "aggs": {
        "aspects": {"nested": {"path": "aspects"}, "aggs": {
            "category": {"terms": {"field": "aspects.category", "size": CATEGORIES_SHOWN}, "aggs": {
                "sentiment": {"terms": {"field": "aspects.sentiment", "size": 3}},
                "reviews": {"reverse_nested": {}}}}}}}}}
    result = _aggregate(client, alias, filters, brands, aggs)
    rows = []
    for brand in result["brand"]["buckets"]:
        # Indices rolled over before aspects were mapped answer the nested aggregation without its sub-aggregations.
        for aspect in brand["aspects"].get("category", {}).get("buckets", []):
            counts = _sentiment_counts(aspect)
            rows.append({"brand": brand["key"], "aspect": aspect["key"], "reviews": aspect["reviews"]["doc_count"],
                         "sentences": aspect["doc_count"], **counts,
                         "net_sentiment": round((counts["positive"] - counts["negative"]) / aspect["doc_count"], 4)})
    return Report("aspects", "Aspects by brand: sentences praising or blaming each",
                  ["brand", "aspect", "reviews", "sentences", "positive", "neutral", "negative", "net_sentiment"],
                  rows)


def share_of_voice(client, alias, filters: Filters, brands: BrandNames, top: int = 20) -> Report:
    """Each brand's share of all brand mentions, with its sentiment split and net sentiment."""
    aggs = {"brand": {"terms": {"field": "brands", "size": top},
                      "aggs": {"sentiment": {"terms": {"field": "sentiment.label", "size": 3}}}}}
    result = _aggregate(client, alias, filters, brands, aggs)
    buckets = result["brand"]["buckets"]
    total = sum(b["doc_count"] for b in buckets) + result["brand"]["sum_other_doc_count"]
    rows = []
    for bucket in buckets:
        counts = _sentiment_counts(bucket)
        rows.append({"brand": bucket["key"], "mentions": bucket["doc_count"],
                     "share": round(bucket["doc_count"] / total, 4), **counts,
                     "net_sentiment": round((counts["positive"] - counts["negative"]) / bucket["doc_count"], 4)})
    return Report("share_of_voice", "Share of voice",
                  ["brand", "mentions", "share", "positive", "neutral", "negative", "net_sentiment"], rows)


def top_sites(client, alias, filters: Filters, brands: BrandNames, top: int = 10) -> Report:
    aggs = {"site": {"terms": {"field": "site", "size": top},
                     "aggs": {"sentiment": {"terms": {"field": "sentiment.label", "size": 3}},
                              "rating": {"avg": {"field": "rating.normalized"}}}}}
    result = _aggregate(client, alias, filters, brands, aggs)
    rows = [{"site": b["key"], "reviews": b["doc_count"], **_sentiment_counts(b),
             "average_stars": _stars(b["rating"]["value"])} for b in result["site"]["buckets"]]
    return Report("top_sites", "Top sites", ["site", "reviews", "positive", "neutral", "negative",
                                             "average_stars"], rows)


def _stars(normalized: float | None) -> float | None:
    return None if normalized is None else round(1 + 4 * normalized, 3)


def rating_trend(client, alias, filters: Filters, brands: BrandNames, interval: str = "month",
                 top: int = 10) -> Report:
    """Average stars (1-5, whatever the source's scale) per period and brand, over rated reviews."""
    _check_interval(interval)
    aggs = {"over_time": {
        "date_histogram": {"field": "date", "calendar_interval": interval, "min_doc_count": 1},
        "aggs": {"brand": {"terms": {"field": "brands", "size": top, "missing": NO_BRAND},
                           "aggs": {"rating": {"avg": {"field": "rating.normalized"}},
                                    "rated": {"value_count": {"field": "rating.normalized"}}}}}}}
    result = _aggregate(client, alias, filters, brands, aggs)
    rows = [{"period": period["key_as_string"][:10], "brand": brand["key"], "rated": brand["rated"]["value"],
             "average_stars": _stars(brand["rating"]["value"])}
            for period in result["over_time"]["buckets"] for brand in period["brand"]["buckets"]
            if brand["rated"]["value"]]
    return Report("rating_trend", f"Average rating per {interval}",
                  ["period", "brand", "rated", "average_stars"], rows)


@lru_cache(maxsize=1)
def _excluded_terms() -> frozenset[str]:
    # Filtered here, not with the aggregation's `exclude`: Elasticsearch 7.9 applies that inverted.
    lines = (Path(__file__).parent / "significant_terms_exclude.txt").read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip() for line in lines if line.strip() and not line.startswith("#"))


def significant_terms(client, alias, filters: Filters, brands: BrandNames, top: int = 20,
                      sample: int = 2000) -> Report:
    """Terms much more frequent in the negative reviews than in all reviews of the filtered brand(s).

    The text of `sample` negative reviews (per shard) is analysed; fewer is faster and coarser."""
    scope = Filters(**{**filters.__dict__, "sentiments": []})
    aggs = {"negative": {"filter": {"term": {"sentiment.label": "negative"}}, "aggs": {"sample": {
        "sampler": {"shard_size": sample},
        "aggs": {"terms": {"significant_text": {
            "field": "body", "size": top + len(_excluded_terms()), "min_doc_count": 2,
            "filter_duplicate_text": True,
            "background_filter": build_query(scope, brands)}}}}}}}
    result = _aggregate(client, alias, scope, brands, aggs)
    rows = [{"term": b["key"], "negative_reviews": b["doc_count"], "all_reviews": b["bg_count"],
             "score": round(b["score"], 4)} for b in result["negative"]["sample"]["terms"]["buckets"]
            if b["key"] not in _excluded_terms()][:top]
    subject = " / ".join(brands.canonical(b) or b for b in filters.brands) or "all"
    return Report("significant_terms", f"Terms that distinguish {subject} negative reviews",
                  ["term", "negative_reviews", "all_reviews", "score"], rows)


REPORTS: dict[str, Callable[..., Report]] = {
    "mentions": mentions,
    "share_of_voice": share_of_voice,
    "top_sites": top_sites,
    "rating_trend": rating_trend,
    "significant_terms": significant_terms,
    "categories": categories,
    "aspects": aspects,
}
