"""The JSON API under attack (issue 18): raw DSL that would take the node down, read another index or run a
script is refused; wrong keys are rate-limited per client address; oversize requests are answered 414/431/413
rather than reset; Elasticsearch's own messages stay in the log. Raw DSL goes to a node of this module's own,
so a request that got through and killed it would take no other test with it."""
import base64
import http.client
import json
import time
import uuid
from pathlib import Path

import pytest
import requests
import yaml
from elasticsearch import Elasticsearch
from hypothesis import HealthCheck, event, given, settings, strategies as st

from foundations.ports import free_port
from index.research import dsl
from index.research.dsl import MAX_AGGREGATION_DEPTH, DSLRejected, validate_dsl
from index.storage.schema import ensure_reviews_index
from index.storage.writer import BulkWriter
from tests.support.api import running_api
from tests.support.nodes import own_node
from tests.support.research_corpus import BRANDS, DOCUMENTS

ANALYST = {"X-API-Key": "analyst-key-0123456789"}
RESEARCHER = {"X-API-Key": "researcher-key-0123456789"}
KEYS = [{"name": "analyst", "key": ANALYST["X-API-Key"]},
        {"name": "researcher", "key": RESEARCHER["X-API-Key"], "raw_dsl": True}]
# Another index on the node: a value no API answer may contain, and one equal to a review's doc_id (what a
# terms lookup would confirm by finding that review).
OTHER = "other-team"
SECRET = f"s3cr3t-{uuid.uuid4().hex}"
KILLER = {"size": 0, "aggs": {"h": {"date_histogram": {
    "field": "fetched_at", "fixed_interval": "1ms", "min_doc_count": 0,
    "extended_bounds": {"min": 0, "max": 1000000}}}}}
LOOKUP = {"terms": {"doc_id": {"index": OTHER, "id": "2", "path": "same_as_a_review"}}}


def write_config(folder: Path, es_url: str, prefix: str) -> Path:
    config = folder / f"{prefix}.yaml"
    config.write_text(yaml.safe_dump({
        "elasticsearch": {"url": es_url, "index_prefix": prefix}, "brands": BRANDS,
        "sources": [{"name": "unused", "start_urls": ["http://127.0.0.1:9/"]}],
        "api": {"keys": KEYS, "requests_per_minute": 100000}}, allow_unicode=True))
    return config


@pytest.fixture(scope="module")
def security_node():
    with own_node("security") as (_, url):
        yield url


@pytest.fixture(scope="module")
def corpus(security_node, tmp_path_factory):
    client = Elasticsearch([security_node])
    alias = ensure_reviews_index(client, "security")
    folder = tmp_path_factory.mktemp("security")
    assert not any(BulkWriter(client, alias, folder / "spool.jsonl").write(DOCUMENTS).values())
    client.indices.refresh(index=alias)
    client.indices.create(index=OTHER, body={"mappings": {"properties": {
        "secret": {"type": "keyword"}, "same_as_a_review": {"type": "keyword"}}}})
    client.index(index=OTHER, id="2", body={"secret": SECRET, "same_as_a_review": "en-2"}, refresh=True)
    return {"client": client, "alias": alias, "config": write_config(folder, security_node, "security")}


@pytest.fixture(scope="module")
def dsl_api(corpus):
    with running_api(corpus["config"]) as url:
        yield url


@pytest.fixture(scope="module")
def offline_api(tmp_path_factory):
    """The API in front of a cluster that is not there: for what it decides before asking Elasticsearch."""
    config = write_config(tmp_path_factory.mktemp("offline"), f"http://127.0.0.1:{free_port()}", "offline")
    with running_api(config) as url:
        yield url


def post_dsl(api: str, body) -> requests.Response:
    return requests.post(f"{api}/v1/dsl", json=body, headers=RESEARCHER, timeout=60)


def node_answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=10).json()["version"]["number"] == "7.9.2"
    except (requests.RequestException, ValueError, KeyError):
        return False


# 1. Work without bound.

def nested_terms(levels: int) -> dict:
    aggs = {}
    for level in reversed(range(levels)):
        aggs = {f"l{level}": {"terms": {"field": "site", "size": 2}, **({"aggs": aggs} if aggs else {})}}
    return aggs


def nested_bool(levels: int) -> dict:
    query = {"match_all": {}}
    for _ in range(levels - 1):
        query = {"bool": {"must": [query]}}
    return query


@pytest.mark.parametrize("body, path", [
    (KILLER, "aggs.h.date_histogram.min_doc_count"),
    ({"aggs": {"h": {"histogram": {"field": "votes", "interval": 1, "min_doc_count": 0}}}},
     "aggs.h.histogram.min_doc_count"),
    ({"aggs": {"h": {"date_histogram": {"field": "date", "calendar_interval": "day",
                                        "extended_bounds": {"min": 0, "max": 10 ** 13}}}}},
     "aggs.h.date_histogram.extended_bounds"),
    ({"aggs": {"h": {"date_histogram": {"field": "date", "fixed_interval": "0ms"}}}},
     "aggs.h.date_histogram.fixed_interval"),
    ({"aggs": {"t": {"terms": {"field": "site", "size": 100_000}}}}, "aggs.t.terms.size"),
    ({"aggs": {"c": {"composite": {"size": 50_000, "sources": [{"s": {"terms": {"field": "site"}}}]}}}},
     "aggs.c.composite.size"),
    ({"aggs": {"a": {"terms": {"field": "site", "size": 1000},
                     "aggs": {"b": {"terms": {"field": "brands", "size": 100}}}}}}, "aggs.a.aggs.b.terms"),
    ({"aggs": nested_terms(MAX_AGGREGATION_DEPTH + 1)}, "aggs.l0.aggs.l1.aggs.l2.aggs"),
    ({"aggs": {"t": {"top_hits": {"size": 10_000}}}}, "aggs.t.top_hits.size"),
    ({"aggs": {"s": {"terms": {"field": "site", "size": 100}, "aggs": {"t": {"top_hits": {"size": 20}}}}}},
     "aggs.s.aggs.t.top_hits"),
    ({"aggs": {"h": {"date_histogram": {"field": "date", "calendar_interval": "week"},
                     "aggs": {"t": {"top_hits": {"size": 1}}}}}}, "aggs.h.aggs.t.top_hits"),
    ({"aggs": {"c": {"cardinality": {"field": "site", "precision_threshold": 40_000}}}},
     "aggs.c.cardinality.precision_threshold"),
    ({"aggs": {f"a{i}": {"avg": {"field": "votes"}} for i in range(31)}}, "aggs.a30"),
    ({"query": nested_bool(11)}, "query" + ".bool.must.0" * 10),
    ({"query": {"bool": {"should": [{"match_all": {}}] * 101}}}, "query.bool.should"),
    ({"size": 5000}, "size"),
    ({"from": 9995, "size": 10}, "from"),
    ({"query": {"match": {"body": {"query": "battery", "max_expansions": 100_000}}}},
     "query.match.body.max_expansions"),
    ({"timeout": "1h"}, "timeout"),
    ({"terminate_after": 10 ** 9}, "terminate_after"),
])
def test_the_validator_refuses_unbounded_work_naming_the_key(body, path):
    with pytest.raises(DSLRejected) as refused:
        validate_dsl(body)
    assert refused.value.path == path and str(refused.value).startswith(f"{path}: ")


@pytest.mark.parametrize("body, path, reason", [
    ({"query": LOOKUP}, "query.terms.doc_id.index", "only the reviews"),
    ({"query": {"more_like_this": {"fields": ["body"], "like": [{"_index": OTHER, "_id": "2"}]}}},
     "query.more_like_this.like.0._index", "only the reviews"),
    ({"query": {"percolate": {"field": "q", "index": OTHER, "id": "2"}}}, "query.percolate", "only the reviews"),
    ({"query": {"geo_shape": {"at": {"indexed_shape": {"index": OTHER, "id": "2", "path": "p"}}}}},
     "query.geo_shape", "only the reviews"),
    ({"indices_boost": [{OTHER: 2}]}, "indices_boost", "only the reviews"),
    ({"query": {"wrapper": {"query": base64.b64encode(json.dumps(LOOKUP).encode()).decode()}}},
     "query.wrapper", "encoded query"),
    ({"query": {"script": {"script": {"source": "true"}}}}, "query.script", "scripts"),
    ({"query": {"script_score": {"query": {"match_all": {}}, "script": {"source": "1"}}}},
     "query.script_score", "scripts"),
    ({"query": {"function_score": {"script_score": {"script": {"source": "1"}}}}},
     "query.function_score.script_score", "scripts"),
    ({"query": {"terms_set": {"doc_id": {"terms": ["a"], "minimum_should_match_script": {"source": "1"}}}}},
     "query.terms_set", "scripts"),
    ({"aggs": {"m": {"scripted_metric": {"map_script": "state.x = 1"}}}}, "aggs.m.scripted_metric", "scripts"),
    ({"aggs": {"t": {"terms": {"script": {"source": "doc['site'].value"}}}}}, "aggs.t.terms.script", "scripts"),
    ({"aggs": {"t": {"terms": {"field": "site"}, "aggs": {"s": {"bucket_selector": {
        "buckets_path": {"c": "_count"}, "script": "params.c > 1"}}}}}}, "aggs.t.aggs.s.bucket_selector", "scripts"),
    ({"sort": [{"_script": {"type": "number", "script": {"source": "1"}}}]}, "sort.0._script", "scripts"),
    ({"script_fields": {"x": {"script": {"source": "1"}}}}, "script_fields", "scripts"),
    ({"runtime_mappings": {"x": {"type": "keyword", "script": "emit('a')"}}}, "runtime_mappings", "scripts"),
    ({"query": {"no_such_query": {}}}, "query.no_such_query", "not an allowed query type"),
])
def test_the_validator_refuses_other_indices_and_scripts(body, path, reason):
    with pytest.raises(DSLRejected) as refused:
        validate_dsl(body)
    assert refused.value.path == path and reason in str(refused.value)


RESEARCH_BODIES = [
    {"query": {"bool": {"must": [{"match": {"body": "battery"}}],
                        "filter": [{"terms": {"language": ["en", "zh"]}}, {"range": {"date": {"gte": "2024-01-01"}}}]}},
     "size": 5, "sort": [{"date": "desc"}, "doc_id"], "_source": ["doc_id", "title"]},
    {"size": 0, "aggs": {"weeks": {
        "date_histogram": {"field": "date", "calendar_interval": "week", "min_doc_count": 1},
        "aggs": {"brand": {"terms": {"field": "brands", "size": 5},
                           "aggs": {"stars": {"avg": {"field": "rating.normalized"}}}}}}}},
    {"size": 0, "query": {"term": {"sentiment.label": "negative"}},
     "aggs": {"sites": {"terms": {"field": "site", "size": 10}, "aggs": {
         "latest": {"top_hits": {"size": 1, "sort": [{"date": "desc"}], "_source": ["doc_id"]}}}}}},
    {"size": 0, "aggs": {"pages": {"composite": {"size": 3, "sources": [
        {"site": {"terms": {"field": "site"}}}, {"label": {"terms": {"field": "sentiment.label"}}}]}}}},
    {"size": 0, "aggs": {"moods": {"filters": {"filters": {"bad": {"term": {"sentiment.label": "negative"}},
                                                           "good": {"term": {"sentiment.label": "positive"}}}}},
                         "stars": {"histogram": {"field": "rating.value", "interval": 1, "min_doc_count": 1}},
                         "how_many": {"cardinality": {"field": "site"}}}},
    {"query": {"more_like_this": {"fields": ["body"], "like": "battery died after a week", "min_term_freq": 1,
                                  "min_doc_freq": 1}}, "size": 3},
    {"query": {"multi_match": {"query": "ソニー", "fields": ["title^2", "body"], "type": "phrase"}},
     "highlight": {"fields": {"body": {}}}},
]


# What Python's JSON parser can hand the validator: 400-digit integers and inf/nan (1e400, NaN) too.
SCALAR_JSON = st.none() | st.booleans() | st.integers(-10 ** 400, 10 ** 400) | st.floats() | st.text(max_size=20)
JSON = st.recursive(SCALAR_JSON, lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(st.text(max_size=20), inner, max_size=4), max_leaves=30)
# Keys of the vocabulary, so that drawn objects get past the first level now and then.
VOCABULARY = st.sampled_from(["query", "aggs", "bool", "must", "terms", "match", "range", "sort", "size", "field",
                              "date_histogram", "histogram", "top_hits", "filter", "min_doc_count", "site", "_source"])
VOCABULARY_JSON = st.recursive(JSON, lambda inner: st.dictionaries(VOCABULARY, inner, max_size=3), max_leaves=20)


@settings(max_examples=500, deadline=None)
@given(body=JSON | VOCABULARY_JSON)
def test_the_validator_answers_any_json_with_a_body_or_a_one_line_refusal(body):
    try:
        checked = validate_dsl(body)
    except DSLRejected as refused:
        assert "\n" not in str(refused) and len(str(refused)) < 2000
    else:
        assert isinstance(checked, dict)


@pytest.mark.parametrize("body", RESEARCH_BODIES)
def test_ordinary_research_bodies_pass_unchanged(body):
    assert validate_dsl(body) == body


def test_histograms_serve_no_empty_buckets():
    checked = validate_dsl({"aggs": {"h": {"histogram": {"field": "votes", "interval": 5}}}})
    assert checked["aggs"]["h"]["histogram"]["min_doc_count"] == 1


@pytest.mark.slow
def test_the_node_killing_request_is_refused_and_the_node_still_answers(dsl_api, security_node):
    refused = post_dsl(dsl_api, KILLER)
    assert refused.status_code == 400
    assert refused.json()["detail"].startswith("aggs.h.date_histogram.min_doc_count: 0 is not allowed")
    for body in ({**KILLER, "aggs": {"h": {"date_histogram": {**KILLER["aggs"]["h"]["date_histogram"],
                                                               "min_doc_count": 1}}}},
                 {"aggs": {"t": {"terms": {"field": "doc_id", "size": 2 ** 31 - 1}}}},
                 {"aggs": nested_terms(6)}):
        assert post_dsl(dsl_api, body).status_code == 400
    assert node_answers(security_node)
    week = post_dsl(dsl_api, {"size": 0, "aggs": {"h": {"date_histogram": {"field": "fetched_at",
                                                                       "calendar_interval": "week"}}}})
    assert week.status_code == 200
    assert sum(b["doc_count"] for b in week.json()["aggregations"]["h"]["buckets"]) == len(DOCUMENTS)


def test_raw_dsl_reads_only_the_reviews(dsl_api, corpus):
    # Straight to the node, the lookup answers whether the other index holds "en-2": an oracle on its secrets.
    direct = corpus["client"].search(index=corpus["alias"], body={"query": LOOKUP})
    assert [hit["_source"]["doc_id"] for hit in direct["hits"]["hits"]] == ["en-2"]
    for body, path in [({"query": LOOKUP}, "query.terms.doc_id.index"),
                       ({"query": {"bool": {"filter": [LOOKUP]}}}, "query.bool.filter.0.terms.doc_id.index"),
                       ({"query": {"more_like_this": {"fields": ["secret"], "like": [{"_index": OTHER, "_id": "2"}],
                                                      "min_term_freq": 1, "min_doc_freq": 1}}},
                        "query.more_like_this.like.0._index"),
                       ({"indices_boost": [{OTHER: 1}], "query": {"match_all": {}}}, "indices_boost")]:
        reply = post_dsl(dsl_api, body)
        assert reply.status_code == 400 and reply.json()["detail"].startswith(f"{path}: not allowed")
        assert SECRET not in reply.text


def test_raw_dsl_runs_no_scripts(dsl_api):
    for body in ({"query": {"script": {"script": {"source": "doc['votes'].value > 0"}}}},
                 {"size": 0, "aggs": {"m": {"scripted_metric": {"init_script": "state.n = 0", "map_script": "state.n++",
                                                                "combine_script": "state.n",
                                                                "reduce_script": "states.size()"}}}},
                 {"sort": {"_script": {"type": "number", "script": "1"}}}):
        reply = post_dsl(dsl_api, body)
        assert reply.status_code == 400 and "scripts are not run here" in reply.json()["detail"]


@pytest.mark.parametrize("body", RESEARCH_BODIES)
def test_raw_dsl_answers_ordinary_research_as_the_node_does(dsl_api, corpus, body):
    reply = post_dsl(dsl_api, body)
    assert reply.status_code == 200, reply.text
    direct = corpus["client"].search(index=corpus["alias"], body=body)
    assert reply.json()["hits"]["hits"] == direct["hits"]["hits"]
    assert reply.json().get("aggregations") == direct.get("aggregations")


# 4. Elasticsearch's own messages.

def test_elasticsearch_details_reach_the_log_not_the_client(dsl_api, corpus, caplog):
    # Terms on an analysed text field: Elasticsearch explains at length, naming the concrete index.
    reply = post_dsl(dsl_api, {"size": 0, "aggs": {"t": {"terms": {"field": "body"}}}})
    assert reply.status_code == 400
    assert reply.json()["detail"] == ("Elasticsearch rejected the request (illegal_argument_exception): "
                                      "check the field names and their types")
    assert "fielddata" in caplog.text.lower() and "security-reviews-v" in caplog.text
    assert "security-reviews-v" not in reply.text
    # An overloaded node: its circuit breaker's heap figures stay in the log.
    settings_api = corpus["client"].cluster
    settings_api.put_settings(body={"transient": {"indices.breaker.request.limit": "1b"}})
    try:
        busy = post_dsl(dsl_api, {"size": 0, "aggs": {"t": {"terms": {"field": "site"}}}})
    finally:
        settings_api.put_settings(body={"transient": {"indices.breaker.request.limit": None}})
    assert busy.status_code == 503 and busy.headers["Retry-After"] == "30"
    assert busy.json() == {"detail": "Elasticsearch is busy; try again later"}
    assert "circuit_breaking_exception" in caplog.text and "Data too large" in caplog.text
    assert post_dsl(dsl_api, {"size": 0, "aggs": {"t": {"terms": {"field": "site"}}}}).status_code == 200


# 4. Keys, and requests too large to read.

def get_from(api: str, address: str, headers: dict) -> tuple[int, dict]:
    """GET /v1/search from this local address (127.0.0.2 is a second client on the loopback)."""
    host, port = api.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10, source_address=(address, 0))
    try:
        connection.request("GET", "/v1/search?q=battery", headers=headers)
        reply = connection.getresponse()
        return reply.status, dict(reply.getheaders())
    finally:
        connection.close()


def test_wrong_keys_are_rate_limited_per_client_address(corpus):
    with running_api(corpus["config"]) as api:
        started = time.monotonic()
        replies = [requests.get(f"{api}/v1/search", headers={"X-API-Key": f"guess-{n:016d}"}) for n in range(200)]
        took = time.monotonic() - started
        statuses = [reply.status_code for reply in replies]
        assert statuses == [401] * 10 + [429] * 190, f"{took:.2f} s"
        assert 1 <= int(replies[-1].headers["Retry-After"]) <= 6
        assert "too many wrong API keys" in replies[-1].json()["detail"]
        # The right key from the guessing address is refused too (else a 200 would tell the right guess) ...
        assert get_from(api, "127.0.0.1", ANALYST)[0] == 429
        # ... while another client is served.
        assert get_from(api, "127.0.0.2", ANALYST)[0] == 200
        assert get_from(api, "127.0.0.2", {"X-API-Key": "another-wrong-key-000"})[0] == 401


@pytest.mark.parametrize("method, path, headers, body, status, message", [
    ("GET", "/v1/search", {"X-API-Key": "k" * 2000}, None, 431, "x-api-key header is over 1024 bytes"),
    ("GET", "/v1/search", {"Authorization": "Bearer " + "k" * 2000}, None, 431, "authorization header"),
    ("GET", "/v1/search", {"X-Filler": "f" * 10_000}, None, 431, "x-filler header is over 8192 bytes"),
    ("GET", "/v1/search", {f"X-Filler-{n}": "f" * 1000 for n in range(20)}, None, 431, "headers are over 16384"),
    ("GET", "/v1/search", {"X-API-Key": "k" * 1_000_000}, None, 431, "headers are over 16384"),
    ("GET", "/v1/search?q=" + "a" * 10_000, {}, None, 414, "URL is over 8192 bytes"),
    ("GET", "/v1/search?q=" + "a" * 1_000_000, {}, None, 414, "URL is over 8192 bytes"),
    ("POST", "/v1/dsl", RESEARCHER, b"{" + b" " * 100_000 + b"}", 413, "body is over 65536 bytes"),
    ("POST", "/v1/dsl", RESEARCHER, b"[" * 3_000_000, 413, "body is over 65536 bytes"),
])
def test_oversize_requests_are_answered_not_reset(offline_api, method, path, headers, body, status, message):
    host, port = offline_api.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        connection.request(method, path, body=body, headers=headers)
        reply = connection.getresponse()
        assert reply.status == status and message in json.loads(reply.read())["detail"]
    finally:
        connection.close()
    assert requests.get(f"{offline_api}/v1/health", timeout=10).status_code == 503  # still serving


def test_a_body_nested_past_the_parser_is_a_400(offline_api):
    body = b'{"query":' + b"[" * 30_000 + b"]" * 30_000 + b"}"
    reply = requests.post(f"{offline_api}/v1/dsl", data=body,
                          headers={**RESEARCHER, "Content-Type": "application/json"})
    assert reply.status_code == 400 and reply.json()["detail"]


def test_keys_longer_than_a_header_may_be_are_a_config_error(tmp_path):
    from kuchikomi.config import load_monitor
    from index.research.api import create_app
    config = write_config(tmp_path, "http://127.0.0.1:9", "long")
    raw = yaml.safe_load(config.read_text())
    raw["api"]["keys"][0]["key"] = "k" * 2000
    config.write_text(yaml.safe_dump(raw))
    with pytest.raises(ValueError, match=r"api.keys\[0\].key is longer than the 1017 bytes"):
        create_app(load_monitor(config))


# 1 and 2 together: whatever a research key sends.

FIELDS = st.sampled_from(["site", "brands", "language", "body", "title", "rating.normalized", "rating.value", "date",
                          "fetched_at", "doc_id", "sentiment.label", "votes", "no_such_field"])
VALUES = st.one_of(st.sampled_from(["ja", "Sony", "battery", "en-2", "2024-02-01", "電池", ""]),
                   st.integers(-3, 6), st.floats(-1, 6, allow_nan=False), st.booleans())
LEAF_QUERIES = st.one_of(
    st.just({"match_all": {}}),
    st.builds(lambda f, v: {"match": {f: v}}, FIELDS, VALUES),
    st.builds(lambda f, v: {"term": {f: v}}, FIELDS, VALUES),
    st.builds(lambda f, v: {"terms": {f: v}}, FIELDS, st.lists(VALUES, max_size=3)),
    st.builds(lambda f, v, op: {"range": {f: {op: v}}}, FIELDS, VALUES, st.sampled_from(["gte", "lt"])),
    st.builds(lambda f: {"exists": {"field": f}}, FIELDS),
    st.builds(lambda f, v: {"prefix": {f: v}}, FIELDS, st.sampled_from(["b", "en", "ソ", "*"])),
    st.builds(lambda f, v: {"wildcard": {f: v}}, FIELDS, st.sampled_from(["*", "b*y", "?n-2", "*電*"])),
    st.builds(lambda q: {"simple_query_string": {"query": q}}, st.sampled_from(["battery -sony", "bat*", '"a b"~2'])),
    st.builds(lambda q, fs: {"multi_match": {"query": q, "fields": fs}}, VALUES, st.lists(FIELDS, max_size=3)),
    st.builds(lambda like: {"more_like_this": {"fields": ["body", "title"], "like": like, "min_term_freq": 1,
                                               "min_doc_freq": 1}},
              st.sampled_from(["battery died", [{"_id": "en-2"}], ["noise", {"_id": "x"}]])),
)
QUERIES = st.recursive(LEAF_QUERIES, lambda inner: st.one_of(
    st.builds(lambda must, filter_, should, must_not: {"bool": {"must": must, "filter": filter_, "should": should,
                                                                "must_not": must_not}},
              *[st.lists(inner, max_size=2)] * 4),
    st.builds(lambda q: {"constant_score": {"filter": q}}, inner),
    st.builds(lambda qs: {"dis_max": {"queries": qs}}, st.lists(inner, min_size=1, max_size=3)),
    st.builds(lambda p, n: {"boosting": {"positive": p, "negative": n, "negative_boost": 0.5}}, inner, inner),
    st.builds(lambda q: {"function_score": {"query": q, "functions": [
        {"field_value_factor": {"field": "votes", "missing": 1}}, {"random_score": {"seed": 7, "field": "_seq_no"}}]}},
        inner),
), max_leaves=6)
METRICS = st.one_of(
    st.builds(lambda kind, f: {kind: {"field": f}},
              st.sampled_from(["avg", "min", "max", "sum", "value_count", "cardinality", "stats", "extended_stats"]),
              FIELDS),
    st.builds(lambda f, p: {"percentiles": {"field": f, "percents": p}}, FIELDS,
              st.lists(st.floats(0, 100), min_size=1, max_size=3)),
    st.builds(lambda size, sort: {"top_hits": {"size": size, "sort": sort}}, st.integers(0, 300),
              st.sampled_from([[], [{"date": "desc"}], ["_score"]])),
    st.builds(lambda kind, path: {kind: {"buckets_path": path}}, st.sampled_from(["avg_bucket", "stats_bucket"]),
              st.sampled_from(["a>_count", "b", "by_site>a", "a.value", "nope"])),
    st.builds(lambda size: {"bucket_sort": {"size": size, "sort": [{"_count": "desc"}]}}, st.integers(0, 2000)),
)
ORDERS = st.sampled_from([{}, {"order": {"_count": "asc"}}, {"order": {"_key": "desc"}}, {"order": {"a": "desc"}},
                          {"order": [{"b.value": "asc"}, {"_count": "desc"}]}])
EMPTY_BUCKETS = st.sampled_from([{}, {"min_doc_count": 0}, {"min_doc_count": 1}, {"min_doc_count": 2},
                                 {"min_doc_count": 0, "extended_bounds": {"min": 0, "max": 1_000_000}}])
BUCKETS = st.one_of(
    st.builds(lambda f, size, order: {"terms": {"field": f, "size": size, **order}}, FIELDS, st.integers(0, 3000),
              ORDERS),
    st.builds(lambda f, interval, empty: {"histogram": {"field": f, "interval": interval, **empty}}, FIELDS,
              st.sampled_from([0.001, 0.25, 1, 1000, 0, -1]), EMPTY_BUCKETS),
    st.builds(lambda f, interval, empty: {"date_histogram": {"field": f, **interval, **empty}}, FIELDS,
              st.sampled_from([{"fixed_interval": "1ms"}, {"fixed_interval": "12h"}, {"fixed_interval": "0d"},
                               {"calendar_interval": "week"}, {"calendar_interval": "1q"}]), EMPTY_BUCKETS),
    st.builds(lambda f, edges: {"range": {"field": f, "ranges": [{"to": edges[0]}, {"from": edges[0]}]}}, FIELDS,
              st.lists(VALUES, min_size=1, max_size=1)),
    st.builds(lambda q: {"filter": q}, LEAF_QUERIES),
    st.builds(lambda qs: {"filters": {"filters": qs}}, st.lists(LEAF_QUERIES, min_size=1, max_size=3)),
    st.builds(lambda size: {"sampler": {"shard_size": size}}, st.integers(1, 200)),
    st.builds(lambda f: {"significant_terms": {"field": f, "min_doc_count": 1}}, FIELDS),
    st.builds(lambda f, size: {"composite": {"size": size, "sources": [{"s": {"terms": {"field": f}}}]}}, FIELDS,
              st.integers(1, 2000)),
)
NAMES = st.sampled_from(["a", "b", "by_site", "週"])
DEFINITIONS = st.recursive(METRICS, lambda inner: st.builds(
    lambda bucket, subs: {**bucket, **({"aggs": subs} if subs else {})},
    BUCKETS, st.dictionaries(NAMES, inner, max_size=2)), max_leaves=6)
BODIES = st.fixed_dictionaries({}, optional={
    "query": QUERIES, "aggs": st.dictionaries(NAMES, DEFINITIONS, min_size=1, max_size=3),
    "size": st.integers(-1, 1100), "from": st.integers(0, 20), "post_filter": LEAF_QUERIES,
    "sort": st.sampled_from(["_score", [{"date": "desc"}, "doc_id"], [{"votes": {"order": "asc", "missing": "_last"}}],
                             {"body": "asc"}]),
    "_source": st.sampled_from([False, ["doc_id"], {"includes": ["title*"]}]), "track_total_hits": st.booleans()})
FORBIDDEN_QUERIES = st.sampled_from([
    LOOKUP,
    {"more_like_this": {"fields": ["secret"], "like": [{"_index": OTHER, "_id": "2"}], "min_term_freq": 1,
                        "min_doc_freq": 1}},
    {"script": {"script": {"source": "doc['votes'].value > 0"}}},
    {"script_score": {"query": {"match_all": {}}, "script": {"source": "1"}}},
    {"percolate": {"field": "q", "index": OTHER, "id": "2"}},
    {"wrapper": {"query": base64.b64encode(json.dumps(LOOKUP).encode()).decode()}},
    {"geo_shape": {"at": {"indexed_shape": {"index": OTHER, "id": "2", "path": "shape"}}}},
    {"function_score": {"query": {"match_all": {}}, "script_score": {"script": {"source": "1"}}}},
])
FORBIDDEN_PARTS = st.one_of(
    st.builds(lambda q: {"query": q}, FORBIDDEN_QUERIES),
    st.builds(lambda q, f: {"query": {"bool": {"filter": [q, f]}}}, QUERIES, FORBIDDEN_QUERIES),
    st.builds(lambda f: {"post_filter": f}, FORBIDDEN_QUERIES),
    st.builds(lambda f: {"aggs": {"only": {"filter": f}}}, FORBIDDEN_QUERIES),
    st.sampled_from([
        {"aggs": {"m": {"scripted_metric": {"map_script": "state.x = 1", "combine_script": "1",
                                            "reduce_script": "1"}}}},
        {"aggs": {"t": {"terms": {"script": {"source": "doc['site'].value"}}}}},
        {"aggs": {"t": {"terms": {"field": "site"}, "aggs": {"s": {"bucket_selector": {
            "buckets_path": {"c": "_count"}, "script": "params.c > 1"}}}}}},
        {"sort": [{"_script": {"type": "number", "script": {"source": "1"}}}]},
        {"indices_boost": [{OTHER: 2}]},
        {"script_fields": {"x": {"script": {"source": "params._source"}}}},
        {"runtime_mappings": {"x": {"type": "keyword", "script": "emit('a')"}}},
    ]),
)


def indices_in(reply) -> set[str]:
    """The _index of every hit in a reply, top_hits' included."""
    if isinstance(reply, list):
        return {index for item in reply for index in indices_in(item)}
    if not isinstance(reply, dict):
        return set()
    return {index for item in reply.values() for index in indices_in(item)} | ({reply["_index"]} - {None}
                                                                                if "_index" in reply else set())


@pytest.mark.slow
@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(body=BODIES, forbidden=st.none() | FORBIDDEN_PARTS)
def test_no_raw_dsl_fails_the_api_or_the_node_or_leaves_the_reviews(dsl_api, corpus, security_node, body, forbidden):
    if forbidden:
        body = {**body, **forbidden}
    reply = post_dsl(dsl_api, body)
    event(f"{'forbidden' if forbidden else 'allowed'}: {reply.status_code}")
    assert reply.status_code in ((400,) if forbidden else (200, 400)), (reply.status_code, reply.text)
    assert SECRET not in reply.text
    assert all(index.startswith("security-reviews-v") for index in indices_in(reply.json()))
    assert node_answers(security_node)


# Everything the allow-list takes, drawn from the allow-list itself: the node answers each 200 or 400.

MAPPED_FIELDS = ["site", "brands", "language", "body", "title", "rating.normalized", "date", "fetched_at", "doc_id",
                 "sentiment.label", "sentiment.score", "votes", "author", "no_such_field"]
SAMPLE_TEXTS = ["battery", "ソニー", "2024-02-01", "now-1y", "en-2", "", "a*", "0"]


def drawn(kind: dsl.Kind, depth: int = 2) -> st.SearchStrategy:
    """Values a kind accepts (and, for numbers, their bounds), nesting queries and aggregations `depth` deep."""
    if isinstance(kind, dsl.TypedField):
        return st.sampled_from(sorted(name for name, type_ in dsl.mapped_types().items() if type_ in kind.types))
    if isinstance(kind, dsl.FieldName):
        return st.sampled_from(MAPPED_FIELDS)
    if isinstance(kind, dsl.Text):
        return st.from_regex(kind.pattern, fullmatch=True).filter(lambda text: len(text) <= kind.max_length) \
            if kind.pattern else st.sampled_from(SAMPLE_TEXTS)
    if isinstance(kind, dsl.Integer):
        return st.sampled_from([kind.low, kind.high]) | st.integers(kind.low, min(kind.high, kind.low + 20))
    if isinstance(kind, dsl.Number):
        return st.sampled_from([kind.low, kind.high]) | st.floats(max(kind.low, -10), min(kind.high, 10))
    if isinstance(kind, dsl.Boolean):
        return st.booleans()
    if isinstance(kind, dsl.Null):
        return st.none()
    if isinstance(kind, dsl.OneOf):
        return st.sampled_from(kind.values)
    if isinstance(kind, dsl.ListOf):
        return st.lists(drawn(kind.item, depth), max_size=min(kind.max_items, 3))
    if isinstance(kind, dsl.Either):
        return st.one_of([drawn(each, depth) for each in kind.kinds])
    if isinstance(kind, dsl.Params):
        return st.fixed_dictionaries({key: drawn(kind.allowed[key], depth) for key in kind.required},
                                     optional={key: drawn(value, depth) for key, value in kind.allowed.items()
                                               if key not in kind.required})
    if isinstance(kind, dsl.DictOf):
        return st.dictionaries(drawn(kind.key, depth), drawn(kind.value, depth), min_size=1, max_size=2)
    if isinstance(kind, dsl.OneKey):
        return st.one_of([drawn(value, depth).map(lambda body, key=key: {key: body})
                          for key, value in kind.types.items()])
    if isinstance(kind, dsl.PerField):
        forms = [drawn(kind.short, depth)] if kind.short else []
        forms += [drawn(kind.params, depth)] if kind.params else []
        return st.builds(lambda field, value: {field: value}, st.sampled_from(MAPPED_FIELDS), st.one_of(forms))
    if isinstance(kind, dsl.Query):
        if depth == 0:
            return st.just({"match_all": {}})
        return st.deferred(lambda: drawn(dsl.OneKey(dsl.QUERY_TYPES, "query type"), depth - 1))
    if isinstance(kind, dsl.Aggregations):
        return st.dictionaries(st.sampled_from(["a", "b", "週"]), aggregation(depth), min_size=1, max_size=2)
    raise AssertionError(f"no strategy for {kind!r}")


def aggregation(depth: int) -> st.SearchStrategy:
    def definition(name: str, spec: dsl.Aggregation) -> st.SearchStrategy:
        body = drawn(spec.params, depth).map(lambda params: {name: params})
        if spec.buckets is None or depth == 0:
            return body
        return st.builds(lambda own, subs: {**own, **({"aggs": subs} if subs else {})}, body,
                         st.none() | drawn(dsl.Aggregations(), depth - 1))
    return st.one_of([definition(name, spec) for name, spec in dsl.AGGREGATION_TYPES.items()])


@pytest.mark.slow
@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=drawn(dsl.SEARCH))
def test_whatever_the_allow_list_takes_the_node_answers(dsl_api, security_node, body):
    reply = post_dsl(dsl_api, body)
    refused_here = reply.status_code == 400 and not reply.json()["detail"].startswith("Elasticsearch")
    event(f"{reply.status_code}{' (refused by the validator)' if refused_here else ''}")
    assert reply.status_code in (200, 400), (reply.status_code, reply.text)
    assert SECRET not in reply.text
    assert node_answers(security_node)
