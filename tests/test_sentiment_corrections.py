"""Team corrections on real parts: the demo site over HTTP, a real Elasticsearch node, a webhook."""
import csv
import json

import pytest

from crawlers.static_site import DEMO_SITE, StaticSite
from sentiment.datasets import read_rows
from sentiment.training import is_held_out
from tests.support.cli import kuchikomi
from tests.test_end_to_end import EXPECTED_ALERT_URLS, alert_paths, crawl, monitor_config, stored


@pytest.fixture
def site():
    with StaticSite(DEMO_SITE) as served:
        yield served


def by_review_path(docs, site_url):
    return {doc["review_url"].replace(site_url, ""): doc_id for doc_id, doc in docs.items() if doc.get("review_url")}


@pytest.mark.slow
def test_corrections_relabel_at_once_survive_recrawls_and_change_alerts(tmp_path, site, es_url, index_prefix,
                                                                       webhook, kuchikomi_home):
    config = monitor_config(tmp_path, site.url, es_url, index_prefix, webhook.url)
    assert crawl(config).returncode == 0
    docs = stored(es_url, index_prefix)
    ids = by_review_path(docs, site.url)
    praised = ids["/products/sony-wh-1000xm5.html#review-s1"]
    model_label = docs[praised]["sentiment"]["label"]
    assert model_label != "negative"
    assert alert_paths(webhook.alerts, site.url) == EXPECTED_ALERT_URLS

    # PR says the praised review is really a complaint: relabelled now, and alerted now.
    result = kuchikomi("sentiment", "correct", praised, "negative", "--config", str(config), "--by", "pr")
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"{model_label} -> negative" in result.stdout
    assert alert_paths(webhook.alerts, site.url) == EXPECTED_ALERT_URLS | {"/products/sony-wh-1000xm5.html#review-s1"}
    sentiment = stored(es_url, index_prefix)[praised]["sentiment"]
    assert sentiment["label"] == "negative" and sentiment["corrected"] and sentiment["model_label"] == model_label

    # And a complaint the model got wrong the other way: a re-crawl keeps the team's label.
    broken = ids["/products/sony-wh-1000xm5.html#review-s2"]
    assert kuchikomi("sentiment", "correct", broken, "positive", "--config", str(config)).returncode == 0
    # --refresh: the pages are unchanged, and would otherwise not be processed again at all.
    again = kuchikomi("crawl", "--config", str(config), "--refresh", "--log-level", "WARNING")
    assert again.returncode == 0, again.stderr[-3000:]
    assert "2 as corrected by the team" in again.stdout
    after = stored(es_url, index_prefix)
    assert after[broken]["sentiment"]["label"] == "positive"
    assert after[praised]["sentiment"]["label"] == "negative"
    assert after[praised]["sentiment"]["model_label"] == model_label
    assert len(webhook.alerts) == len(EXPECTED_ALERT_URLS) + 1  # each alert once, re-crawl or not

    # Two corrections are read for training, and are too few to judge a new head on.
    train = kuchikomi("sentiment", "train", "--config", str(config))
    assert train.returncode == 2
    assert "2 corrections from Elasticsearch" in train.stderr and "held out" in train.stderr


def test_correcting_an_unknown_review_names_it(tmp_path, site, es_url, index_prefix, webhook, kuchikomi_home):
    config = monitor_config(tmp_path, site.url, es_url, index_prefix, webhook.url)
    result = kuchikomi("sentiment", "correct", "no-such-review", "negative", "--config", str(config))
    assert result.returncode == 2
    assert "no-such-review" in result.stderr and "Traceback" not in result.stderr


def classify_version(text="ok"):
    result = kuchikomi("sentiment", "classify", input=text + "\n")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["model_version"]


def test_train_switches_to_a_better_head_and_keeps_the_current_one_otherwise(tmp_path, shared, kuchikomi_home):
    marc = shared / "data" / "sentiment" / "marc"
    data = [arg for language in ("en", "ja", "zh") for arg in ("--data", str(marc / f"trainpool_{language}.csv"))]
    before = classify_version()
    result = kuchikomi("sentiment", "train", *data, "--split", "train", "--limit", "150")
    assert result.returncode == 0, result.stderr[-3000:]
    line = next(line for line in result.stdout.splitlines() if line.startswith("held-out accuracy"))
    accuracy_before, accuracy_after = (float(part.split()[0]) for part in line.split("before")[1].split(", after"))
    assert accuracy_after >= accuracy_before and "switched the default model" in result.stdout
    switched = classify_version()
    assert switched != before

    # A file whose training rows have their labels reversed (the held-out rows are right) makes
    # a head that is worse on the held-out rows: it is not used.
    flipped = tmp_path / "flipped.csv"
    swap = {"negative": "positive", "positive": "negative", "neutral": "neutral"}
    with open(flipped, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label", "language"])
        for language in ("en", "ja", "zh"):
            for row in read_rows(marc / f"trainpool_{language}.csv", "train", 150):
                writer.writerow([row.text, row.label if is_held_out(row.text) else swap[row.label], row.language])
    worse = kuchikomi("sentiment", "train", "--data", str(flipped))
    assert worse.returncode == 0, worse.stderr[-3000:]
    assert "current model stays in use" in worse.stdout
    assert classify_version() == switched
