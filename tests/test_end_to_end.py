"""The whole path on real parts: demo site over HTTP -> crawl -> Elasticsearch -> webhook alerts."""
import json

import pytest
from elasticsearch import Elasticsearch

from crawlers.static_site import DEMO_SITE, StaticSite
from foundations.ports import free_port
from tests.support.cli import kuchikomi, kuchikomi_process
from tests.support.receivers import WebhookReceiver

EXPECTED_REVIEWS = 10  # 6 Sony (two pages, one a buyer's question without stars), 3 Panasonic (microdata), 1 cable
# Negative reviews naming a watched brand; the cable review is negative but names none.
EXPECTED_ALERT_URLS = {"/products/sony-wh-1000xm5.html#review-s2",
                       "/products/sony-wh-1000xm5-page2.html#review-s4",
                       "/products/panasonic-rice-cooker.html"}


def monitor_config(tmp_path, site_url, es_url, prefix, hook_url):
    path = tmp_path / "monitor.yaml"
    path.write_text(f"""
brands:
  - {{name: Sony, aliases: [ソニー, SONY]}}
  - {{name: Panasonic, aliases: [パナソニック]}}
sources:
  - name: demo
    start_urls:
      - {site_url}/products/sony-wh-1000xm5.html
      - {site_url}/products/panasonic-rice-cooker.html
      - {site_url}/products/usb-cable.html
elasticsearch: {{url: "{es_url}", index_prefix: {prefix}}}
alerts:
  channels:
    hook: {{type: webhook, url: "{hook_url}", attempts: 3, backoff: 0.1}}
    file: {{type: jsonl, path: alerts.jsonl}}
  delivery: {{retry_backoff: 0.2, max_attempts: 50}}
  rules:
    - {{name: negative-brand, type: negative_brand, channels: [hook, file]}}
crawl: {{autothrottle_start_delay: 0, download_delay: 0}}
""", encoding="utf-8")
    return path


def crawl(config, env=None, *options):
    return kuchikomi_process("crawl", "--config", str(config), "--log-level", "WARNING", *options, env=env)


def stored(es_url, prefix):
    client = Elasticsearch([es_url])
    client.indices.refresh(index=f"{prefix}-reviews")
    hits = client.search(index=f"{prefix}-reviews", size=100)["hits"]["hits"]
    return {hit["_id"]: hit["_source"] for hit in hits}


def alert_paths(alerts, site_url):
    return {alert["url"].replace(site_url, "") for alert in alerts}


def file_alerts(path):
    return [alert for line in path.read_text().splitlines() for alert in json.loads(line)["alerts"]]


@pytest.fixture
def site():
    with StaticSite(DEMO_SITE) as served:
        yield served


@pytest.mark.slow
def test_crawl_indexes_reviews_and_alerts_once(tmp_path, site, es_url, index_prefix, webhook, kuchikomi_home):
    config = monitor_config(tmp_path, site.url, es_url, index_prefix, webhook.url)
    first = crawl(config)
    assert first.returncode == 0, first.stderr[-3000:]

    docs = stored(es_url, index_prefix)
    assert len(docs) == EXPECTED_REVIEWS
    by_title = {doc["title"]: doc for doc in docs.values()}
    broken = by_title["一週間で故障"]
    assert broken["author"] == "山田太郎" and broken["language"] == "ja"
    assert broken["brands"] == ["Sony"] and broken["site"] == "127.0.0.1"
    assert broken["rating"] == {"value": 1.0, "best": 5.0, "worst": 1.0, "normalized": 0.0}
    assert broken["published_at"] == "2026-10-05T21:40:00+09:00"
    assert broken["item_name"] == "Sony WH-1000XM5 Wireless Noise Cancelling Headphones"
    assert broken["aggregate_rating"]["count"] == 5
    assert broken["sentiment"]["label"] == "negative"
    assert broken["review_url"].endswith("#review-s2")
    assert by_title["Does the job"]["body"] == "They work as described. The case is a little bulky.\n\n" \
                                               "The colour is the same as in the photos."
    assert by_title["Frayed in a week"]["brands"] == []
    assert by_title["普通"]["brands"] == ["Panasonic"]  # named only in the product name

    # A Japanese word from one review finds exactly that review.
    client = Elasticsearch([es_url])
    hits = client.search(index=f"{index_prefix}-reviews",
                         body={"query": {"match_phrase": {"body": "内釜のコーティング"}}})["hits"]["hits"]
    assert [hit["_source"]["title"] for hit in hits] == ["コーティングが剥がれた"]

    assert alert_paths(webhook.alerts, site.url) == EXPECTED_ALERT_URLS
    assert len(webhook.alerts) == len(EXPECTED_ALERT_URLS)
    assert all(alert["brands"] and alert["excerpt"] for alert in webhook.alerts)
    assert alert_paths(file_alerts(tmp_path / "alerts.jsonl"), site.url) == EXPECTED_ALERT_URLS
    # Fetch-to-delivery latency is recorded per alert.
    client.indices.refresh(index=f"{index_prefix}-alerts")
    records = client.search(index=f"{index_prefix}-alerts", size=10)["hits"]["hits"]
    assert len(records) == 3 and all(0 <= r["_source"]["latency_ms"] < 60000 for r in records)

    # Again: every page answers 304, nothing is processed.
    second = crawl(config)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "4 pages (4 unchanged), 0 reviews indexed" in second.stdout
    # And once more processing every page (--refresh): the alerts are recorded already, none is sent again.
    third = crawl(config, None, "--refresh")
    assert third.returncode == 0, third.stderr[-3000:]
    assert stored(es_url, index_prefix).keys() == docs.keys()
    assert len(webhook.alerts) == len(EXPECTED_ALERT_URLS)
    assert len(file_alerts(tmp_path / "alerts.jsonl")) == len(EXPECTED_ALERT_URLS)
    assert "already recorded 3" in third.stdout


@pytest.mark.slow
def test_webhook_that_fails_then_recovers_delivers_each_alert_once(tmp_path, site, es_url, index_prefix,
                                                                  kuchikomi_home):
    flaky = WebhookReceiver(fail_first=2)  # two 500s, then 200s: retried within the run
    try:
        config = monitor_config(tmp_path, site.url, es_url, index_prefix, flaky.url)
        result = crawl(config)
        assert result.returncode == 0, result.stderr[-3000:]
        assert alert_paths(flaky.alerts, site.url) == EXPECTED_ALERT_URLS
        assert len(flaky.alerts) == len(EXPECTED_ALERT_URLS)
    finally:
        flaky.close()


@pytest.mark.slow
def test_alerts_for_an_unreachable_webhook_are_kept_and_sent_on_the_next_run(tmp_path, site, es_url,
                                                                            index_prefix, kuchikomi_home):
    port = free_port()
    config = monitor_config(tmp_path, site.url, es_url, index_prefix, f"http://127.0.0.1:{port}/hook")
    first = crawl(config)
    assert "0 delivered in total, 3 waiting" in first.stdout, first.stdout
    assert len(stored(es_url, index_prefix)) == EXPECTED_REVIEWS  # nothing collected is lost
    # The JSONL channel worked the first time; the retry must not write it again.
    assert len(file_alerts(tmp_path / "alerts.jsonl")) == 3

    receiver = WebhookReceiver(port=port)  # the webhook comes back at the same address
    try:
        second = crawl(config)
        assert second.returncode == 0, second.stderr[-3000:]
        assert alert_paths(receiver.alerts, site.url) == EXPECTED_ALERT_URLS
        assert len(receiver.alerts) == 3
        assert len(file_alerts(tmp_path / "alerts.jsonl")) == 3
    finally:
        receiver.close()


@pytest.mark.slow
def test_elasticsearch_down_is_a_clear_error(tmp_path, site, webhook, kuchikomi_home):
    config = monitor_config(tmp_path, site.url, f"http://127.0.0.1:{free_port()}", "down", webhook.url)
    result = crawl(config)
    assert result.returncode == 2
    assert "is not reachable" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.slow
def test_robots_txt_is_obeyed(tmp_path, es_url, index_prefix, webhook, kuchikomi_home):
    root = tmp_path / "site"
    (root / "private").mkdir(parents=True)
    (root / "robots.txt").write_text("User-agent: *\nDisallow: /private/\n")
    page = (DEMO_SITE / "products" / "usb-cable.html").read_text(encoding="utf-8")
    (root / "public.html").write_text(page, encoding="utf-8")
    (root / "private" / "hidden.html").write_text(page.replace("review-c1", "review-hidden"), encoding="utf-8")
    with StaticSite(root) as site:
        config = tmp_path / "monitor.yaml"
        config.write_text(f"""
sources: [{{name: s, start_urls: ["{site.url}/public.html", "{site.url}/private/hidden.html"]}}]
elasticsearch: {{url: "{es_url}", index_prefix: {index_prefix}}}
crawl: {{autothrottle_start_delay: 0, download_delay: 0}}
""", encoding="utf-8")
        result = crawl(config)
    assert result.returncode == 0, result.stderr[-3000:]
    assert [doc["source_url"] for doc in stored(es_url, index_prefix).values()] == [f"{site.url}/public.html"]
    assert "skipped {'robots_txt': 1}" in result.stdout  # counted in the source's report


@pytest.mark.slow
def test_search_command_finds_japanese_words(tmp_path, site, es_url, index_prefix, webhook, kuchikomi_home):
    config = monitor_config(tmp_path, site.url, es_url, index_prefix, webhook.url)
    assert crawl(config).returncode == 0
    result = kuchikomi("search", "壊れ", "--config", config)
    assert result.returncode == 0, result.stderr
    [line] = result.stdout.splitlines()
    assert "一週間で故障" in line and "rating 1/5" in line and line.startswith("[negative")
    result = kuchikomi("search", "sony -terrible", "--format", "jsonl", "--config", config)
    titles = {json.loads(line)["title"] for line in result.stdout.splitlines()}
    assert "Sony nailed it" in titles and "Stopped charging, support ignored me" not in titles
