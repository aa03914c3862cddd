"""Which servers kuchikomi talks to, and how: the version handshake (GET /) and the headers each server then
gets. Elasticsearch 8.x/9.x and OpenSearch are fakes of the handshake only (local HTTP servers that answer
GET / as those servers do and check the media types as Elasticsearch 8/9 do); 7.9.2 is the real node."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import yaml

from index.storage.client import ElasticsearchUnavailable, Server, UnsupportedServer, connect, identify
from tests.support.cli import kuchikomi
from tests.support.servers import LocalServer, html

COMPATIBLE = "application/vnd.elasticsearch+{kind}; compatible-with={version}"


def info(number: str, distribution: str | None = None) -> dict:
    version = {"number": number, **({"distribution": distribution} if distribution else {})}
    return {"name": "node-1", "cluster_name": "fake", "version": version, "tagline": "You Know, for Search"}


class FakeServer:
    """Answers GET / with `answer`, anything else with a small JSON body; records each request's method, path and
    headers. Like Elasticsearch 8 and 9, it refuses a request whose Accept and Content-Type ask for different
    compatible versions, or for one it does not serve (`accepts`: the versions it answers)."""

    def __init__(self, answer: dict, accepts: tuple[int, ...] = ()):
        self.requests: list[tuple[str, str, dict]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def handle_one(self):
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                fake.requests.append((self.command, self.path, {k.lower(): v for k, v in self.headers.items()}))
                status, body, media = fake.reply(self.command, self.path, self.headers, bool(length))
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", media)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = handle_one

            def log_message(self, *args):
                pass

        self.answer, self.accepts = answer, accepts
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def reply(self, method: str, path: str, headers, has_body: bool) -> tuple[int, dict, str]:
        wanted = [self._compatible(headers.get(name)) for name in ("Accept", "Content-Type" if has_body else "Accept")]
        media = "application/json"
        if any(wanted):
            if wanted[0] != wanted[1] or wanted[0] not in self.accepts:
                return 400, {"error": {"type": "media_type_header_exception",
                                       "reason": f"Accept and Content-Type ask for {wanted}"}}, media
            media = COMPATIBLE.format(kind="json", version=wanted[0])
        if path == "/":
            return 200, self.answer, media
        if path.endswith("/_bulk"):
            return 200, {"took": 1, "errors": False, "items": [{"index": {"_id": "1", "status": 201}}]}, media
        return 200, {"took": 1, "hits": {"total": {"value": 0, "relation": "eq"}, "hits": []}}, media

    @staticmethod
    def _compatible(value: str | None) -> int | None:
        if value and "compatible-with=" in value:
            return int(value.split("compatible-with=")[1].strip())
        return None

    def sent(self, path_end: str) -> dict:
        return next(headers for _, path, headers in self.requests if path.split("?")[0].endswith(path_end))

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake():
    servers = []

    def start(answer: dict, accepts: tuple[int, ...] = ()) -> FakeServer:
        servers.append(FakeServer(answer, accepts))
        return servers[-1]
    yield start
    for server in servers:
        server.close()


def search_and_bulk(client) -> dict:
    client.bulk(body='{"index": {"_index": "reviews", "_id": "1"}}\n{"title": "x"}\n')
    return client.search(index="reviews", body={"query": {"match": {"title": "壊れ"}}})


@pytest.mark.parametrize("number, compatible_with", [("8.15.3", 7), ("9.1.0", 8)])
def test_elasticsearch_8_and_9_get_the_compatibility_headers_of_their_previous_major(fake, number, compatible_with):
    server = fake(info(number), accepts=(compatible_with,))
    client = connect({"url": server.url})
    assert client.transport.server == Server("Elasticsearch", number, compatible_with)
    reply = search_and_bulk(client)
    assert reply["hits"]["total"]["value"] == 0  # the versioned media type of the answer is read as JSON
    search, bulk = server.sent("/_search"), server.sent("/_bulk")
    assert search["accept"] == search["content-type"] == COMPATIBLE.format(kind="json", version=compatible_with)
    assert bulk["content-type"] == COMPATIBLE.format(kind="x-ndjson", version=compatible_with)
    assert bulk["accept"] == COMPATIBLE.format(kind="json", version=compatible_with)


def test_the_headers_are_per_client_not_per_process(fake):
    """An 8.x cluster and a 7.x one from the same process: only the 8.x one is sent versioned media types."""
    eight, seven = fake(info("8.15.3"), accepts=(7,)), fake(info("7.17.9"))
    search_and_bulk(connect({"url": eight.url}))
    search_and_bulk(connect({"url": seven.url}))
    assert "compatible-with" in eight.sent("/_search")["accept"]
    assert seven.sent("/_search")["content-type"] == "application/json"
    assert "compatible-with" not in seven.sent("/_search").get("accept", "")


@pytest.mark.parametrize("number", ["2.17.1", "3.0.0"])
def test_opensearch_gets_plain_7x_requests(fake, number):
    """The 7.13 client has no product check (7.14 added one that refuses OpenSearch), so it simply works."""
    server = fake(info(number, distribution="opensearch"))
    client = connect({"url": server.url})
    assert client.transport.server == Server("OpenSearch", number)
    search_and_bulk(client)
    for path in ("/_search", "/_bulk"):
        assert server.sent(path)["content-type"] == "application/json"
        assert "compatible-with" not in server.sent(path).get("accept", "")


def test_the_real_792_node_is_identified_and_sent_plain_requests(es_url):
    client = connect({"url": es_url})
    assert client.transport.server == Server("Elasticsearch", "7.9.2")
    assert client.transport.server.headers("/x/_bulk") == {}
    assert client.search(index="*", body={"size": 0})["timed_out"] is False


@pytest.mark.parametrize("answer, says", [
    (info("6.8.23"), "Elasticsearch 6.8.23 at http://127.0.0.1:"),
    (info("7.8.1"), "Elasticsearch 7.8.1 at http://127.0.0.1:"),
    (info("10.0.0"), "Elasticsearch 10.0.0 at http://127.0.0.1:"),
    (info("4.0.0", distribution="opensearch"), "OpenSearch 4.0.0 at http://127.0.0.1:"),
    ({"ok": True}, "does not answer like Elasticsearch or OpenSearch (GET / gave no version number)"),
])
def test_a_server_kuchikomi_cannot_talk_to_is_one_clear_error(fake, tmp_path, answer, says):
    server = fake(answer)
    config = tmp_path / "monitor.yaml"
    config.write_text(yaml.safe_dump({"elasticsearch": {"url": server.url},
                                      "sources": [{"name": "unused", "start_urls": ["http://127.0.0.1:9/"]}]}))
    result = kuchikomi("index", "status", "-c", str(config))
    assert result.returncode != 0
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert says in result.stderr
    assert "kuchikomi needs Elasticsearch 7.9 to 9.x or OpenSearch 1.x to 3.x" in result.stderr
    assert [path for _, path, _ in server.requests] == ["/"]  # nothing else was sent


def test_a_web_page_instead_of_a_search_server_is_one_clear_error():
    with LocalServer(lambda path, headers: html(b"<h1>router login</h1>")) as page:
        with pytest.raises(ElasticsearchUnavailable, match="GET / is not JSON"):
            connect({"url": page.url})


def test_an_unchecked_client_refuses_an_unsupported_server_at_its_first_request(fake):
    server = fake(info("6.8.23"))
    client = connect({"url": server.url}, check=False)
    with pytest.raises(UnsupportedServer, match="Elasticsearch 6.8.23"):
        client.search(index="reviews", body={})
    assert [path for _, path, _ in server.requests] == ["/"]


def test_identify_reads_serverless_and_snapshot_numbers():
    assert identify(info("8.11.0-SNAPSHOT"), "here").compatible_with == 7
    assert identify(info("7.10.2", distribution="oss"), "here") == Server("Elasticsearch", "7.10.2")
