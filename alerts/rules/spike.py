from __future__ import annotations

import math
from datetime import datetime, timedelta

from alerts.rules.base import Rule, event_payload, iso, rule_schema
from foundations.durations import SCHEMA as DURATION, parse_duration

SAMPLE_REVIEWS = 5


def negative_filter(min_sentiment_score: float, max_rating: float) -> dict:
    """A negative mention: labelled negative by the sentiment stage, or rated low by its author."""
    return {"bool": {"minimum_should_match": 1, "should": [
        {"bool": {"filter": [{"term": {"sentiment.label": "negative"}},
                             {"range": {"sentiment.score": {"gte": min_sentiment_score}}}]}},
        {"range": {"rating.normalized": {"lte": max_rating}}},
    ]}}


def spike_score(current: int, baseline: list[int], method: str) -> tuple[float, float]:
    """(score, baseline mean). z-score uses a deviation floor of one mention, so a flat
    baseline does not turn a single mention into an infinite score; `min_count` guards the rest."""
    mean = sum(baseline) / len(baseline)
    if method == "ratio":
        return (current / mean if mean else math.inf), mean
    deviation = math.sqrt(sum((n - mean) ** 2 for n in baseline) / len(baseline))
    return (current - mean) / max(deviation, 1.0), mean


class SpikeRule(Rule):
    """Negative mentions of a brand in the last `window` against its own `baseline` before that."""
    type = "spike"
    scheduled = True
    schema = rule_schema({
        "brands": {"type": "array", "items": {"type": "string"}, "minItems": 1},
        "window": DURATION,
        "baseline": DURATION,
        "method": {"enum": ["z_score", "ratio"]},
        "threshold": {"type": "number", "exclusiveMinimum": 0},
        "min_count": {"type": "integer", "minimum": 1},
        "min_sentiment_score": {"type": "number", "minimum": 0, "maximum": 1},
        "max_rating": {"type": "number", "minimum": 0, "maximum": 1},
        "time_field": {"enum": ["published_at", "fetched_at"]},
    })

    def __init__(self, config: dict):
        super().__init__(config)
        self.brands = list(config.get("brands", []))
        self.window = parse_duration(config.get("window", "1h"))
        self.baseline = parse_duration(config.get("baseline", "7d"))
        if self.window <= 0 or self.baseline < self.window:
            raise ValueError("window must be positive and baseline at least one window long")
        self.method = config.get("method", "z_score")
        self.threshold = config.get("threshold", 3.0)
        self.min_count = config.get("min_count", 5)
        self.negative = negative_filter(config.get("min_sentiment_score", 0.7), config.get("max_rating", 0.25))
        self.time_field = config.get("time_field", "published_at")

    def run(self, context) -> list[dict]:
        now: datetime = context.now
        buckets = int(self.baseline // self.window)
        window = timedelta(seconds=self.window)
        ranges = [{"key": "current", "from": iso(now - window), "to": iso(now)}]
        ranges += [{"key": str(i), "from": iso(now - window * (i + 2)), "to": iso(now - window * (i + 1))}
                   for i in range(buckets)]
        query = {"bool": {"filter": [self.negative, *self.category_filters(), {"range": {self.time_field: {
            "gte": iso(now - window * (buckets + 1)), "lt": iso(now)}}}]}}
        if self.brands:
            query["bool"]["filter"].append({"terms": {"brands": self.brands}})
        reply = context.client.search(index=context.reviews_index, size=0, body={
            "query": query,
            "aggs": {"brand": {"terms": {"field": "brands", "size": 500}, "aggs": {
                "time": {"date_range": {"field": self.time_field, "ranges": ranges}}}}}})
        alerts = []
        slot = int(now.timestamp() // self.window)
        for bucket in reply["aggregations"]["brand"]["buckets"]:
            brand = bucket["key"]
            if self.brands and brand not in self.brands:
                continue
            counts = {b["key"]: b["doc_count"] for b in bucket["time"]["buckets"]}
            current = counts.get("current", 0)
            if current < self.min_count:
                continue
            score, mean = spike_score(current, [counts.get(str(i), 0) for i in range(buckets)], self.method)
            if score < self.threshold:
                continue
            reviews = self._sample(context, brand, now - window, now)
            measure = "ratio" if self.method == "ratio" else "z"
            stats = {"count": current, "baseline_mean": round(mean, 3), measure: round(score, 2),
                     "window_start": iso(now - window), "window_end": iso(now)}
            headline = (f"Spike: {current} negative mentions of {brand} in the last "
                        f"{_human(self.window)} (usually {mean:.1f})")
            alerts.append(event_payload(self, f"spike\x1f{brand}\x1f{slot}", headline,
                                        f"{measure}={score:.1f} >= {self.threshold:g}", [brand], stats, reviews))
        return alerts

    def _sample(self, context, brand: str, start: datetime, end: datetime) -> list[dict]:
        reply = context.client.search(index=context.reviews_index, size=SAMPLE_REVIEWS, body={
            "query": {"bool": {"filter": [self.negative, *self.category_filters(), {"term": {"brands": brand}},
                                          {"range": {self.time_field: {"gte": iso(start), "lt": iso(end)}}}]}},
            "sort": [{self.time_field: "desc"}]})
        return [hit["_source"] for hit in reply["hits"]["hits"]]


def _human(seconds: float) -> str:
    for unit, size in (("week", 604800), ("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            n = int(seconds // size)
            return unit if n == 1 else f"{n} {unit}s"
    return f"{seconds:g} seconds"
