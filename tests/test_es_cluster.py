"""Issue 22: Elasticsearch as a cluster. Shards and replicas of the indices kuchikomi creates, a list of node URLs
(one down is skipped), and a real three-node cluster of the shipped build on 127.0.0.1 losing a node mid-crawl."""
from __future__ import annotations

import collections
import json
import os
import signal
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.error import HTTPError
from urllib.request import Request, urlopen

import pytest
import yaml
from elasticsearch import Elasticsearch

from foundations.ports import free_port
from index.storage.client import connect
from index.storage.schema import ensure_alerts_index, ensure_reviews_index, write_index
from index.storage.writer import BulkWriter
from tests.support.cli import kuchikomi, kuchikomi_process
from tests.support.nodes import own_cluster
from tests.test_hardening_data import review_page, serve
from tests.test_index_schema import review, stored_ids

PAGES = 150
KILL_AFTER = 40  # reviews stored when the node is killed


def monitor(tmp_path, elasticsearch: dict, **sections) -> str:
    path = tmp_path / "monitor.yaml"
    path.write_text(yaml.safe_dump({"elasticsearch": elasticsearch,
                                    "sources": [{"name": "unused", "start_urls": ["http://127.0.0.1:9/"]}],
                                    **sections}))
    return str(path)


def index_settings(client: Elasticsearch, index: str) -> tuple[int, int]:
    settings = next(iter(client.indices.get_settings(index=index).values()))["settings"]["index"]
    return int(settings["number_of_shards"]), int(settings["number_of_replicas"])


def test_shards_and_replicas_apply_to_every_index_kuchikomi_creates(es_url, index_prefix):
    client = connect({"url": es_url, "shards": 2, "replicas": 1})
    alias = ensure_reviews_index(client, index_prefix)
    alerts = ensure_alerts_index(client, f"{index_prefix}-alerts")
    assert index_settings(client, write_index(client, alias)) == (2, 1)
    assert index_settings(client, alerts) == (2, 1)
    # New indices behind the alias (rollover, migration) take them from the template.
    new_index = client.indices.rollover(alias=alias)["new_index"]
    assert index_settings(client, new_index) == (2, 1)
    # Replicas change in place on existing indices when the config changes; shards only on new ones.
    fewer = connect({"url": es_url, "replicas": 0})
    ensure_reviews_index(fewer, index_prefix)
    ensure_alerts_index(fewer, alerts)
    assert index_settings(client, new_index) == (2, 0)
    assert index_settings(client, alerts) == (2, 0)


def test_without_shards_and_replicas_the_indices_are_as_before(es_url, index_prefix):
    client = connect({"url": es_url})
    alias = ensure_reviews_index(client, index_prefix)
    assert index_settings(client, write_index(client, alias)) == (1, 0)
    assert index_settings(client, ensure_alerts_index(client, f"{index_prefix}-alerts")) == (1, 0)


def test_es_status_shows_the_configured_server_and_its_nodes(es_url, tmp_path):
    result = kuchikomi("es", "status", "-c", monitor(tmp_path, {"url": es_url}))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Elasticsearch 7.9.2: cluster kuchikomi-local ") and ", 1 nodes," in lines[0]
    assert lines[1].split() == ["name", "http_address", "node.role", "master"]
    assert lines[3].split()[0] == "kuchikomi-local" and lines[3].split()[-1] == "*"


def test_url_list_shards_and_replicas_are_checked_with_clear_errors(tmp_path):
    path = monitor(tmp_path, {"url": ["http://127.0.0.1:9200", "es2:9200"], "shards": 0, "replicas": "one"})
    result = kuchikomi("config", "check", path)
    assert result.returncode == 2
    assert "elasticsearch.url[1]: 'es2:9200' does not match '^https?://'" in result.stderr
    assert "elasticsearch.shards: 0 is less than the minimum of 1" in result.stderr
    assert "elasticsearch.replicas: 'one' is not of type 'integer'" in result.stderr
    assert "Traceback" not in result.stderr
    assert kuchikomi("config", "check", monitor(tmp_path, {"url": []})).returncode == 2


def test_a_node_that_is_down_is_skipped_and_nothing_is_lost(es_url, index_prefix, tmp_path):
    down = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    client = connect({"url": [down, es_url]})
    alias = ensure_reviews_index(client, index_prefix)
    writer = BulkWriter(client, alias, tmp_path / "spool.jsonl", backoff=0.05)
    docs = [review(n) for n in range(50)]
    for start in range(0, 50, 10):  # several requests, so the dead node's turn comes round
        assert set(writer.write(docs[start:start + 10]).values()) == {None}
    assert sorted(stored_ids(Elasticsearch([es_url]), alias)) == sorted(doc["doc_id"] for doc in docs)
    assert not (tmp_path / "spool.jsonl").exists()
    result = kuchikomi("index", "status", "-c", monitor(tmp_path, {"url": [down, es_url],
                                                                   "index_prefix": index_prefix}))
    assert result.returncode == 0, result.stderr
    assert "50" in result.stdout


@pytest.fixture(scope="module")
def cluster():
    with own_cluster(3) as nodes:
        yield nodes


def http_connections_opened(url: str) -> int:
    with urlopen(f"{url}/_nodes/_local/stats/http", timeout=10) as reply:
        return next(iter(json.load(reply)["nodes"].values()))["http"]["total_opened"]


@pytest.mark.slow
def test_sniffing_finds_every_node_of_the_cluster(cluster):
    client = connect({"url": cluster[0][1], "sniff": True})
    assert sorted(connection.host for connection in client.transport.connection_pool.connections) == \
        sorted(url for _, url in cluster)
    assert len(connect({"url": cluster[0][1]}).transport.connection_pool.connections) == 1  # off by default


@pytest.mark.slow
def test_a_node_leaving_the_cluster_mid_crawl_loses_nothing(cluster, tmp_path, kuchikomi_home):
    """Three nodes, indices with a replica of each shard; the node holding a primary of the reviews index is
    killed (SIGKILL) once KILL_AFTER reviews are stored. Every review is stored once, search still answers."""
    urls = [url for _, url in cluster]
    pages = {f"/p/{n}": review_page([{"author": f"user{n}", "body": f"Review number {n}: fine headphones."}],
                                    f"/p/{n + 1}" if (n + 1) % 15 else None) for n in range(PAGES)}
    log: list = []
    site = serve(pages, log)
    prefix = "cluster"
    path = monitor(tmp_path, {"url": urls, "index_prefix": prefix, "shards": 2, "replicas": 1},
                   sources=[{"name": "shop", "start_urls": [f"{site.url}/p/{n}" for n in range(0, PAGES, 15)]}],
                   crawl={"autothrottle_start_delay": 0, "download_delay": 0.05,
                          "concurrent_requests_per_domain": 2})
    status = kuchikomi("es", "status", "-c", path)
    assert status.returncode == 0, status.stderr
    assert "Elasticsearch 7.9.2: cluster kuchikomi-test-" in status.stdout and ", 3 nodes," in status.stdout
    assert sorted(line.split()[-1] for line in status.stdout.splitlines()[3:]) == ["*", "-", "-"]  # one master
    before = [http_connections_opened(url) for url in urls]
    killed: dict = {}

    def kill_a_primary_holder():
        client, deadline = Elasticsearch(urls), time.monotonic() + 300
        while time.monotonic() < deadline:
            if client.indices.exists(index=f"{prefix}-reviews"):
                client.indices.refresh(index=f"{prefix}-reviews")
                killed["stored"] = client.count(index=f"{prefix}-reviews")["count"]
                if killed["stored"] >= KILL_AFTER:
                    break
            time.sleep(0.5)
        killed["opened"] = [http_connections_opened(url) - count for url, count in zip(urls, before)]
        with urlopen(f"{urls[0]}/_cat/shards/{prefix}-reviews-*?format=json&h=node,prirep", timeout=10) as reply:
            holder = next(shard["node"] for shard in json.load(reply) if shard["prirep"] == "p")
        node, url = next((node, url) for node, url in cluster if node.home.name.startswith(
            f"kuchikomi-test-es-{holder}-"))
        killed["url"] = url
        os.killpg(node.state()["pid"], signal.SIGKILL)

    killer = threading.Thread(target=kill_a_primary_holder)
    killer.start()
    try:
        result = kuchikomi_process("crawl", "-c", path, "--log-level", "WARNING", timeout=400)
    finally:
        killer.join()
        site.close()
    assert result.returncode == 0, result.stderr[-3000:]
    # The client's failed requests to the dead node are logged in one line each, without tracebacks.
    assert "Connection refused" in result.stderr and "Traceback" not in result.stderr, result.stderr[-3000:]
    assert KILL_AFTER <= killed["stored"] < PAGES  # the node went while the crawl was writing
    # Every node given was written to (round robin over the list): each opened connections beyond our own.
    assert all(opened >= 2 for opened in killed["opened"]), killed["opened"]
    survivors = [url for url in urls if url != killed["url"]]
    client = Elasticsearch(survivors)
    client.indices.refresh(index=f"{prefix}-reviews")
    hits = client.search(index=f"{prefix}-reviews", body={"size": PAGES + 10, "_source": ["author"]})["hits"]["hits"]
    authors = collections.Counter(hit["_source"]["author"] for hit in hits)
    assert len(authors) == PAGES and set(authors.values()) == {1}
    assert f"source shop: {PAGES} pages" in result.stdout and f"{PAGES} reviews indexed" in result.stdout, \
        result.stdout
    # Search through the CLI with the full list (the dead node first) still answers.
    found = kuchikomi("search", "author:user17", "-c", path, "--format", "jsonl")
    assert found.returncode == 0, found.stderr
    assert json.loads(found.stdout.splitlines()[0])["author"] == "user17"
    assert ", 2 nodes," in kuchikomi("es", "status", "-c", path).stdout


class Gateway:
    """A proxy in front of the node, as Elastic Cloud and AWS put one: it answers the first `failures` bulk
    requests with 502 Bad Gateway (a node leaving behind it), then forwards everything."""

    def __init__(self, es_url: str, failures: int):
        self.failures = failures
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def forward(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)) or None
                if self.path.split("?")[0].endswith("/_bulk") and gateway.failures > 0:
                    gateway.failures -= 1
                    status, payload, media = 502, b"Bad Gateway", "text/plain"
                else:
                    request = Request(es_url + self.path, data=body, method=self.command,
                                      headers={"Content-Type": self.headers.get("Content-Type", "application/json")})
                    try:
                        with urlopen(request, timeout=30) as reply:
                            status, payload, media = reply.status, reply.read(), reply.headers["Content-Type"]
                    except HTTPError as error:
                        status, payload, media = error.code, error.read(), error.headers["Content-Type"]
                self.send_response(status)
                self.send_header("Content-Type", media)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = forward

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_bad_gateway_answers_from_a_proxy_in_front_of_the_cluster_are_retried(es_url, index_prefix, tmp_path):
    """The client retries a 502 three times at once; a node leaving behind a proxy takes longer, so the writer
    waits and tries the batch again instead of counting it refused."""
    alias = ensure_reviews_index(Elasticsearch([es_url]), index_prefix)
    gateway = Gateway(es_url, failures=5)
    try:
        writer = BulkWriter(connect({"url": gateway.url}), alias, tmp_path / "spool.jsonl", backoff=0.05)
        docs = [review(n) for n in range(20)]
        assert set(writer.write(docs).values()) == {None}
    finally:
        gateway.close()
    assert gateway.failures == 0
    assert sorted(stored_ids(Elasticsearch([es_url]), alias)) == sorted(doc["doc_id"] for doc in docs)
    assert not (tmp_path / "spool.jsonl").exists()
