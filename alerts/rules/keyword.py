from __future__ import annotations

from alerts.rules.base import Rule, alert_payload, rule_schema
from foundations.terms import TermMatcher

TEXT_FIELDS = ["title", "body", "item_name"]


class KeywordRule(Rule):
    """A word or phrase in any language ("返金", "scam", "炎上"), unless an exclusion also appears.

    Matching folds width, case and kana like brand matching does, and Latin terms must stand
    as words ("scam" is not in "scampi").
    """
    type = "keyword"
    schema = rule_schema({
        "terms": {"type": "array", "minItems": 1, "items": {"type": "string", "minLength": 1}},
        "exclude": {"type": "array", "items": {"type": "string", "minLength": 1}},
        "brands": {"type": "array", "items": {"type": "string"}, "minItems": 1,
                   "description": "only reviews that mention one of these brands"},
        "fields": {"type": "array", "minItems": 1, "items": {"enum": TEXT_FIELDS}},
    }, required=("terms",))

    def __init__(self, config: dict):
        super().__init__(config)
        self.terms = TermMatcher([{"name": term} for term in config["terms"]])
        self.exclude = TermMatcher([{"name": term} for term in config.get("exclude", [])])
        self.brands = set(config.get("brands", []))
        self.fields = config.get("fields", TEXT_FIELDS)

    def match(self, item, context=None) -> list[dict]:
        if not self.applies_to(item):
            return []
        brands = list(item.get("brands") or [])
        if self.brands:
            brands = [b for b in brands if b in self.brands]
            if not brands:
                return []
        text = "\n".join(item.get(field) or "" for field in self.fields)
        found, _ = self.terms.match(text)
        if not found or self.exclude.match(text)[0]:
            return []
        subject = ", ".join(brands) or item.get("site")
        headline = f"{', '.join(found)} in a review of {subject}"
        return [alert_payload(self, item, headline, "keywords: " + ", ".join(found), brands)]
