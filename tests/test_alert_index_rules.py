"""Rules that read the reviews index (new source, spike, digest) over a synthetic timeline whose
answers are computed here in Python, on a real Elasticsearch node."""
import random
from datetime import datetime, timedelta, timezone

import pytest
from elasticsearch import Elasticsearch, helpers

from alerts.dispatch import AlertDispatcher
from alerts.rules.base import RuleContext, iso
from alerts.rules.digest import DigestRule
from alerts.rules.new_source import NewSourceRule
from alerts.rules.spike import SpikeRule
from alerts.state import DeliveryState
from index.storage.schema import ensure_reviews_index

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)


def doc(n, brand, at, label="negative", rating=0.0, site="shop.example"):
    return {"doc_id": f"{brand}-{n}", "brands": [brand], "site": site, "source": "shop",
            "source_url": f"https://{site}/{brand}/{n}", "title": f"{brand} review {n}", "body": "text",
            "published_at": iso(at), "fetched_at": iso(at), "language": "en",
            "sentiment": {"label": label, "score": 0.9},
            "rating": {"value": 1 + 4 * rating, "best": 5.0, "worst": 1.0, "normalized": rating}}


@pytest.fixture
def reviews(es_url, index_prefix):
    client = Elasticsearch([es_url])
    alias = ensure_reviews_index(client, index_prefix)

    def load(docs):
        helpers.bulk(client, ({"_index": alias, "_id": d["doc_id"], "_source": d} for d in docs), refresh=True)
        return RuleContext(client, alias, NOW)
    return load


def timeline(rng):
    """7 days of hourly negative mentions: Sony 0-2 an hour, then 12 in the last hour;
    Panasonic a steady 3-5 an hour and 5 in the last; Canon silent, then 3 (below min_count)."""
    docs, n = [], 0
    for hour in range(1, 24 * 7 + 1):
        start = NOW - timedelta(hours=hour + 1)
        for brand, count in (("Sony", rng.randint(0, 2)), ("Panasonic", rng.randint(3, 5))):
            for _ in range(count):
                n += 1
                docs.append(doc(n, brand, start + timedelta(minutes=rng.randint(0, 59))))
    for brand, count in (("Sony", 12), ("Panasonic", 5), ("Canon", 3)):
        for i in range(count):
            n += 1
            docs.append(doc(n, brand, NOW - timedelta(minutes=1 + i * 4)))
    for i in range(30):  # positive Sony reviews in the last hour are not negative mentions
        n += 1
        docs.append(doc(n, "Sony", NOW - timedelta(minutes=2 + i), label="positive", rating=1.0))
    return docs


def test_spike_rule_finds_the_brand_whose_negative_mentions_jumped(reviews):
    context = reviews(timeline(random.Random(7)))
    rule = SpikeRule({"name": "spike", "type": "spike", "channels": ["c"], "window": "1h", "baseline": "7d",
                      "threshold": 3, "min_count": 5})
    [alert] = rule.run(context)
    assert alert["brands"] == ["Sony"] and alert["stats"]["count"] == 12
    assert 0.5 < alert["stats"]["baseline_mean"] < 1.5 and alert["stats"]["z"] > 3
    assert len(alert["reviews"]) == 5 and all(r["sentiment"] == "negative" for r in alert["reviews"])
    assert alert["headline"] == f"Spike: 12 negative mentions of Sony in the last hour " \
                                f"(usually {alert['stats']['baseline_mean']:.1f})"
    # Run again in the same hour: the same alert id, so it is recorded (and sent) once.
    assert rule.run(RuleContext(context.client, context.reviews_index, NOW + timedelta(minutes=1)))[0][
        "alert_id"] == alert["alert_id"]
    ratio = SpikeRule({"name": "r", "type": "spike", "channels": ["c"], "method": "ratio", "threshold": 4,
                       "min_count": 3})
    # With a lower min_count a brand never mentioned before (Canon: 3 against 0) counts as a spike too.
    assert sorted(a["brands"][0] for a in ratio.run(context)) == ["Canon", "Sony"]


def test_digest_counts_match_the_documents(reviews):
    rng = random.Random(3)
    docs = []
    for n in range(60):
        at = NOW - timedelta(hours=rng.uniform(0, 48))
        docs.append(doc(n, rng.choice(["Sony", "Panasonic"]), at, label=rng.choice(["negative", "neutral", "positive"]),
                        rating=rng.choice([0.0, 0.25, 0.5, 0.75, 1.0])))
    context = reviews(docs)
    rule = DigestRule({"name": "daily", "type": "digest", "channels": ["c"], "at": "09:00",
                       "timezone": "Asia/Tokyo", "top": 3})
    start, end = rule.last_period(NOW)
    alerts = {a["brands"][0]: a for a in rule.run(context)}
    for brand, alert in alerts.items():
        inside = [d for d in docs if d["brands"] == [brand] and start <= datetime.fromisoformat(d["published_at"]) < end]
        stats = alert["stats"]
        assert stats["mentions"] == len(inside)
        assert stats["negative"] == sum(d["sentiment"]["label"] == "negative" for d in inside)
        expected = sum(1 + 4 * d["rating"]["normalized"] for d in inside) / len(inside)
        assert stats["average_rating_5"] == pytest.approx(expected, abs=0.01)
        assert len(alert["reviews"]) == min(3, stats["negative"])
    assert set(alerts) == {"Sony", "Panasonic"}


def test_new_source_alerts_once_per_brand_and_site(reviews, es_url, index_prefix):
    earlier = NOW - timedelta(days=3)
    context = reviews([doc(1, "Sony", earlier, site="old.example")])
    rule = NewSourceRule({"name": "new-site", "type": "new_source", "channels": ["c"]})
    seen = doc(2, "Sony", NOW, site="old.example")
    fresh = doc(3, "Sony", NOW, site="forum.example")
    assert rule.match(seen, context) == []
    [alert] = rule.match(fresh, context)
    assert alert["headline"] == "Sony mentioned on a new site: forum.example"
    # A second review on the same new site gives the same alert id: one alert per (brand, site).
    assert rule.match(doc(4, "Sony", NOW, site="forum.example"), context)[0]["alert_id"] == alert["alert_id"]

    client = Elasticsearch([es_url])
    dispatcher = AlertDispatcher({"rules": [{"name": "new-site", "type": "new_source", "channels": ["c"]}],
                                  "channels": {"c": {"type": "console"}}},
                                 DeliveryState(client, f"{index_prefix}-alerts"), client=client,
                                 reviews_index=context.reviews_index)
    recorded = [dispatcher.submit(a, NOW) is not None for d in (fresh, doc(4, "Sony", NOW, site="forum.example"))
                for a in dispatcher.evaluate(d, NOW)]
    assert recorded == [True, False]
