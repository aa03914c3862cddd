"""Delivery state in Elasticsearch: one record per (document, rule), so each alert goes out once."""
from __future__ import annotations

from datetime import datetime, timezone

from elasticsearch import Elasticsearch
from elasticsearch.exceptions import ConflictError

from index.schema import ensure_alerts_index


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


class DeliveryState:
    def __init__(self, client: Elasticsearch, index: str):
        self.client = client
        self.index = ensure_alerts_index(client, index)

    def claim(self, alert: dict) -> dict:
        """The record for this alert: created as pending if new, else the stored one."""
        record = {"alert_id": alert["alert_id"], "rule": alert["rule"], "doc_id": alert["doc_id"],
                  "status": "pending", "channels": {}, "alert": alert, "created_at": _now(),
                  "updated_at": _now()}
        try:
            self.client.create(index=self.index, id=alert["alert_id"], body=record, refresh="wait_for")
            return record
        except ConflictError:
            return self.client.get(index=self.index, id=alert["alert_id"])["_source"]

    def record(self, alert_id: str, status: str, channels: dict, error: str | None) -> None:
        update = {"status": status, "channels": channels, "error": error, "updated_at": _now()}
        if status == "delivered":
            update["delivered_at"] = _now()
        self.client.update(index=self.index, id=alert_id, body={"doc": update}, refresh="wait_for",
                           retry_on_conflict=3)

    def undelivered(self, limit: int = 1000) -> list[dict]:
        reply = self.client.search(index=self.index, size=limit, body={
            "query": {"terms": {"status": ["pending", "failed"]}}, "sort": [{"created_at": "asc"}]})
        return [hit["_source"] for hit in reply["hits"]["hits"]]

    def counts(self) -> dict[str, int]:
        reply = self.client.search(index=self.index, size=0, body={
            "aggs": {"status": {"terms": {"field": "status"}}}})
        return {b["key"]: b["doc_count"] for b in reply["aggregations"]["status"]["buckets"]}
