"""Connecting to Elasticsearch: a configured cluster by URL (one node or several), else the local node.

The installed client speaks the 7.x REST API. Before its first request it asks the server what it is (GET /),
refuses a server it cannot talk to with one message naming product, version and the supported range, and
sends an Elasticsearch 8.x or 9.x server the REST compatibility headers that make it answer 7.x requests.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass

import orjson
from elasticsearch import Elasticsearch, Transport
from elasticsearch.exceptions import ConnectionError as ESConnectionError, SerializationError, TransportError
from elasticsearch.serializer import JSONSerializer

from index.storage.node import LocalNode

DEFAULT_PREFIX = "kuchikomi"
# What an unreachable, overloaded or failing cluster raises: callers log, count and carry on.
ES_ERRORS = (ESConnectionError, TransportError)
SUPPORTED = "Elasticsearch 7.9 to 9.x or OpenSearch 1.x to 3.x"
# Elasticsearch major version -> the REST API version it is asked to be compatible with. 8.x still answers
# 7.x requests when asked (compatible-with=7); 9.x only understands compatible-with=8, which covers what
# kuchikomi sends (typeless 7.x requests are also valid 8.x requests). 7.9 is the oldest release tested.
COMPATIBLE_WITH = {8: 7, 9: 8}
OLDEST_7 = 9
OPENSEARCH_MAJORS = (1, 2, 3)  # OpenSearch 1.x began as Elasticsearch 7.10.2 and keeps its REST API
# Bodies of these endpoints are newline-delimited JSON: their compatible media type says so.
NDJSON_ENDPOINTS = ("/_bulk", "/_msearch")
# elasticsearch.<key> -> the index setting it sets
INDEX_SETTINGS = {"shards": "number_of_shards", "replicas": "number_of_replicas"}


class OneLineFailures(logging.Filter):
    """The client logs each failed request to a node with its traceback; a node that is down is expected in a
    cluster (the request goes to the next one), so the log says which request and why, in one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            record.msg, record.args = f"{record.getMessage()}: {type(error).__name__}: {error}", ()
            record.exc_info = record.exc_text = None
        return True


logging.getLogger("elasticsearch").addFilter(OneLineFailures())


class ElasticsearchUnavailable(RuntimeError):
    pass


class UnsupportedServer(ElasticsearchUnavailable):
    pass


@dataclass(frozen=True)
class Server:
    """What a server said it is on GET /: product (Elasticsearch or OpenSearch) and version number."""
    product: str
    version: str
    compatible_with: int | None = None

    def headers(self, url: str) -> dict[str, str]:
        """The media types a request to this server carries: none beyond the client's own for a 7.x
        Elasticsearch or OpenSearch (7.9 does not know the versioned types)."""
        if self.compatible_with is None:
            return {}
        kind = "x-ndjson" if url.split("?")[0].endswith(NDJSON_ENDPOINTS) else "json"
        return {"accept": f"application/vnd.elasticsearch+json; compatible-with={self.compatible_with}",
                "content-type": f"application/vnd.elasticsearch+{kind}; compatible-with={self.compatible_with}"}

    def __str__(self) -> str:
        return f"{self.product} {self.version}"


def identify(info: dict, where: str) -> Server:
    """The server behind GET /'s answer, or UnsupportedServer saying what it is and what kuchikomi needs."""
    version = info.get("version") if isinstance(info, dict) else None
    number = version.get("number") if isinstance(version, dict) else None
    found = re.match(r"(\d+)\.(\d+)", number) if isinstance(number, str) else None
    if not found:
        raise UnsupportedServer(f"the server at {where} does not answer like Elasticsearch or OpenSearch "
                                f"(GET / gave no version number); kuchikomi needs {SUPPORTED}")
    major, minor = int(found[1]), int(found[2])
    if version.get("distribution") == "opensearch":
        server = Server("OpenSearch", number)
        supported = major in OPENSEARCH_MAJORS
    else:
        server = Server("Elasticsearch", number, COMPATIBLE_WITH.get(major))
        supported = major in COMPATIBLE_WITH or (major == 7 and minor >= OLDEST_7)
    if not supported:
        raise UnsupportedServer(f"{server} at {where} is not supported: kuchikomi needs {SUPPORTED}")
    return server


class HandshakeTransport(Transport):
    """A transport that learns the server's product and version before its first request and sends each
    request the headers that server needs. Per client, not per process: the client's
    ELASTIC_CLIENT_APIVERSIONING switch is global, and in 7.13 sets only Accept, which 8.x refuses
    unless Content-Type asks for the same version."""

    def __init__(self, hosts, *args, **kwargs):
        super().__init__(hosts, *args, **kwargs)
        self.server: Server | None = None

    def identify(self) -> Server:
        if self.server is None:  # two threads may both ask at first; they learn the same
            where = ", ".join(connection.host for connection in self.connection_pool.connections)
            try:
                info = super().perform_request("GET", "/")
            except SerializationError as exc:  # an HTML page, say: not a search server at all
                raise UnsupportedServer(f"the server at {where} does not answer like Elasticsearch or "
                                        f"OpenSearch (GET / is not JSON); kuchikomi needs {SUPPORTED}") from exc
            self.server = identify(info, where)
        return self.server

    def perform_request(self, method, url, headers=None, params=None, body=None):
        extra = self.identify().headers(url)
        if extra:
            headers = {**extra, **(headers or {})}
        return super().perform_request(method, url, headers=headers, params=params, body=body)


class FastJSONSerializer(JSONSerializer):
    """orjson for the client's requests and replies: a crawl's bulk bodies and their answers, and
    research queries' results, encode and decode several times faster than with the standard
    library, on the same core as the crawl. What orjson refuses (a lone surrogate from a page's
    JSON-LD, an integer beyond 64 bits) goes through the standard encoder as before."""

    def dumps(self, data):
        if isinstance(data, (str, bytes)):
            return data
        try:
            return orjson.dumps(data, default=self.default, option=orjson.OPT_NON_STR_KEYS).decode()
        except orjson.JSONEncodeError:
            return super().dumps(data)

    def loads(self, s):
        try:
            return orjson.loads(s)
        except orjson.JSONDecodeError as exc:
            raise SerializationError(s, exc)


def cluster_urls(es_config: dict) -> list[str]:
    """The configured node URLs (`elasticsearch.url`: one, or a list), else the local node's."""
    configured = es_config.get("url")
    if configured:
        return [configured] if isinstance(configured, str) else list(configured)
    node = LocalNode.default()
    if not node.is_running():
        raise ElasticsearchUnavailable(
            "no Elasticsearch URL is configured (elasticsearch.url) and the local node is not running; "
            "start it with `kuchikomi es start`")
    return [node.url]


def connect(es_config: dict, check: bool = True) -> Elasticsearch:
    """A client of every configured node: requests go round them, and one that fails is retried on the
    next (a node that is down is left alone for a while). With check, the server is identified now and
    an unreachable or unsupported one is an ElasticsearchUnavailable; without, at the first request."""
    urls = cluster_urls(es_config)
    options = {"timeout": es_config.get("timeout", 30), "retry_on_timeout": True,
               "max_retries": max(3, len(urls)), "serializer": FastJSONSerializer(),
               "transport_class": HandshakeTransport}
    if es_config.get("sniff"):
        # Only where kuchikomi reaches the addresses nodes publish (not behind a cloud's proxy).
        options.update(sniff_on_start=True, sniff_on_connection_fail=True, sniffer_timeout=60)
    if es_config.get("api_key"):
        options["api_key"] = es_config["api_key"]
    elif es_config.get("username"):
        options["http_auth"] = (es_config["username"], es_config.get("password", ""))
    if "verify_certs" in es_config:
        options["verify_certs"] = es_config["verify_certs"]
    client = Elasticsearch(urls, **options)
    client.transport.index_settings = {name: es_config[key] for key, name in INDEX_SETTINGS.items()
                                       if key in es_config}
    if check:
        try:
            client.transport.identify()
        except ES_ERRORS as exc:
            raise ElasticsearchUnavailable(f"Elasticsearch at {', '.join(urls)} is not reachable: {exc}") from exc
    return client


def index_settings(client: Elasticsearch) -> dict:
    """The index settings the monitor config asks for (shards, replicas) of the indices kuchikomi creates;
    none for a client not made by `connect`."""
    return getattr(client.transport, "index_settings", {})


def index_prefix(es_config: dict) -> str:
    return es_config.get("index_prefix", DEFAULT_PREFIX)


def reviews_alias(es_config: dict) -> str:
    return f"{index_prefix(es_config)}-reviews"


def alerts_index(es_config: dict) -> str:
    return f"{index_prefix(es_config)}-alerts"


def copies_index(es_config: dict) -> str:
    """Syndicated copies of indexed posts: where each was seen, and which post it copies."""
    return f"{index_prefix(es_config)}-copies"


def corrections_index(es_config: dict) -> str:
    return f"{index_prefix(es_config)}-sentiment-corrections"


def crawls_index(es_config: dict) -> str:
    """Each finished crawl's per-source figures, for the web workspace's sources page."""
    return f"{index_prefix(es_config)}-crawls"
