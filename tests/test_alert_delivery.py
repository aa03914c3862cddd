"""Delivery guarantees on a real Elasticsearch node and a real local webhook receiver."""
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest
from elasticsearch import Elasticsearch

from alerts.dispatch import AlertDispatcher
from alerts.rules.base import iso
from alerts.state import DeliveryState
from foundations.ports import free_port
from tests.support.cli import kuchikomi
from tests.support.receivers import WebhookReceiver

NOW = datetime(2026, 11, 24, 3, 0, tzinfo=timezone.utc)


def item(n: int, product: str = "WH-1000XM5", brand: str = "Sony", site: str = "shop.example") -> dict:
    return {"doc_id": f"doc-{n}", "source": "shop", "site": site, "source_url": f"https://{site}/p/{n}",
            "item_name": product, "brands": [brand], "title": f"Broken #{n}", "body": f"Stopped working ({n})",
            "language": "en", "sentiment": {"label": "negative", "score": 0.95},
            "rating": {"value": 1.0, "best": 5.0, "worst": 1.0, "normalized": 0.0},
            "fetched_at": iso(NOW - timedelta(seconds=1))}


def make_dispatcher(es_url, prefix, hook_url, rule=None, delivery=None, hook=None):
    client = Elasticsearch([es_url])
    config = {"channels": {"hook": {"type": "webhook", "url": hook_url, "attempts": 1, **(hook or {})}},
              "rules": [{"name": "neg", "type": "negative_brand", "channels": ["hook"], **(rule or {})}],
              "delivery": delivery or {}}
    return AlertDispatcher(config, DeliveryState(client, f"{prefix}-alerts"), client=client,
                           reviews_index=f"{prefix}-reviews")


def submit_all(dispatcher, items, now=NOW):
    """Record the alerts of these reviews; the claims this dispatcher won."""
    claims = [dispatcher.submit(alert, now) for it in items for alert in dispatcher.evaluate(it, now)]
    return [claim for claim in claims if claim is not None]


@pytest.fixture
def receiver():
    hook = WebhookReceiver()
    yield hook
    hook.close()


def test_each_alert_is_sent_once_across_recrawls_and_concurrent_workers(es_url, index_prefix, receiver):
    items = [item(n) for n in range(20)]
    workers = [make_dispatcher(es_url, index_prefix, receiver.url) for _ in range(3)]

    def concurrently(task):
        threads = [threading.Thread(target=task, args=(w,)) for w in workers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    concurrently(lambda dispatcher: dispatcher.deliver_claimed(submit_all(dispatcher, items), NOW))
    ids = [alert["doc_id"] for alert in receiver.alerts]
    assert sorted(ids) == sorted(f"doc-{n}" for n in range(20))  # every one, none twice
    # All workers sweeping for due alerts at once, and a re-crawl, send nothing more.
    workers[0].state.client.indices.refresh(index=workers[0].state.index)
    concurrently(lambda dispatcher: dispatcher.deliver_due(NOW + timedelta(minutes=5)))
    assert submit_all(workers[0], items) == []
    assert len(receiver.alerts) == 20


def test_a_channel_that_fails_three_times_then_recovers_delivers_exactly_once(es_url, index_prefix):
    flaky = WebhookReceiver(fail_first=3)
    try:
        dispatcher = make_dispatcher(es_url, index_prefix, flaky.url, hook={"attempts": 4, "backoff": 0.05})
        assert dispatcher.deliver_claimed(submit_all(dispatcher, [item(1)]), NOW)["delivered"] == 1
        assert flaky.attempts == 4 and len(flaky.alerts) == 1
        assert dispatcher.deliver_due(NOW + timedelta(hours=1))["delivered"] == 0
        assert len(flaky.alerts) == 1
    finally:
        flaky.close()


def monitor_file(tmp_path, es_url, prefix, hook_url, delivery="{max_attempts: 2, retry_backoff: 0}", rule=""):
    path = tmp_path / "monitor.yaml"
    path.write_text(f"""
brands: [{{name: Sony}}]
sources: [{{name: shop, start_urls: ["http://127.0.0.1/"]}}]
elasticsearch: {{url: "{es_url}", index_prefix: {prefix}}}
alerts:
  channels:
    hook: {{type: webhook, url: "{hook_url}", attempts: 1}}
  rules:
    - {{name: neg, type: negative_brand, channels: [hook]{rule}}}
  delivery: {delivery}
""", encoding="utf-8")
    return path


cli = kuchikomi


def test_dead_letters_are_listed_and_resent_by_retry(tmp_path, es_url, index_prefix, kuchikomi_home):
    port = free_port()
    config = monitor_file(tmp_path, es_url, index_prefix, f"http://127.0.0.1:{port}/hook")
    dispatcher = make_dispatcher(es_url, index_prefix, f"http://127.0.0.1:{port}/hook",
                                 delivery={"max_attempts": 2, "retry_backoff": 0})
    assert dispatcher.deliver_claimed(submit_all(dispatcher, [item(1), item(2)]))["failed"] == 2
    assert dispatcher.deliver_due()["dead"] == 2  # second attempt was the last
    assert dispatcher.deliver_due()["dead"] == 0  # dead letters wait for a person

    listed = cli("alerts", "list", "--failed", "--config", str(config))
    assert listed.returncode == 0, listed.stderr
    lines = [line for line in listed.stdout.splitlines() if not line.startswith(" ")]
    assert len(lines) == 2 and all(" dead " in line for line in lines)
    assert "attempts 2, last error: hook: webhook hook (http://127.0.0.1" in listed.stdout

    fixed = WebhookReceiver(port=port)
    try:
        retried = cli("alerts", "retry", "--config", str(config))
        assert retried.returncode == 0, retried.stderr
        assert "2 alerts queued again: 2 delivered" in retried.stdout
        assert sorted(a["doc_id"] for a in fixed.alerts) == ["doc-1", "doc-2"]
        assert cli("alerts", "retry", "--config", str(config)).stdout.startswith("0 alerts queued again")
        assert len(fixed.alerts) == 2
    finally:
        fixed.close()


KILLED_WORKER = """
import os, signal, sys
from datetime import datetime, timezone
sys.path.insert(0, {root!r})
from tests.test_alert_delivery import item, make_dispatcher
dispatcher = make_dispatcher({es_url!r}, {prefix!r}, {hook!r}, delivery={{"lease": 1}})
[alert] = dispatcher.evaluate(item(7))
claim = dispatcher.submit(alert)
if {lease!r}:
    assert dispatcher.state.lease(claim, datetime.now(timezone.utc), 1, "doomed")
os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.slow
@pytest.mark.parametrize("stage", ["matched", "sending"])
def test_a_worker_killed_before_delivery_is_delivered_after_restart_once(tmp_path, es_url, index_prefix,
                                                                         receiver, kuchikomi_home, stage):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    script = KILLED_WORKER.format(root=root, es_url=es_url, prefix=index_prefix, hook=receiver.url,
                                  lease=stage == "sending")
    killed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert receiver.received == []

    config = monitor_file(tmp_path, es_url, index_prefix, receiver.url, delivery="{lease: 1}")
    time.sleep(1.2)  # an alert due at once is created leased to its worker: the dead worker's lease runs out
    for _ in range(2):
        result = cli("alerts", "run", "--config", str(config))
        assert result.returncode == 0, result.stderr
    assert [alert["doc_id"] for alert in receiver.alerts] == ["doc-7"]


def test_a_burst_about_one_product_becomes_one_message(es_url, index_prefix, receiver):
    dispatcher = make_dispatcher(es_url, index_prefix, receiver.url,
                                 rule={"group_by": ["item_name"], "group_window": "2m"})
    burst = [item(n) for n in range(4)] + [item(9, product="Other headphones")]
    submit_all(dispatcher, burst[:2], NOW)
    submit_all(dispatcher, burst[2:], NOW + timedelta(seconds=30))
    assert dispatcher.deliver_due(NOW + timedelta(seconds=60))["delivered"] == 0  # still collecting
    assert dispatcher.deliver_due(NOW + timedelta(minutes=3))["delivered"] == 5
    by_count = sorted(receiver.received, key=lambda message: message["count"])
    assert [m["count"] for m in by_count] == [1, 4]
    assert {a["doc_id"] for a in by_count[1]["alerts"]} == {f"doc-{n}" for n in range(4)}
    assert by_count[1]["headline"].startswith("4 alerts (neg): Negative review of Sony")


def test_realert_holds_later_alerts_of_a_brand_and_sends_them_together(es_url, index_prefix, receiver):
    dispatcher = make_dispatcher(es_url, index_prefix, receiver.url, rule={"group_by": ["brand"], "realert": "1h"})
    dispatcher.deliver_claimed(submit_all(dispatcher, [item(1)], NOW), NOW)
    assert len(receiver.received) == 1
    submit_all(dispatcher, [item(2)], NOW + timedelta(minutes=10))
    submit_all(dispatcher, [item(3)], NOW + timedelta(minutes=20))
    assert dispatcher.deliver_due(NOW + timedelta(minutes=30))["delivered"] == 0
    assert dispatcher.deliver_due(NOW + timedelta(minutes=61))["delivered"] == 2
    assert [m["count"] for m in receiver.received] == [1, 2]


def test_quiet_hours_hold_alerts_until_morning(es_url, index_prefix, receiver):
    dispatcher = make_dispatcher(es_url, index_prefix, receiver.url, rule={
        "quiet_hours": {"start": "22:00", "end": "07:00", "timezone": "Asia/Tokyo"}})
    night = datetime(2026, 11, 24, 16, 0, tzinfo=timezone.utc)  # 01:00 in Tokyo
    submit_all(dispatcher, [item(1)], night)
    assert dispatcher.deliver_due(night + timedelta(hours=5))["delivered"] == 0   # 06:00
    assert dispatcher.deliver_due(night + timedelta(hours=6, minutes=1))["delivered"] == 1  # 07:01
    assert len(receiver.alerts) == 1


def test_acknowledged_alerts_are_not_sent(tmp_path, es_url, index_prefix, kuchikomi_home):
    port = free_port()
    config = monitor_file(tmp_path, es_url, index_prefix, f"http://127.0.0.1:{port}/hook")
    dispatcher = make_dispatcher(es_url, index_prefix, f"http://127.0.0.1:{port}/hook")
    assert dispatcher.deliver_claimed(submit_all(dispatcher, [item(1)]))["failed"] == 1
    [record] = dispatcher.state.list()
    acked = cli("alerts", "ack", record["alert_id"][:12], "--by", "pr-team", "--config", str(config))
    assert acked.returncode == 0 and "acknowledged" in acked.stdout, acked.stderr
    back = WebhookReceiver(port=port)
    try:
        cli("alerts", "run", "--config", str(config))
        assert back.received == []
        assert dispatcher.state.get(record["alert_id"])["acknowledged_by"] == "pr-team"
    finally:
        back.close()


def test_alerts_test_sends_a_sample_to_the_rule_channels(tmp_path, es_url, index_prefix, receiver,
                                                         kuchikomi_home):
    config = monitor_file(tmp_path, es_url, index_prefix, receiver.url)
    result = cli("alerts", "test", "neg", "--config", str(config))
    assert result.returncode == 0 and "hook: delivered" in result.stdout, result.stderr
    assert receiver.alerts[0]["headline"] == "Test alert from kuchikomi rule neg"
    missing = cli("alerts", "test", "nope", "--config", str(config))
    assert missing.returncode == 2 and "no alert rule named 'nope' (rules: neg)" in missing.stderr


def test_reviews_seen_while_elasticsearch_is_down_are_alerted_on_the_next_run(tmp_path, es_url, index_prefix,
                                                                                receiver, kuchikomi_home):
    import asyncio

    from scrapy.utils.test import get_crawler

    from kuchikomi.config import load_monitor
    from kuchikomi.crawl import monitor_sections
    from pipelines.alert import AlertPipeline
    sections = monitor_sections(load_monitor(monitor_file(tmp_path, es_url, index_prefix, receiver.url)))

    async def crawl(es_down: bool):
        pipeline = AlertPipeline.from_crawler(get_crawler(settings_dict=sections))
        await pipeline.open_spider()
        if es_down:  # Elasticsearch goes away after the crawl started
            dead = Elasticsearch([f"http://127.0.0.1:{free_port()}"], max_retries=0)
            pipeline.dispatcher.client = pipeline.dispatcher.state.client = dead
            assert await pipeline.process_item(item(5)) == item(5)  # the item itself goes on
        await pipeline.close_spider()

    asyncio.run(crawl(es_down=True))
    assert receiver.received == [] and (kuchikomi_home / "spool").is_dir()
    asyncio.run(crawl(es_down=False))
    assert [alert["doc_id"] for alert in receiver.alerts] == ["doc-5"]
    asyncio.run(crawl(es_down=False))
    assert len(receiver.alerts) == 1
