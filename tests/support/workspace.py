"""A web workspace over the session's Elasticsearch node, for the server and browser tests: the research
corpus re-dated to the last weeks, one hostile review, three users (one per role), alert rules with a
working and a failing channel, served by uvicorn on 127.0.0.1."""
from __future__ import annotations

import contextlib
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import uvicorn
import yaml
from elasticsearch import Elasticsearch

from alerts.dispatch import AlertDispatcher
from alerts.state import DeliveryState
from foundations.ports import free_port
from index.storage.schema import ensure_reviews_index
from index.storage.writer import BulkWriter
from kuchikomi.config import load_monitor
from tests.support.api import served
from tests.support.research_corpus import BRANDS, DOCUMENTS
from web.app import create_workspace

PASSWORDS = {"ada": "admin-password-1", "ana": "analyst-password-1", "vic": "viewer-password-1"}
ROLES = {"ada": "admin", "ana": "analyst", "vic": "viewer"}
HOSTILE_ID = "hostile-1"
HOSTILE = {
    "title": '<script>window.__pwned = "title"</script><img src=x onerror="window.__pwned=1">ソニー',
    "body": ('ソニーの<b>ヘッドホン</b>は<img src="http://127.0.0.1:9/track.png" onerror="window.__pwned=2">最悪。'
             '<a href="javascript:window.__pwned=3">こちら</a> "quoted" & \'single\' </textarea></title>'
             '<svg onload="window.__pwned=4"></svg><iframe src="http://127.0.0.1:9/"></iframe>'),
    "review_url": "javascript:window.__pwned=5",
    "aspects": [{"category": "complaint", "sentiment": "negative",
                 "sentence": '<img src=x onerror="window.__pwned=7">最悪。'}],
}


def documents(now: datetime) -> list[dict]:
    """The research corpus, each review two days before the next, the newest yesterday; plus the hostile one."""
    docs = []
    for age, doc in enumerate(DOCUMENTS):
        published = now - timedelta(days=1 + 2 * age, hours=3)
        docs.append({**doc, "published_at": published.isoformat(timespec="seconds"),
                     "fetched_at": (now - timedelta(hours=1)).isoformat(timespec="seconds")})
    docs.append({**DOCUMENTS[1], **HOSTILE, "doc_id": HOSTILE_ID, "source_url": "https://kakaku.example.jp/x",
                 "published_at": (now - timedelta(hours=5)).isoformat(timespec="seconds"),
                 "fetched_at": (now - timedelta(hours=1)).isoformat(timespec="seconds"),
                 "sentiment": {"label": "negative", "score": 0.95,
                               "drivers": ['<script>window.__pwned=6</script>最悪。']}})
    return docs


class Workspace:
    def __init__(self, es_url: str, folder: Path):
        self.prefix = f"web-{uuid.uuid4().hex[:8]}"
        self.client = Elasticsearch([es_url])
        self.now = datetime.now(timezone.utc)
        self.alerts_file = folder / "alerts.jsonl"
        self.config = folder / "monitor.yaml"
        self.config.write_text(yaml.safe_dump({
            "elasticsearch": {"url": es_url, "index_prefix": self.prefix},
            "brands": BRANDS,
            "sources": [{"name": "kakaku", "start_urls": ["http://127.0.0.1:9/"], "every": "6h"},
                        {"name": "jd", "start_urls": ["http://127.0.0.1:9/"]}],
            "api": {"keys": [{"name": "analyst", "key": "analyst-key-0123456789"}]},
            "alerts": {"channels": {"file": {"type": "jsonl", "path": str(self.alerts_file)},
                                    "broken": {"type": "webhook", "url": "http://127.0.0.1:9/hook", "attempts": 1}},
                       "rules": [{"name": "negative-sony", "type": "negative_brand", "brands": ["Sony"],
                                  "channels": ["file"]},
                                 {"name": "negative-anker", "type": "negative_brand", "brands": ["Anker"],
                                  "channels": ["broken"]},
                                 {"name": "sony-leads", "type": "mention", "brands": ["Sony"],
                                  "categories": ["purchase_intent"], "channels": ["file"]}],
                       "delivery": {"max_attempts": 1}},
        }, allow_unicode=True))
        self.monitor = load_monitor(self.config)
        self.alias = ensure_reviews_index(self.client, self.prefix)
        self.docs = documents(self.now)
        written = BulkWriter(self.client, self.alias, folder / "spool.jsonl").write(self.docs)
        failures = {doc_id: error for doc_id, error in written.items() if error}
        assert not failures
        self.client.indices.refresh(index=self.alias)

    def add_users(self) -> None:
        from web.indices import workspace_index
        from web.users import Users
        users = Users(self.client, workspace_index(self.monitor.elasticsearch, "users"))
        for name, role in ROLES.items():
            users.add(name, role, PASSWORDS[name])

    def raise_alerts(self) -> None:
        """The alerts a crawl of these reviews would have raised (one failing for good: a dead letter)."""
        state = DeliveryState(self.client, f"{self.prefix}-alerts")
        dispatcher = AlertDispatcher(self.monitor.alerts, state, client=self.client, reviews_index=self.alias)
        stored = self.client.search(index=self.alias, size=100)["hits"]["hits"]
        for hit in stored:
            dispatcher.alert_now(hit["_source"])
        self.client.indices.refresh(index=f"{self.prefix}-alerts")

    def close(self) -> None:
        self.client.indices.delete(index=f"{self.prefix}-*", ignore=[404])


@contextlib.contextmanager
def served_workspace(es_url: str, folder: Path):
    """A workspace with its users and alerts, served by uvicorn on 127.0.0.1 until the block ends."""
    workspace = Workspace(es_url, folder)
    workspace.add_users()
    workspace.raise_alerts()
    try:
        app = uvicorn.Config(create_workspace(workspace.monitor), host="127.0.0.1", port=free_port(), log_level="warning")
        with served(app) as workspace.url:
            yield workspace
    finally:
        workspace.close()
