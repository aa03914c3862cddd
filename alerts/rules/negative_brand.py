from __future__ import annotations

from alerts.rules.base import Rule, alert_payload, rule_schema


class NegativeBrandRule(Rule):
    """A negative review or post mentioning a watched brand.

    Negative means the sentiment stage says so with at least `min_sentiment_score`, or the
    reviewer's own rating is at or below `max_rating` (0-1, so 0.25 is 2 of 5 stars).
    """
    type = "negative_brand"
    schema = rule_schema({
        "brands": {"type": "array", "items": {"type": "string"}, "minItems": 1},
        "min_sentiment_score": {"type": "number", "minimum": 0, "maximum": 1},
        "max_rating": {"type": "number", "minimum": 0, "maximum": 1},
    })

    def __init__(self, config: dict):
        super().__init__(config)
        self.brands = set(config.get("brands", []))
        self.min_sentiment_score = config.get("min_sentiment_score", 0.7)
        self.max_rating = config.get("max_rating", 0.25)

    def match(self, item, context=None) -> list[dict]:
        brands = [b for b in item.get("brands") or [] if not self.brands or b in self.brands]
        if not brands or not self.applies_to(item):
            return []
        reasons = []
        sentiment = item.get("sentiment") or {}
        if sentiment.get("label") == "negative" and sentiment.get("score", 0) >= self.min_sentiment_score:
            reasons.append(f"sentiment negative ({sentiment['score']:.2f})")
        rating = (item.get("rating") or {}).get("normalized")
        if rating is not None and rating <= self.max_rating:
            value = item["rating"]
            reasons.append(f"rating {value['value']:g}/{value['best']:g}")
        if not reasons:
            return []
        headline = f"Negative review of {', '.join(brands)} on {item.get('site')}"
        return [alert_payload(self, item, headline, "; ".join(reasons), brands)]
