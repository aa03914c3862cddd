"""Alert rule types, one class per module, looked up by the `type` field of a rule."""
from alerts.rules.digest import DigestRule
from alerts.rules.keyword import KeywordRule
from alerts.rules.mention import MentionRule
from alerts.rules.negative_brand import NegativeBrandRule
from alerts.rules.new_source import NewSourceRule
from alerts.rules.spike import SpikeRule

RULE_TYPES = {rule.type: rule for rule in (NegativeBrandRule, KeywordRule, NewSourceRule, SpikeRule,
                                           DigestRule, MentionRule)}


def build_rules(configs: list[dict]) -> list:
    return [RULE_TYPES[config["type"]](config) for config in configs]
