from __future__ import annotations

from alerts.rules.base import Rule, alert_payload, rule_schema


class NewSourceRule(Rule):
    """A watched brand mentioned on a site where the index has never seen it before.

    One alert per (brand, site), ever: the alert id is made from the pair, not the review.
    """
    type = "new_source"
    schema = rule_schema({
        "brands": {"type": "array", "items": {"type": "string"}, "minItems": 1},
    })

    def __init__(self, config: dict):
        super().__init__(config)
        self.brands = set(config.get("brands", []))

    def match(self, item, context) -> list[dict]:
        site = item.get("site")
        if not site or not self.applies_to(item):
            return []
        alerts = []
        for brand in item.get("brands") or []:
            if self.brands and brand not in self.brands:
                continue
            if self._seen_before(context, brand, site, item):
                continue
            alerts.append(alert_payload(self, item, f"{brand} mentioned on a new site: {site}",
                                        f"first mention of {brand} on {site}", [brand],
                                        key=f"new-source\x1f{brand}\x1f{site}"))
        return alerts

    @staticmethod
    def _seen_before(context, brand: str, site: str, item) -> bool:
        earlier = {"bool": {
            "filter": [{"term": {"brands": brand}}, {"term": {"site": site}}],
            "must_not": [{"ids": {"values": [item["doc_id"]]}}],
        }}
        if item.get("fetched_at"):
            earlier["bool"]["filter"].append({"range": {"fetched_at": {"lt": item["fetched_at"]}}})
        reply = context.client.count(index=context.reviews_index, body={"query": earlier})
        return reply["count"] > 0
