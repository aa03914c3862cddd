"""Alert rules and channels (delivery end to end is in test_end_to_end.py)."""
import json

from alerts.channels.console import ConsoleChannel, summary_line
from alerts.channels.jsonl import JsonlChannel
from alerts.rules.negative_brand import NegativeBrandRule
from crawlers.items import ReviewItem

RULE = NegativeBrandRule({"name": "neg", "type": "negative_brand", "channels": ["c"],
                          "min_sentiment_score": 0.7, "max_rating": 0.25})


def review(brands=("Sony",), label="neutral", score=0.9, normalized=0.5, body="text"):
    return ReviewItem(doc_id="d1", source_url="https://shop.example/p", site="shop.example",
                      brands=list(brands), body=body, title="t",
                      sentiment={"label": label, "score": score},
                      rating={"value": 1 + 4 * normalized, "best": 5.0, "worst": 1.0, "normalized": normalized})


def test_negative_sentiment_about_a_watched_brand_alerts():
    alert = RULE.match(review(label="negative", score=0.8))
    assert alert["brands"] == ["Sony"] and "sentiment negative (0.80)" in alert["reason"]
    assert alert["url"] == "https://shop.example/p" and alert["rule"] == "neg"


def test_low_rating_alerts_even_when_the_text_reads_neutral():
    alert = RULE.match(review(normalized=0.25))
    assert alert["reason"] == "rating 2/5"


def test_no_alert_without_a_brand_or_below_thresholds():
    assert RULE.match(review(brands=(), label="negative", score=0.99, normalized=0.0)) is None
    assert RULE.match(review(label="negative", score=0.6)) is None
    assert RULE.match(review(label="positive", score=0.99, normalized=1.0)) is None


def test_rule_limited_to_some_brands():
    rule = NegativeBrandRule({"name": "p", "type": "negative_brand", "channels": ["c"], "brands": ["Panasonic"]})
    assert rule.match(review(label="negative", score=0.9)) is None


def test_same_review_and_rule_always_give_the_same_alert_id():
    assert RULE.match(review(label="negative"))["alert_id"] == RULE.match(review(normalized=0.0))["alert_id"]


def test_console_line_drops_terminal_control_sequences(capsys):
    alert = RULE.match(review(label="negative", body="bad \x1b[2J\x1b]0;pwned\x07 product"))
    ConsoleChannel("c", {}).send(alert)
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out and "bad [2J]0;pwned product" in out
    assert summary_line(alert) in out


def test_jsonl_channel_appends_one_object_per_alert(tmp_path):
    channel = JsonlChannel("f", {"path": "out/alerts.jsonl"}, base_dir=tmp_path)
    for label in ("negative", "negative"):
        channel.send(RULE.match(review(label=label, body="<script>alert(1)</script>")))
    lines = (tmp_path / "out/alerts.jsonl").read_text().splitlines()
    assert len(lines) == 2 and json.loads(lines[0])["excerpt"] == "<script>alert(1)</script>"
