"""The JSON API served by uvicorn on 127.0.0.1, over the real node: keys, limits, 4xx messages, results."""
import base64

import pytest
import requests
from hypothesis import HealthCheck, given, settings, strategies as st

from kuchikomi.config import load_monitor
from tests.support.api import running_api
from tests.support.cli import kuchikomi
from tests.support.research_corpus import ids, where

ANALYST = {"X-API-Key": "analyst-key-0123456789"}
RESEARCHER = {"Authorization": "Bearer researcher-key-0123456789"}


@pytest.fixture(scope="module")
def api(research):
    with running_api(research["config"]) as url:
        yield url


def test_search_and_reports_over_http(api):
    reply = requests.get(f"{api}/v1/search", params={"q": "battery", "brand": "ソニー"}, headers=ANALYST)
    assert reply.status_code == 200
    assert ids(reply.json()["hits"]) == {"en-2", "en-8"} and reply.json()["total"] == 2
    reply = requests.get(f"{api}/v1/search", params={"sentiment": "negative", "size": 3, "sort": "oldest"},
                         headers=ANALYST).json()
    second = requests.get(f"{api}/v1/search", params={"sentiment": "negative", "size": 100, "sort": "oldest",
                                                      "after": reply["next"]}, headers=ANALYST).json()
    assert ids(reply["hits"] + second["hits"]) == where(s=lambda d: d["sentiment"]["label"] == "negative")
    sov = requests.get(f"{api}/v1/reports/share_of_voice", params={"language": "zh"}, headers=ANALYST).json()
    assert {row["brand"]: row["mentions"] for row in sov["rows"]} == {"Sony": 2, "Panasonic": 2, "Anker": 1}


def test_openapi_spec_describes_the_endpoints(api):
    spec = requests.get(f"{api}/openapi.json").json()
    assert {"/v1/search", "/v1/reports/{name}", "/v1/dsl"} <= set(spec["paths"])
    assert "q" in {p["name"] for p in spec["paths"]["/v1/search"]["get"]["parameters"]}


@pytest.mark.parametrize("headers, status, message", [
    ({}, 401, "an API key is required"),
    ({"X-API-Key": "wrong-key-0123456789"}, 401, "not valid"),
])
def test_requests_without_a_valid_key_are_refused(api, headers, status, message):
    reply = requests.get(f"{api}/v1/search", params={"q": "battery"}, headers=headers)
    assert reply.status_code == status and message in reply.json()["detail"]


@pytest.mark.parametrize("path, params, message", [
    ("/v1/search", {"q": '"battery'}, "not closed"),
    ("/v1/search", {"q": "colour:red"}, "unknown field 'colour'"),
    ("/v1/search", {"size": 5000}, "size"),
    ("/v1/search", {"since": "yesterday-ish"}, "not a date"),
    ("/v1/search", {"since": "9" * 400 + "d"}, "since: String should have at most 100 characters"),
    ("/v1/search", {"since": "9" * 99 + "d"}, "reaches back before the year 1"),
    ("/v1/search", {"until": "9999-12-31"}, "past the last date"),
    ("/v1/reports/mentions", {"since": "9" * 20 + "h"}, "reaches back before the year 1"),
    ("/v1/search", {"after": base64.urlsafe_b64encode(b"[NaN, 1e400]").decode(), "sort": "newest"}, "cursor"),
    ("/v1/search", {"after": base64.urlsafe_b64encode(b"[" * 1400).decode()}, "cursor"),
    ("/v1/search", {"after": "garbage"}, "cursor"),
    ("/v1/search", {"sentiment": "angry"}, "sentiment"),
    ("/v1/reports/mentions", {"interval": "fortnight"}, "interval"),
    ("/v1/reports/unknown", {}, "name"),
])
def test_malformed_requests_get_a_4xx_with_a_clear_message(api, path, params, message):
    reply = requests.get(f"{api}{path}", params=params, headers=ANALYST)
    assert reply.status_code == 400, reply.text
    assert message in reply.json()["detail"]


def test_raw_dsl_only_for_keys_that_are_allowed_it(api):
    body = {"query": {"term": {"language": "ja"}}, "size": 0, "aggs": {"sites": {"terms": {"field": "site"}}}}
    refused = requests.post(f"{api}/v1/dsl", json=body, headers=ANALYST)
    assert refused.status_code == 403 and "raw DSL" in refused.json()["detail"]
    reply = requests.post(f"{api}/v1/dsl", json=body, headers=RESEARCHER)
    assert reply.status_code == 200
    assert reply.json()["hits"]["total"]["value"] == len(where(lang=lambda d: d["language"] == "ja"))
    bad = requests.post(f"{api}/v1/dsl", json={"query": {"no_such_query": {}}}, headers=RESEARCHER)
    assert bad.status_code == 400 and "no_such_query" in bad.json()["detail"]
    scripted = requests.post(f"{api}/v1/dsl", json={"script": {"source": "1"}}, headers=RESEARCHER)
    assert scripted.status_code == 400 and "script" in scripted.json()["detail"]


def test_each_key_has_its_own_rate_limit(api):
    slow = {"X-API-Key": "slow-key-0123456789abc"}
    statuses = [requests.get(f"{api}/v1/search", headers=slow).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    limited = requests.get(f"{api}/v1/search", headers=slow)
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
    assert requests.get(f"{api}/v1/search", headers=ANALYST).status_code == 200


def test_api_keys_are_validated_and_required(research, tmp_path):
    import yaml
    from kuchikomi.config import ConfigError
    raw = yaml.safe_load(research["config"].read_text())
    raw["api"]["keys"][0]["key"] = "short"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(raw, allow_unicode=True))
    with pytest.raises(ConfigError, match=r"api.keys\[0\].key: 'short' is too short"):
        load_monitor(bad)
    del raw["api"]
    keyless = tmp_path / "keyless.yaml"
    keyless.write_text(yaml.safe_dump(raw, allow_unicode=True))
    result = kuchikomi("api", "-c", keyless)
    assert result.returncode == 2 and "no api.keys configured" in result.stderr


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(q=st.text(max_size=40), since=st.none() | st.text(max_size=12), size=st.integers(-5, 2000))
def test_no_query_makes_the_api_fail(api, q, since, size):
    params = {"q": q, "size": size, **({"since": since} if since is not None else {})}
    reply = requests.get(f"{api}/v1/search", params=params, headers=ANALYST)
    assert reply.status_code in (200, 400), reply.text
    assert reply.json()
