from __future__ import annotations

from alerts.message import category_names
from alerts.rules.base import Rule, alert_payload, rule_schema


class MentionRule(Rule):
    """Any mention of a watched brand, narrowed by the filters every rule has: with `categories:
    [purchase_intent]` the sales leads, with `categories: [churn_risk]` the customers about to leave."""
    type = "mention"
    schema = rule_schema({
        "brands": {"type": "array", "items": {"type": "string"}, "minItems": 1},
    })

    def __init__(self, config: dict):
        super().__init__(config)
        self.brands = set(config.get("brands", []))

    def match(self, item, context=None) -> list[dict]:
        brands = [b for b in item.get("brands") or [] if not self.brands or b in self.brands]
        if not brands or not self.applies_to(item):
            return []
        categories = category_names(item.get("categories"))
        wanted = [name for name in categories if name in self.categories]
        subject = f"{', '.join(wanted)} mention" if wanted else "Mention"
        headline = f"{subject} of {', '.join(brands)} on {item.get('site')}"
        reason = f"categories: {', '.join(wanted)}" if wanted else f"mentions {', '.join(brands)}"
        return [alert_payload(self, item, headline, reason, brands)]
