"""Alert rule types, one class per module, looked up by the `type` field of a rule."""
from alerts.rules.negative_brand import NegativeBrandRule

RULE_TYPES = {rule.type: rule for rule in (NegativeBrandRule,)}


def build_rules(configs: list[dict]) -> list:
    return [RULE_TYPES[config["type"]](config) for config in configs]
