import os
import uuid
from pathlib import Path

import pytest

from tests.support.nodes import own_node
from tests.support.receivers import WebhookReceiver

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def shared():
    if not (SHARED / "fixtures").is_dir():
        pytest.skip("../shared is not beside this checkout (third-party test pages)")
    return SHARED


@pytest.fixture(scope="session")
def es_url():
    """A real Elasticsearch node for the whole session, in its own home (outside /root)."""
    with own_node("session") as (_, url):
        yield url


@pytest.fixture
def index_prefix(es_url):
    prefix = f"test-{uuid.uuid4().hex[:10]}"
    yield prefix
    from elasticsearch import Elasticsearch
    Elasticsearch([es_url]).indices.delete(index=f"{prefix}-*", ignore=[404])


@pytest.fixture
def kuchikomi_home(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("KUCHIKOMI_HOME", str(home))
    return home


@pytest.fixture
def webhook():
    receiver = WebhookReceiver()
    yield receiver
    receiver.close()


@pytest.fixture(scope="session")
def research(es_url, tmp_path_factory):
    """The research corpus, written through the index stage into its own reviews alias, plus a monitor
    config pointing at it (with API keys) for the CLI and the API."""
    import yaml
    from elasticsearch import Elasticsearch
    from index.storage.schema import ensure_reviews_index
    from index.storage.writer import BulkWriter
    from tests.support.research_corpus import BRANDS, DOCUMENTS
    prefix = f"research-{uuid.uuid4().hex[:8]}"
    client = Elasticsearch([es_url])
    alias = ensure_reviews_index(client, prefix)
    folder = tmp_path_factory.mktemp("research")
    failures = {k: v for k, v in BulkWriter(client, alias, folder / "spool.jsonl").write(DOCUMENTS).items() if v}
    assert not failures
    client.indices.refresh(index=alias)
    config = folder / "monitor.yaml"
    config.write_text(yaml.safe_dump({
        "elasticsearch": {"url": es_url, "index_prefix": prefix},
        "brands": BRANDS,
        "sources": [{"name": "unused", "start_urls": ["http://127.0.0.1:9/"]}],
        "api": {"keys": [{"name": "analyst", "key": "analyst-key-0123456789"},
                         {"name": "researcher", "key": "researcher-key-0123456789", "raw_dsl": True},
                         {"name": "slow", "key": "slow-key-0123456789abc", "requests_per_minute": 3}],
                "requests_per_minute": 100000},
    }, allow_unicode=True))
    yield {"client": client, "alias": alias, "prefix": prefix, "config": config, "url": es_url}
    client.indices.delete(index=f"{prefix}-*", ignore=[404])
