"""Delivery state in Elasticsearch: one record per (document or event, rule).

Creating the record is the claim (only one worker can create an id); sending takes a lease with
optimistic concurrency (seq_no/primary_term), so of several workers exactly one sends a message,
and a worker that dies mid-send gives its lease up when it expires.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from elasticsearch import Elasticsearch
from elasticsearch.exceptions import NotFoundError

from alerts.rules.base import iso, parse_time
from index.storage.schema import ensure_alerts_index

PENDING, SENDING, DELIVERED, FAILED, DEAD = "pending", "sending", "delivered", "failed", "dead"


class DeliveryState:
    def __init__(self, client: Elasticsearch, index: str):
        self.client = client
        self.index = ensure_alerts_index(client, index)

    def claim(self, alert: dict, group_key: str, due_at: datetime, now: datetime,
              searchable: bool = False, lease: tuple[float, str] | None = None) -> dict | None:
        """Record a new alert as pending and return it as a search hit would (with its seq_no, so
        it can be leased at once); None if this (document, rule) was claimed before.

        `searchable` refreshes the index so that grouping and throttling see the record at once;
        otherwise it shows in searches within the index's refresh interval (1 s).
        `lease` (seconds, worker) creates it already leased, for an alert to be sent right away."""
        record = {"alert_id": alert["alert_id"], "rule": alert["rule"], "rule_type": alert["rule_type"],
                  "doc_id": alert.get("doc_id"), "group_key": group_key, "status": PENDING, "attempts": 0,
                  "due_at": iso(due_at), "acknowledged": False, "channels": {}, "alert": alert,
                  "created_at": iso(now), "updated_at": iso(now)}
        if lease:
            record.update(status=SENDING, lease_until=iso(now + timedelta(seconds=lease[0])), worker=lease[1])
        reply = self.client.create(index=self.index, id=alert["alert_id"], body=record, ignore=409,
                                   refresh="true" if searchable else "false")
        if reply.get("status") == 409:
            return None
        return {"_id": reply["_id"], "_seq_no": reply["_seq_no"], "_primary_term": reply["_primary_term"],
                "_source": record}

    def open_group_due(self, rule: str, group_key: str) -> datetime | None:
        """When the not-yet-sent message of this group is due, if one is collecting."""
        reply = self.client.search(index=self.index, size=1, body={
            "query": {"bool": {"filter": [{"term": {"rule": rule}}, {"term": {"group_key": group_key}},
                                          {"term": {"status": PENDING}}]}},
            "sort": [{"due_at": "asc"}], "_source": ["due_at"]})
        hits = reply["hits"]["hits"]
        return parse_time(hits[0]["_source"]["due_at"]) if hits else None

    def last_delivered(self, rule: str, group_key: str) -> datetime | None:
        reply = self.client.search(index=self.index, size=0, body={
            "query": {"bool": {"filter": [{"term": {"rule": rule}}, {"term": {"group_key": group_key}},
                                          {"term": {"status": DELIVERED}}]}},
            "aggs": {"last": {"max": {"field": "delivered_at"}}}})
        value = reply["aggregations"]["last"].get("value_as_string")
        return parse_time(value) if value else None

    def due(self, now: datetime, limit: int = 500) -> list[dict]:
        """Records to send now: pending or failed and due, or stuck in a lease that has expired."""
        reply = self.client.search(index=self.index, size=limit, seq_no_primary_term=True, body={
            "query": {"bool": {
                "must_not": [{"term": {"acknowledged": True}}],
                "minimum_should_match": 1,
                "should": [
                    {"bool": {"filter": [{"terms": {"status": [PENDING, FAILED]}},
                                         {"range": {"due_at": {"lte": iso(now)}}}]}},
                    {"bool": {"filter": [{"term": {"status": SENDING}},
                                         {"range": {"lease_until": {"lte": iso(now)}}}]}},
                ]}},
            "sort": [{"due_at": "asc"}]})
        return reply["hits"]["hits"]

    def lease(self, hit: dict, now: datetime, seconds: float, worker: str) -> bool:
        """Take the record for sending, unless another worker changed it since it was read
        (the seq_no check runs on the primary copy, so a stale search result cannot win)."""
        reply = self.client.update(index=self.index, id=hit["_id"], if_seq_no=hit["_seq_no"],
                                   if_primary_term=hit["_primary_term"], ignore=409, body={"doc": {
                                       "status": SENDING, "worker": worker, "updated_at": iso(now),
                                       "lease_until": iso(now + timedelta(seconds=seconds))}})
        return reply.get("status") != 409

    def finish(self, alert_id: str, fields: dict, searchable: bool = False) -> None:
        self.client.update(index=self.index, id=alert_id, retry_on_conflict=3, body={"doc": fields},
                           refresh="true" if searchable else "false")

    def get(self, alert_id: str) -> dict | None:
        try:
            return self.client.get(index=self.index, id=alert_id)["_source"]
        except NotFoundError:
            return None

    def find(self, alert_id: str) -> dict | None:
        """A record by its id or an unambiguous prefix of it (as `alerts list` shows them)."""
        record = self.get(alert_id)
        if record is not None:
            return record
        reply = self.client.search(index=self.index, size=2,
                                   body={"query": {"prefix": {"alert_id": alert_id}}})
        hits = reply["hits"]["hits"]
        return hits[0]["_source"] if len(hits) == 1 else None

    def list(self, statuses: list[str] | None = None, rule: str | None = None, limit: int = 50) -> list[dict]:
        filters = []
        if statuses:
            filters.append({"terms": {"status": statuses}})
        if rule:
            filters.append({"term": {"rule": rule}})
        reply = self.client.search(index=self.index, size=limit, body={
            "query": {"bool": {"filter": filters}}, "sort": [{"created_at": "desc"}]})
        return [hit["_source"] for hit in reply["hits"]["hits"]]

    def requeue(self, alert_ids: list[str], now: datetime) -> None:
        """Send again from scratch (a dead letter after its channel is fixed)."""
        for alert_id in alert_ids:
            self.finish(alert_id, {"status": PENDING, "attempts": 0, "due_at": iso(now), "updated_at": iso(now)},
                        searchable=True)

    def acknowledge(self, alert_id: str, who: str, now: datetime) -> None:
        self.finish(alert_id, {"acknowledged": True, "acknowledged_by": who, "acknowledged_at": iso(now),
                               "updated_at": iso(now)}, searchable=True)

    def counts(self) -> dict[str, int]:
        reply = self.client.search(index=self.index, size=0, body={
            "aggs": {"status": {"terms": {"field": "status"}}}})
        return {b["key"]: b["doc_count"] for b in reply["aggregations"]["status"]["buckets"]}
