"""The reviews index over time on real nodes: migration without downtime, rollover, retention, outages."""
import asyncio
import threading
from datetime import datetime, timezone
from pathlib import Path

import pytest
import yaml
from elasticsearch import Elasticsearch
from scrapy.utils.test import get_crawler

from index.storage.schema import SchemaError, apply_retention, backing_indices, ensure_reviews_index, rollover, \
    template_body
from index.storage.writer import SPOOLED, BulkWriter
from pipelines.index import ElasticsearchPipeline
from tests.support.cli import kuchikomi
from tests.support.nodes import own_node
from tests.support.research_corpus import DOCUMENTS


def review(number: int, published: str = "2024-05-01", title: str = "first", fetched: str = "2024-06-01") -> dict:
    return {"doc_id": f"doc-{number:05d}", "source": "bench", "site": "reviews.example.com",
            "source_url": f"https://reviews.example.com/{number}", "title": title, "body": f"review {number}",
            "published_at": f"{published}T00:00:00+00:00", "fetched_at": f"{fetched}T00:00:00+00:00",
            "language": "en", "brands": [], "sentiment": {"label": "positive", "score": 0.9}}


def stored_ids(client, alias) -> list[str]:
    client.indices.refresh(index=alias)
    reply = client.search(index=alias, body={"query": {"match_all": {}}, "_source": False, "size": 10000})
    return [hit["_id"] for hit in reply["hits"]["hits"]]


def legacy_v1_index(client, prefix: str, docs: list[dict]) -> str:
    """What an earlier kuchikomi created: one `-v1` index, schema 1 (no `date`), a catch-all template."""
    body = template_body(prefix)
    body["mappings"]["_meta"] = {"schema_version": 1}
    del body["mappings"]["properties"]["date"]
    for name in ("title", "body", "item_name"):
        body["mappings"]["properties"][name].pop("fields", None)
    body["index_patterns"] = [f"{prefix}-reviews-*"]
    client.indices.put_template(name=f"{prefix}-reviews", body=body)
    client.indices.create(index=f"{prefix}-reviews-v1", body={"aliases": {f"{prefix}-reviews": {}}})
    for doc in docs:
        client.index(index=f"{prefix}-reviews", id=doc["doc_id"], body=doc)
    client.indices.refresh(index=f"{prefix}-reviews")
    return f"{prefix}-reviews"


def monitor_config(tmp_path, es_url, prefix, **elasticsearch) -> Path:
    config = tmp_path / "monitor.yaml"
    config.write_text(yaml.safe_dump({
        "elasticsearch": {"url": es_url, "index_prefix": prefix, **elasticsearch},
        "sources": [{"name": "unused", "start_urls": ["http://127.0.0.1:9/"]}]}))
    return config


def cli(*args, expect: int = 0):
    result = kuchikomi(*args)
    assert result.returncode == expect, result.stderr
    return result


def test_migrate_reindexes_behind_the_alias_while_searches_go_on(es_url, index_prefix, tmp_path):
    client = Elasticsearch([es_url])
    alias = legacy_v1_index(client, index_prefix, DOCUMENTS)
    config = str(monitor_config(tmp_path, es_url, index_prefix))
    with pytest.raises(SchemaError, match="kuchikomi index migrate"):
        ensure_reviews_index(client, index_prefix)
    refused = cli("crawl", "-c", config, expect=2)
    assert "schema version 1" in refused.stderr and "run `kuchikomi index migrate`" in refused.stderr
    counts, errors, stop = [], [], threading.Event()

    def search_meanwhile():
        reader = Elasticsearch([es_url])
        while not stop.is_set():
            try:
                counts.append(reader.count(index=alias, body={"query": {"match": {"body": "battery"}}})["count"])
            except Exception as exc:  # noqa: BLE001 - any failure here is downtime
                errors.append(exc)

    reader = threading.Thread(target=search_meanwhile)
    reader.start()
    try:
        migrated = cli("index", "migrate", "-c", config)
    finally:
        stop.set()
        reader.join()
    assert not errors and counts and set(counts) == {4}  # never a failed or empty answer
    target = f"{index_prefix}-reviews-v2-000001"
    assert f"copied {len(DOCUMENTS)} documents" in migrated.stderr
    assert backing_indices(client, alias) == {target: {"write": True, "version": 2}}
    assert not client.indices.exists(index=f"{alias}-v1")
    assert sorted(stored_ids(client, alias)) == sorted(d["doc_id"] for d in DOCUMENTS)
    # The migration filled the new `date` field, so date filters see the old reviews.
    undated = client.count(index=alias, body={"query": {"bool": {"must_not": {"exists": {"field": "date"}}}}})
    assert undated["count"] == 0
    assert ensure_reviews_index(client, index_prefix) == alias
    assert "already has schema version 2" in cli("index", "migrate", "-c", config).stderr


def test_rollover_keeps_every_review_once(es_url, index_prefix, tmp_path):
    client = Elasticsearch([es_url])
    alias = ensure_reviews_index(client, index_prefix)
    writer = BulkWriter(client, alias, tmp_path / "spool.jsonl")
    writer.write([review(n) for n in range(10)])
    client.indices.refresh(index=alias)
    assert rollover(client, index_prefix, {"max_docs": 1000}) is None  # condition not met
    new_index = rollover(client, index_prefix, {"max_docs": 10})
    assert new_index == f"{index_prefix}-reviews-v2-000002"
    # A re-crawl brings reviews 5-9 again (changed) and 10-14 new.
    writer.write([review(n, title="second", fetched="2024-06-02") for n in range(5, 15)])
    ids = stored_ids(client, alias)
    assert len(ids) == len(set(ids)) == 15
    client.indices.refresh(index=alias)
    old = client.search(index=f"{index_prefix}-reviews-v2-000001", body={"query": {"match": {"title": "second"}}})
    assert old["hits"]["total"]["value"] == 5  # updated where they were stored, not copied forward
    # Another rollover, made elsewhere (cron) while this writer thinks 000002 takes the writes.
    Elasticsearch([es_url]).indices.rollover(alias=alias)
    writer.write([review(n, title="third", fetched="2024-06-03") for n in range(0, 20)])
    ids = stored_ids(client, alias)
    assert len(ids) == len(set(ids)) == 20
    counts = {name: client.count(index=name)["count"] for name in sorted(backing_indices(client, alias))}
    assert list(counts.values()) == [10, 5, 5]  # 0-9, 10-14, and only the new 15-19 in the newest
    assert client.count(index=alias, body={"query": {"match": {"title": "third"}}})["count"] == 20


def test_an_older_copy_never_replaces_a_newer_one(es_url, index_prefix, tmp_path):
    """A spool replayed late, or the slower of two concurrent bulk requests, carries an older fetch."""
    client = Elasticsearch([es_url])
    alias = ensure_reviews_index(client, index_prefix)
    writer = BulkWriter(client, alias, tmp_path / "spool.jsonl")
    assert writer.write([review(1, title="newer", fetched="2024-06-05")]) == {"doc-00001": None}
    assert writer.write([review(1, title="older", fetched="2024-06-01")]) == {"doc-00001": None}
    assert writer.write([review(1, title="newer", fetched="2024-06-05")]) == {"doc-00001": None}
    client.indices.refresh(index=alias)
    [hit] = client.search(index=alias, body={"query": {"match_all": {}}})["hits"]["hits"]
    assert hit["_source"]["title"] == "newer"


def test_retention_deletes_old_reviews_and_keeps_recent_ones(es_url, index_prefix, tmp_path):
    client = Elasticsearch([es_url])
    alias = ensure_reviews_index(client, index_prefix)
    writer = BulkWriter(client, alias, tmp_path / "spool.jsonl")
    writer.write([review(n, published="2023-01-15") for n in range(5)])
    rollover(client, index_prefix, None, force=True)
    writer.write([review(n, published="2023-02-01") for n in range(5, 8)]
                 + [review(n, published="2024-05-20") for n in range(8, 12)])
    now = datetime(2024, 6, 1, tzinfo=timezone.utc)
    result = apply_retention(client, index_prefix, days=365, now=now)
    assert result["deleted_indices"] == [f"{index_prefix}-reviews-v2-000001"]
    assert result["deleted_documents"] == 3
    assert sorted(stored_ids(client, alias)) == [f"doc-{n:05d}" for n in range(8, 12)]


def test_index_commands_status_rollover_and_maintain(es_url, index_prefix, tmp_path):
    client = Elasticsearch([es_url])
    ensure_reviews_index(client, index_prefix)
    BulkWriter(client, f"{index_prefix}-reviews", tmp_path / "spool.jsonl").write(
        [review(n, published="2020-01-01") for n in range(3)])
    config = str(monitor_config(tmp_path, es_url, index_prefix, rollover={"max_docs": 2}, retention_days=365))
    client.indices.refresh(index=f"{index_prefix}-reviews")
    status = cli("index", "status", "-c", config).stdout
    assert f"{index_prefix}-reviews-v2-000001" in status and "True" in status
    maintained = cli("index", "maintain", "-c", config).stdout
    assert f"rolled over to {index_prefix}-reviews-v2-000002" in maintained
    assert f"deleted indices {index_prefix}-reviews-v2-000001" in maintained
    assert client.count(index=f"{index_prefix}-reviews")["count"] == 0


@pytest.fixture
def restart_node():
    """A node of this test's own, so that stopping it disturbs no other test."""
    with own_node("restart") as (node, url):
        yield node, int(url.rsplit(":", 1)[1])


def test_elasticsearch_stop_and_start_during_indexing_loses_and_duplicates_nothing(restart_node, tmp_path):
    node, port = restart_node
    client = Elasticsearch([f"http://127.0.0.1:{port}"], timeout=5)
    alias = ensure_reviews_index(client, "restart")
    spool = tmp_path / "spool.jsonl"
    writer = BulkWriter(client, alias, spool, attempts=2, backoff=0.1)
    batches = [[review(n) for n in range(start, start + 100)] for start in range(0, 3000, 100)]
    outcome: dict[str, str | None] = {}
    for batch in batches[:10]:
        outcome.update(writer.write(batch))
    stopping = threading.Thread(target=node.stop)
    stopping.start()  # the node goes down while the next batches are being written
    for batch in batches[10:20]:
        outcome.update(writer.write(batch))
    stopping.join()
    for batch in batches[20:25]:  # and it stays down for a while
        outcome.update(writer.write(batch))
    spooled = sum(1 for reason in outcome.values() if reason)
    assert spooled >= 500 and spool.exists()
    assert all(reason is None or reason.startswith(SPOOLED) for reason in outcome.values())
    node.start(port=port)
    # Back up: the next write (new reviews plus a re-crawl of batch 5) also writes what was spooled.
    for batch in batches[25:] + [batches[5]]:
        assert not any(writer.write(batch).values())
    assert writer.replayed == spooled and not spool.exists()
    ids = stored_ids(client, alias)
    assert len(ids) == len(set(ids)) == 3000
    assert set(ids) == {doc["doc_id"] for batch in batches for doc in batch}


def test_client_serializer_stores_model_numbers_dates_and_any_text(es_url, index_prefix, tmp_path):
    """connect() encodes with orjson: NumPy numbers (a model's scores), dates and every script arrive
    as the standard library would have written them; what orjson refuses falls back to it."""
    import numpy as np

    from index.storage.client import FastJSONSerializer, connect
    client = connect({"url": es_url})
    alias = ensure_reviews_index(client, index_prefix)
    doc = {**review(1), "title": "ソニー 索尼 Sony ＳＯＮＹ 🎧", "votes": np.int64(3),
           "sentiment": {"label": "negative", "score": np.float32(0.75), "scores": {"negative": np.float32(0.75)}}}
    assert BulkWriter(client, alias, tmp_path / "spool.jsonl").write([doc]) == {"doc-00001": None}
    client.indices.refresh(index=alias)
    [hit] = client.search(index=alias, body={"query": {"ids": {"values": ["doc-00001"]}}})["hits"]["hits"]
    assert hit["_source"]["title"] == doc["title"] and hit["_source"]["votes"] == 3
    assert hit["_source"]["sentiment"]["score"] == 0.75
    assert FastJSONSerializer().dumps({"at": datetime(2024, 6, 1, tzinfo=timezone.utc), "big": 2 ** 70}) \
        == '{"at":"2024-06-01T00:00:00+00:00","big":1180591620717411303424}'


@pytest.mark.slow
def test_what_a_crawl_wrote_is_searchable_when_it_ends(es_url, index_prefix, kuchikomi_home):
    """The index refreshes only every few seconds while bulk writes pour in; the crawl refreshes it as it ends."""
    stage = ElasticsearchPipeline({"url": es_url, "index_prefix": index_prefix}, stats=get_crawler().stats)

    async def crawl():
        stage.open_spider()
        await asyncio.gather(*(stage.process_item(review(number)) for number in range(20)))
        await stage.close_spider()

    asyncio.run(crawl())
    client = Elasticsearch([es_url])
    alias = f"{index_prefix}-reviews"
    # No refresh here: a search straight after the crawl finds all it wrote.
    assert client.count(index=alias)["count"] == 20
    [settings] = client.indices.get_settings(index=alias).values()
    template = template_body(index_prefix)["settings"]
    assert settings["settings"]["index"]["refresh_interval"] == template["refresh_interval"]
