"""The overview's figures: cards against the previous period, mentions over time with spikes, share of
voice, top sites, new sites and alerts, in one multi-search; the distinguishing terms beside it."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

from elasticsearch import Elasticsearch

from alerts.rules.spike import spike_score
from index.research.query import BrandNames
from index.research.report import REPORTS
from index.research.search import build_query
from web.view import View

LABELS = ("negative", "neutral", "positive")
SPIKE_BASELINE = 7  # buckets before a bucket that it is compared with
SPIKE_SCORE = 2.5
SPIKE_MIN = 3
# Negative reviews whose text the terms tile analyses: a quarter of the report's sample, at a quarter of
# the time (the top terms barely change; the reports page keeps the full sample).
TERMS_SAMPLE = 500
STEPS = {"day": timedelta(days=1), "week": timedelta(weeks=1)}


@dataclass
class Card:
    key: str
    value: float | None
    previous: float | None
    kind: str = "count"  # count, share or stars

    @property
    def change(self) -> float | None:
        """Relative change for counts and stars, difference in points for shares."""
        if self.value is None or self.previous is None:
            return None
        if self.kind == "share":
            return self.value - self.previous
        return None if not self.previous else (self.value - self.previous) / self.previous


@dataclass
class Bucket:
    start: datetime
    end: datetime
    counts: dict[str, int]
    spike: bool = False

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def _range(start: datetime | None, end: datetime, field: str = "date") -> dict:
    bounds = {"lt": end.isoformat()}
    if start is not None:
        bounds["gte"] = start.isoformat()
    return {"range": {field: bounds}}


def _labels(aggregation: dict) -> dict[str, int]:
    found = {b["key"]: b["doc_count"] for b in aggregation["buckets"]}
    return {label: found.get(label, 0) for label in LABELS}


def queries(view: View, brands: BrandNames, now: datetime, alias: str, alerts_index: str) -> list[tuple[str, dict]]:
    """(index, body) of the searches of the overview's one multi-search."""
    start, end = view.window(now)
    previous = view.previous_window(now)
    scope = build_query(view.filters(), brands)  # every filter but the period: a site's first review ever
    by_label = {"terms": {"field": "sentiment.label", "size": 3}}
    stars = {"avg": {"field": "rating.normalized"}}
    histogram = {"field": "date", "calendar_interval": view.interval(now), "min_doc_count": 0}
    if start is not None:
        histogram["extended_bounds"] = {"min": start.isoformat(), "max": (end - timedelta(seconds=1)).isoformat()}
    current = {"filter": _range(start, end), "aggs": {
        "sentiment": by_label, "stars": stars,
        "timeline": {"date_histogram": histogram, "aggs": {"sentiment": by_label}},
        "brands": {"terms": {"field": "brands", "size": 10}, "aggs": {"sentiment": by_label}},
        "sites": {"terms": {"field": "site", "size": 10}, "aggs": {"sentiment": by_label, "stars": stars}}}}
    periods = {"current": current}
    if previous:
        periods["previous"] = {"filter": _range(*previous), "aggs": {"sentiment": by_label, "stars": stars}}
    # Only the two periods' reviews are read for the cards (the range is an index lookup, not a scan).
    both = build_query(view.filters(), brands)
    both["bool"]["filter"].append(_range(previous[0] if previous else start, end))
    main = {"size": 0, "query": both, "aggs": periods}
    first_seen = {"size": 0, "query": scope, "aggs": {"sites": {
        "terms": {"field": "site", "size": 10000}, "aggs": {"first": {"min": {"field": "date"}}}}}}
    alerts = {"size": 0, "query": _range(previous[0] if previous else start, end, "created_at"),
              "aggs": {"current": {"filter": _range(start, end, "created_at")}}}
    return [(alias, main), (alias, first_seen), (alerts_index, alerts)]


def _spikes(buckets: list[Bucket]) -> None:
    negatives = [b.counts["negative"] for b in buckets]
    for i, bucket in enumerate(buckets):
        baseline = negatives[max(0, i - SPIKE_BASELINE):i]
        if len(baseline) >= 3 and negatives[i] >= SPIKE_MIN:
            score, _ = spike_score(negatives[i], baseline, "z_score")
            bucket.spike = score >= SPIKE_SCORE


def bucket_end(start: datetime, interval: str) -> datetime:
    if interval in STEPS:
        return start + STEPS[interval]
    return start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)


def _stars(normalized: float | None) -> float | None:
    return None if normalized is None else 1 + 4 * normalized


def overview(client: Elasticsearch, alias: str, alerts_index: str, view: View, brands: BrandNames,
             now: datetime) -> dict:
    start, end = view.window(now)
    previous = view.previous_window(now)
    with ThreadPoolExecutor(max_workers=1) as pool:
        # The terms report samples and scores text, the slowest search here: it runs meanwhile.
        terms = pool.submit(REPORTS["significant_terms"], client, alias, view.filters(start, end), brands, top=12,
                            sample=TERMS_SAMPLE)
        body = []
        for index, search in queries(view, brands, now, alias, alerts_index):
            body += [{"index": index, "ignore_unavailable": True}, search]
        main, first_seen, alerts = client.msearch(body=body)["responses"]
        significant = terms.result()
    for reply in (main, first_seen):
        if "error" in reply:
            raise RuntimeError(f"Elasticsearch: {reply['error'].get('reason', reply['error'])}")
    current = main["aggregations"]["current"]
    before = main["aggregations"].get("previous")
    count = current["doc_count"]
    negative = _labels(current["sentiment"])["negative"]
    cards = [Card("mentions", count, before["doc_count"] if before else None)]
    share = negative / count if count else None
    old_share = None
    if before and before["doc_count"]:
        old_share = _labels(before["sentiment"])["negative"] / before["doc_count"]
    cards.append(Card("negative_share", share, old_share, "share"))
    cards.append(Card("average_stars", _stars(current["stars"]["value"]),
                      _stars(before["stars"]["value"]) if before else None, "stars"))
    # A new site is one whose first review (over all time, same filters) falls in the period.
    firsts = [b["first"]["value"] / 1000 for b in first_seen["aggregations"]["sites"]["buckets"]
              if b["first"].get("value") is not None]
    new_sites = sum(1 for first in firsts if start is None or start.timestamp() <= first < end.timestamp())
    old_new_sites = None
    if previous:
        old_new_sites = sum(1 for first in firsts if previous[0].timestamp() <= first < previous[1].timestamp())
    cards.append(Card("new_sites", new_sites, old_new_sites))
    alert_counts = (None, None)
    if "aggregations" in alerts:
        in_window = alerts["aggregations"]["current"]["doc_count"]
        alert_counts = (in_window, alerts["hits"]["total"]["value"] - in_window if previous else None)
    cards.append(Card("alerts", *alert_counts))
    interval = view.interval(now)
    timeline = []
    for raw in current["timeline"]["buckets"]:
        bucket_start = datetime.fromisoformat(raw["key_as_string"].replace("Z", "+00:00"))
        timeline.append(Bucket(bucket_start, bucket_end(bucket_start, interval), _labels(raw["sentiment"])))
    _spikes(timeline)
    share_of_voice = [{"brand": b["key"], "mentions": b["doc_count"], **_labels(b["sentiment"])}
                      for b in current["brands"]["buckets"]]
    sites = [{"site": b["key"], "mentions": b["doc_count"], **_labels(b["sentiment"]),
              "average_stars": _stars(b["stars"]["value"])} for b in current["sites"]["buckets"]]
    return {"window": (start, end), "previous": previous, "interval": interval, "cards": cards,
            "timeline": timeline, "share_of_voice": share_of_voice, "top_sites": sites,
            "terms": significant.rows}
