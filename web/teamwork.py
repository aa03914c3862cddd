"""The team's work around the reviews: triage of each mention, the audit trail, saved searches.

Triage lives in its own index keyed by the review's doc_id, so a re-crawl, which rewrites the review,
never resets it. Every write anyone makes in the workspace appends an audit record.
"""
from __future__ import annotations

import secrets
from datetime import datetime, timezone

from elasticsearch import Elasticsearch

from web.indices import ensure

STATUSES = ("new", "in_progress", "answered", "ignored")
MAX_TAGS = 20


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


class Triage:
    PROPERTIES = {"doc_id": {"type": "keyword"}, "status": {"type": "keyword"}, "assignee": {"type": "keyword"},
                  "tags": {"type": "keyword"}, "notes": {"type": "object", "enabled": False},
                  "updated_at": {"type": "date"}, "updated_by": {"type": "keyword"}}

    def __init__(self, client: Elasticsearch, index: str):
        self.client = client
        self.index = ensure(client, index, self.PROPERTIES)

    @staticmethod
    def blank(doc_id: str) -> dict:
        return {"doc_id": doc_id, "status": "new", "assignee": None, "tags": [], "notes": []}

    def get(self, doc_id: str) -> dict:
        found = self.client.get(index=self.index, id=doc_id, ignore=404)  # most mentions were never triaged
        return {**self.blank(doc_id), **found["_source"]} if found.get("found") else self.blank(doc_id)

    def many(self, doc_ids: list[str]) -> dict[str, dict]:
        if not doc_ids:
            return {}
        reply = self.client.mget(index=self.index, body={"ids": doc_ids})
        return {doc["_id"]: {**self.blank(doc["_id"]), **doc["_source"]} for doc in reply["docs"] if doc.get("found")}

    def update(self, doc_id: str, who: str, status: str, assignee: str | None, tags: list[str]) -> dict:
        """Set status, assignee and tags; what changed, as {field: [before, after]}."""
        if status not in STATUSES:
            raise ValueError(f"status {status!r}: use one of {', '.join(STATUSES)}")
        tags = list(dict.fromkeys(tag.strip()[:50] for tag in tags if tag.strip()))[:MAX_TAGS]
        before = self.get(doc_id)
        after = {"status": status, "assignee": assignee or None, "tags": tags}
        changes = {key: [before[key], value] for key, value in after.items() if before[key] != value}
        if changes:
            self.client.update(index=self.index, id=doc_id, refresh="true", retry_on_conflict=3, body={
                "doc": {**after, "doc_id": doc_id, "updated_at": now_iso(), "updated_by": who},
                "doc_as_upsert": True})
        return changes

    def add_note(self, doc_id: str, who: str, text: str) -> dict:
        note = {"by": who, "at": now_iso(), "text": text}
        self.client.update(index=self.index, id=doc_id, refresh="true", retry_on_conflict=3, body={
            "script": {"lang": "painless", "source": "if (ctx._source.notes == null) { ctx._source.notes = []; } "
                                                     "ctx._source.notes.add(params.note)",
                       "params": {"note": note}},
            "upsert": {**self.blank(doc_id), "notes": [note]}})
        return note


class Audit:
    PROPERTIES = {"at": {"type": "date"}, "who": {"type": "keyword"}, "action": {"type": "keyword"},
                  "target": {"type": "keyword"}, "detail": {"type": "object", "enabled": False}}

    def __init__(self, client: Elasticsearch, index: str):
        self.client = client
        self.index = ensure(client, index, self.PROPERTIES)

    def record(self, who: str, action: str, target: str, detail: dict | None = None) -> None:
        self.client.index(index=self.index, refresh="true",
                          body={"at": now_iso(), "who": who, "action": action, "target": target,
                                "detail": detail or {}})

    def history(self, target: str | None = None, limit: int = 100) -> list[dict]:
        query = {"term": {"target": target}} if target else {"match_all": {}}
        reply = self.client.search(index=self.index, size=limit,
                                   body={"query": query, "sort": [{"at": "desc"}]})
        return [hit["_source"] for hit in reply["hits"]["hits"]]


class SavedSearches:
    """Named filter sets (the workspace URL's query string), shared by the team."""
    PROPERTIES = {"name": {"type": "keyword"}, "query": {"type": "keyword", "index": False},
                  "owner": {"type": "keyword"}, "created_at": {"type": "date"}}

    def __init__(self, client: Elasticsearch, index: str):
        self.client = client
        self.index = ensure(client, index, self.PROPERTIES)

    def add(self, name: str, query: str, owner: str) -> str:
        search_id = secrets.token_hex(6)
        self.client.index(index=self.index, id=search_id, refresh="true", body={
            "name": name, "query": query, "owner": owner, "created_at": now_iso()})
        return search_id

    def list(self) -> list[dict]:
        reply = self.client.search(index=self.index, size=200, body={"sort": [{"name": "asc"}]})
        return [{"id": hit["_id"], **hit["_source"]} for hit in reply["hits"]["hits"]]

    def remove(self, search_id: str) -> dict | None:
        found = self.client.get(index=self.index, id=search_id, ignore=404)
        if not found.get("found"):
            return None
        saved = found["_source"]
        self.client.delete(index=self.index, id=search_id, refresh="true")
        return saved
