"""Alert rules on single reviews, timing helpers and config validation (no Elasticsearch needed)."""
from datetime import datetime, timezone

import pytest

from alerts.channels.console import ConsoleChannel, summary_line
from alerts.message import Message
from alerts.rules.base import QuietHours
from alerts.rules.digest import DigestRule
from alerts.rules.keyword import KeywordRule
from alerts.rules.negative_brand import NegativeBrandRule
from alerts.rules.spike import spike_score
from crawlers.items import ReviewItem
from foundations.durations import parse_duration
from kuchikomi.config import ConfigError, load_monitor

RULE = NegativeBrandRule({"name": "neg", "type": "negative_brand", "channels": ["c"],
                          "min_sentiment_score": 0.7, "max_rating": 0.25})


def review(brands=("Sony",), label="neutral", score=0.9, normalized=0.5, body="text", title="t",
           language="en", doc_id="d1"):
    return ReviewItem(doc_id=doc_id, source="shop", source_url="https://shop.example/p", site="shop.example",
                      brands=list(brands), body=body, title=title, language=language,
                      sentiment={"label": label, "score": score},
                      rating={"value": 1 + 4 * normalized, "best": 5.0, "worst": 1.0, "normalized": normalized})


def test_negative_sentiment_about_a_watched_brand_alerts():
    [alert] = RULE.match(review(label="negative", score=0.8))
    assert alert["brands"] == ["Sony"] and "sentiment negative (0.80)" in alert["reason"]
    assert alert["url"] == "https://shop.example/p" and alert["rule"] == "neg"
    assert alert["headline"] == "Negative review of Sony on shop.example"


def test_low_rating_alerts_even_when_the_text_reads_neutral():
    [alert] = RULE.match(review(normalized=0.25))
    assert alert["reason"] == "rating 2/5"


def test_no_alert_without_a_brand_or_below_thresholds():
    assert RULE.match(review(brands=(), label="negative", score=0.99, normalized=0.0)) == []
    assert RULE.match(review(label="negative", score=0.6)) == []
    assert RULE.match(review(label="positive", score=0.99, normalized=1.0)) == []


def test_rule_limited_to_some_brands_languages_and_sources():
    rule = NegativeBrandRule({"name": "p", "type": "negative_brand", "channels": ["c"], "brands": ["Panasonic"]})
    assert rule.match(review(label="negative", score=0.9)) == []
    ja_only = NegativeBrandRule({"name": "j", "type": "negative_brand", "channels": ["c"], "languages": ["ja"]})
    assert ja_only.match(review(label="negative", language="en")) == []
    assert len(ja_only.match(review(label="negative", language="ja"))) == 1
    by_site = NegativeBrandRule({"name": "s", "type": "negative_brand", "channels": ["c"],
                                 "sources": ["other.example"]})
    assert by_site.match(review(label="negative")) == []


def test_same_review_and_rule_always_give_the_same_alert_id():
    assert RULE.match(review(label="negative"))[0]["alert_id"] == RULE.match(review(normalized=0.0))[0]["alert_id"]


KEYWORDS = KeywordRule({"name": "kw", "type": "keyword", "channels": ["c"],
                        "terms": ["返金", "scam", "炎上", "ﾘｺｰﾙ"], "exclude": ["not a scam"]})


@pytest.mark.parametrize("body, found", [
    ("注文した商品が届かないので返金を求めます", ["返金"]),
    ("This shop is a SCAM.", ["scam"]),
    ("ネットで炎上している", ["炎上"]),
    ("リコールの対象だった", ["ﾘｺｰﾙ"]),          # half-width term, full-width text
    ("Great scampi, would order again", None),   # Latin terms only as words
    ("I thought it was a scam but it is not a scam at all", None),  # exclusion wins
    ("普通に使えています", None),
])
def test_keyword_rule_matches_words_in_any_language(body, found):
    alerts = KEYWORDS.match(review(body=body, title=""))
    if found is None:
        assert alerts == []
    else:
        assert [alert["reason"] for alert in alerts] == ["keywords: " + ", ".join(found)]


def test_keyword_rule_limited_to_brands():
    rule = KeywordRule({"name": "kw", "type": "keyword", "channels": ["c"], "terms": ["返金"],
                        "brands": ["Panasonic"]})
    assert rule.match(review(body="返金して")) == []
    assert rule.match(review(brands=("Panasonic",), body="返金して"))[0]["brands"] == ["Panasonic"]


def test_durations():
    assert [parse_duration(v) for v in (90, "90s", "10m", "1.5h", "7d", "2w")] == [
        90, 90, 600, 5400, 604800, 1209600]
    with pytest.raises(ValueError):
        parse_duration("soon")


def test_quiet_hours_hold_until_they_end_across_midnight():
    quiet = QuietHours.from_config({"start": "22:00", "end": "07:00", "timezone": "Asia/Tokyo"})
    at = datetime(2026, 11, 24, 14, 30, tzinfo=timezone.utc)   # 23:30 in Tokyo
    assert quiet.release(at) == datetime(2026, 11, 24, 22, 0, tzinfo=timezone.utc)  # 07:00 next day JST
    early = datetime(2026, 11, 24, 20, 0, tzinfo=timezone.utc)  # 05:00 JST
    assert quiet.release(early) == datetime(2026, 11, 24, 22, 0, tzinfo=timezone.utc)
    daytime = datetime(2026, 11, 24, 3, 0, tzinfo=timezone.utc)  # 12:00 JST
    assert quiet.release(daytime) == daytime


def test_spike_score_against_a_baseline():
    assert spike_score(12, [1, 2, 1, 0, 2, 1, 1], "z_score")[0] > 10
    assert spike_score(2, [1, 2, 1, 0, 2, 1, 1], "z_score")[0] < 3
    assert spike_score(6, [2, 2, 2, 2], "ratio") == (3.0, 2.0)
    assert spike_score(5, [0, 0, 0], "z_score") == (5.0, 0.0)  # flat baseline: floor of one mention


def test_digest_period_is_the_last_complete_day_or_week():
    daily = DigestRule({"name": "d", "type": "digest", "channels": ["c"], "at": "09:00", "timezone": "Asia/Tokyo"})
    start, end = daily.last_period(datetime(2026, 11, 24, 1, 0, tzinfo=timezone.utc))  # 10:00 JST
    assert (start, end) == (datetime(2026, 11, 23, 0, 0, tzinfo=timezone.utc),
                            datetime(2026, 11, 24, 0, 0, tzinfo=timezone.utc))
    weekly = DigestRule({"name": "w", "type": "digest", "channels": ["c"], "period": "weekly",
                         "weekday": "monday", "at": "08:00"})
    start, end = weekly.last_period(datetime(2026, 11, 26, 12, 0, tzinfo=timezone.utc))  # a Thursday
    assert end == datetime(2026, 11, 23, 8, 0, tzinfo=timezone.utc) and (end - start).days == 7


def test_console_line_drops_terminal_control_sequences(capsys):
    [alert] = RULE.match(review(label="negative", body="bad \x1b[2J\x1b]0;pwned\x07 product"))
    ConsoleChannel("c", {}).send(Message([alert]))
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out and "bad [2J]0;pwned product" in out
    assert summary_line(alert) in out


def write_config(tmp_path, rules: str, channels: str = "c: {type: console}", brands: str = ""):
    path = tmp_path / "monitor.yaml"
    path.write_text(f"sources: [{{name: s, start_urls: ['http://127.0.0.1/']}}]\n{brands}\n"
                    f"alerts:\n  channels: {{{channels}}}\n  rules:\n{rules}", encoding="utf-8")
    return path


@pytest.mark.parametrize("rule, message", [
    ("    - {name: k, type: keyword, channels: [c]}", "alerts.rules[0]: 'terms' is a required property"),
    ("    - {name: k, type: spike, channels: [c], window: soon}",
     "alerts.rules[0].window: 'soon' is not valid under any of the given schemas (expected seconds, or a "
     "number with s/m/h/d/w: 90s, 10m, 1h, 7d)"),
    ("    - {name: k, type: spike, channels: [c], window: 2h, baseline: 1h}",
     "alerts.rules[0]: window must be positive and baseline at least one window long"),
    ("    - {name: k, type: digest, channels: [c], timezone: Mars/Olympus}",
     "alerts.rules[0].timezone: unknown time zone 'Mars/Olympus' (use an IANA name such as Asia/Tokyo)"),
    ("    - {name: k, type: keyword, channels: [c], terms: [x], quiet_hours: {start: '22:00', end: '07:00', "
     "timezone: Tokio}}",
     "alerts.rules[0].quiet_hours.timezone: unknown time zone 'Tokio' (use an IANA name such as Asia/Tokyo)"),
    ("    - {name: k, type: negative_brand, channels: [c], quiet_hours: {start: '25:00', end: '07:00'}}",
     "alerts.rules[0].quiet_hours.start"),
    ("    - {name: k, type: negative_brand, channels: [c], group_by: [colour]}", "alerts.rules[0].group_by[0]"),
    ("    - {name: k, type: negative_brand, channels: [c]}\n    - {name: k, type: keyword, channels: [c], "
     "terms: [x]}", "alerts.rules[1].name: 'k' is used twice"),
    ("    - {name: k, type: negative_brand, channels: [nowhere]}", "'nowhere' is not defined"),
])
def test_a_bad_rule_names_the_field(tmp_path, rule, message):
    with pytest.raises(ConfigError) as error:
        load_monitor(write_config(tmp_path, rule))
    assert message in str(error.value)


def test_a_bad_channel_names_the_field(tmp_path):
    rule = "    - {name: k, type: negative_brand, channels: [c]}"
    with pytest.raises(ConfigError, match=r"alerts.channels.c: 'to' is a required property"):
        load_monitor(write_config(tmp_path, rule, "c: {type: email, host: localhost, from: a@b.example}"))
    with pytest.raises(ConfigError, match=r"alerts.channels.c: urls\[0\]: apprise does not understand"):
        load_monitor(write_config(tmp_path, rule, "c: {type: apprise, urls: ['nosuchservice://x']}"))


BRANDS = "brands: [{name: Sony, aliases: [ソニー]}, {name: Panasonic}]"


@pytest.mark.parametrize("rule, brands, message", [
    ("    - {name: neg, type: negative_brand, channels: [c]}", "",
     "brands: none configured, so alerts.rules[0] (a negative_brand rule) can never fire: add a top-level "
     "`brands:` list"),
    ("    - {name: k, type: keyword, channels: [c], terms: [x]}\n    - {name: s, type: spike, channels: [c]}", "",
     "brands: none configured, so alerts.rules[1] (a spike rule) can never fire"),
    ("    - {name: neg, type: negative_brand, channels: [c], brands: [Sony, Canon]}", BRANDS,
     "alerts.rules[0].brands[1]: 'Canon' is not a configured brand: add it under `brands:`, or name a "
     "configured one (Sony, Panasonic)"),
    ("    - {name: k, type: keyword, channels: [c], terms: [x], brands: [ｿﾆｰ]}", BRANDS,
     "alerts.rules[0].brands[0]: 'ｿﾆｰ' is not a configured brand: write the brand's name, 'Sony'"),
])
def test_a_rule_that_could_never_fire_for_want_of_brands_is_an_error(tmp_path, rule, brands, message):
    path = write_config(tmp_path, rule, brands=brands)
    with pytest.raises(ConfigError) as error:
        load_monitor(path)
    assert str(error.value).startswith(f"{path}: {message}")


def test_rules_naming_configured_brands_load(tmp_path):
    rules = ("    - {name: neg, type: negative_brand, channels: [c], brands: [Sony]}\n"
             "    - {name: k, type: keyword, channels: [c], terms: [返金]}")
    monitor = load_monitor(write_config(tmp_path, rules, brands=BRANDS))
    assert [rule["name"] for rule in monitor.alerts["rules"]] == ["neg", "k"]
