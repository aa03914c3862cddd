from __future__ import annotations

from datetime import datetime, time, timedelta, timezone

from alerts.rules.base import CLOCK, Rule, event_payload, iso, rule_schema, time_zone

WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


class DigestRule(Rule):
    """A scheduled summary per brand of the last day or week, instead of single alerts."""
    type = "digest"
    scheduled = True
    schema = rule_schema({
        "period": {"enum": ["daily", "weekly"]},
        "at": CLOCK,
        "timezone": {"type": "string", "minLength": 1},
        "weekday": {"enum": WEEKDAYS},
        "brands": {"type": "array", "items": {"type": "string"}, "minItems": 1},
        "top": {"type": "integer", "minimum": 0, "maximum": 50},
        "time_field": {"enum": ["published_at", "fetched_at"]},
    })

    def __init__(self, config: dict):
        super().__init__(config)
        self.period = config.get("period", "daily")
        self.at = time.fromisoformat(config.get("at", "09:00"))
        self.zone = time_zone(config.get("timezone", "UTC"))
        self.weekday = WEEKDAYS.index(config.get("weekday", "monday"))
        self.brands = list(config.get("brands", []))
        self.top = config.get("top", 5)
        self.time_field = config.get("time_field", "published_at")

    def last_period(self, now: datetime) -> tuple[datetime, datetime]:
        """The most recent complete period, ending at the last scheduled send time."""
        local = now.astimezone(self.zone)
        end = datetime.combine(local.date(), self.at, tzinfo=self.zone)
        if self.period == "weekly":
            end -= timedelta(days=(local.weekday() - self.weekday) % 7)
        if end > local:
            end -= timedelta(days=7 if self.period == "weekly" else 1)
        start = end - timedelta(days=7 if self.period == "weekly" else 1)
        return start.astimezone(timezone.utc), end.astimezone(timezone.utc)

    def run(self, context) -> list[dict]:
        start, end = self.last_period(context.now)
        query = {"bool": {"filter": [{"range": {self.time_field: {"gte": iso(start), "lt": iso(end)}}},
                                     *self.category_filters()]}}
        if self.brands:
            query["bool"]["filter"].append({"terms": {"brands": self.brands}})
        reply = context.client.search(index=context.reviews_index, size=0, body={
            "query": query,
            "aggs": {"brand": {"terms": {"field": "brands", "size": 500}, "aggs": {
                "sentiment": {"terms": {"field": "sentiment.label"}},
                "rating": {"avg": {"field": "rating.normalized"}},
                "sites": {"terms": {"field": "site", "size": 5}}}}}})
        alerts = []
        for bucket in reply["aggregations"]["brand"]["buckets"]:
            brand = bucket["key"]
            if self.brands and brand not in self.brands:
                continue
            sentiment = {b["key"]: b["doc_count"] for b in bucket["sentiment"]["buckets"]}
            average = bucket["rating"]["value"]
            stats = {"period_start": iso(start), "period_end": iso(end), "mentions": bucket["doc_count"],
                     "negative": sentiment.get("negative", 0), "neutral": sentiment.get("neutral", 0),
                     "positive": sentiment.get("positive", 0),
                     "average_rating_5": round(1 + 4 * average, 2) if average is not None else None,
                     "top_sites": {b["key"]: b["doc_count"] for b in bucket["sites"]["buckets"]}}
            reviews = self._most_negative(context, brand, query) if self.top else []
            local_start = start.astimezone(self.zone)
            label = "Weekly" if self.period == "weekly" else "Daily"
            headline = (f"{label} digest for {brand} from {local_start:%Y-%m-%d %H:%M}: "
                        f"{stats['mentions']} mentions, {stats['negative']} negative")
            alerts.append(event_payload(self, f"digest\x1f{brand}\x1f{iso(end)}", headline,
                                        f"{self.period} digest", [brand], stats, reviews))
        return alerts

    def _most_negative(self, context, brand: str, query: dict) -> list[dict]:
        filters = query["bool"]["filter"] + [{"term": {"brands": brand}},
                                              {"term": {"sentiment.label": "negative"}}]
        reply = context.client.search(index=context.reviews_index, size=self.top, body={
            "query": {"bool": {"filter": filters}}, "sort": [{"sentiment.score": "desc"}]})
        return [hit["_source"] for hit in reply["hits"]["hits"]]
