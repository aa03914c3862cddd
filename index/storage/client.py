"""Connecting to Elasticsearch: a configured cluster by URL, else the local node."""
from __future__ import annotations

import orjson
from elasticsearch import Elasticsearch
from elasticsearch.exceptions import ConnectionError as ESConnectionError, SerializationError, TransportError
from elasticsearch.serializer import JSONSerializer

from index.storage.node import LocalNode

DEFAULT_PREFIX = "kuchikomi"
# What an unreachable, overloaded or failing cluster raises: callers log, count and carry on.
ES_ERRORS = (ESConnectionError, TransportError)


class ElasticsearchUnavailable(RuntimeError):
    pass


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


def cluster_url(es_config: dict) -> str:
    if es_config.get("url"):
        return es_config["url"]
    node = LocalNode.default()
    if not node.is_running():
        raise ElasticsearchUnavailable(
            "no Elasticsearch URL is configured (elasticsearch.url) and the local node is not running; "
            "start it with `kuchikomi es start`")
    return node.url


def connect(es_config: dict, check: bool = True) -> Elasticsearch:
    url = cluster_url(es_config)
    options = {"timeout": es_config.get("timeout", 30), "retry_on_timeout": True, "max_retries": 3,
               "serializer": FastJSONSerializer()}
    if es_config.get("api_key"):
        options["api_key"] = es_config["api_key"]
    elif es_config.get("username"):
        options["http_auth"] = (es_config["username"], es_config.get("password", ""))
    if "verify_certs" in es_config:
        options["verify_certs"] = es_config["verify_certs"]
    client = Elasticsearch([url], **options)
    if check:
        try:
            client.info()
        except ES_ERRORS as exc:
            raise ElasticsearchUnavailable(f"Elasticsearch at {url} is not reachable: {exc}") from exc
    return client


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
