"""Idempotent bulk writes with retries; documents that still cannot be written are spooled to disk, not lost.

The document id is the dedup key, so writing a review again replaces it. After a rollover the alias
has several indices; a review already stored in an older one is written back there, not into the
new write index, so it is never stored twice.
"""
from __future__ import annotations

import json
import logging
import time
from pathlib import Path

from elasticsearch import Elasticsearch, helpers
from elasticsearch.exceptions import ConnectionError as ESConnectionError, ConnectionTimeout, TransportError

logger = logging.getLogger(__name__)

SPOOLED = "spooled"


def prepare_document(doc: dict) -> dict:
    """The stored form of a review: `date` is when it was written, else when it was fetched."""
    return {**doc, "date": doc.get("published_at") or doc.get("fetched_at")}


class BulkWriter:
    def __init__(self, client: Elasticsearch, alias: str, spool: Path, attempts: int = 4,
                 backoff: float = 1.0):
        self.client = client
        self.alias = alias
        self.spool = spool
        self.attempts = attempts
        self.backoff = backoff
        self.replaying = False
        self.replayed = 0

    def _stored_in(self, ids: list[str]) -> dict[str, str]:
        """id -> the concrete index already holding it, for ids held by an index other than the write index."""
        reply = self.client.search(index=self.alias, body={
            "query": {"ids": {"values": ids}}, "_source": False, "size": len(ids)})
        hits = reply["hits"]["hits"]
        if not hits or reply["_shards"]["total"] == 1:
            return {}
        return {hit["_id"]: hit["_index"] for hit in hits}

    def _actions(self, docs: list[dict]):
        stored_in = self._stored_in([doc["doc_id"] for doc in docs])
        return [{"_op_type": "index", "_index": stored_in.get(doc["doc_id"], self.alias),
                 "_id": doc["doc_id"], "_source": prepare_document(doc)} for doc in docs]

    def write(self, docs: list[dict]) -> dict[str, str | None]:
        """Index docs; return doc_id -> None when written, or the reason it was not."""
        results: dict[str, str | None] = {}
        remaining = docs
        for attempt in range(self.attempts):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            try:
                retry = []
                by_id = {d["doc_id"]: d for d in remaining}
                # streaming_bulk itself retries 429s (max_retries) with backoff: that is the backpressure.
                for ok, info in helpers.streaming_bulk(self.client, self._actions(remaining),
                                                       raise_on_error=False, max_retries=3,
                                                       initial_backoff=self.backoff):
                    detail = info["index"]
                    if ok:
                        results[detail["_id"]] = None
                    elif detail.get("status") in (429, 503):
                        retry.append(by_id[detail["_id"]])
                    else:
                        results[detail["_id"]] = str(detail.get("error"))
                remaining = retry
            except (ESConnectionError, ConnectionTimeout) as exc:
                logger.warning("Elasticsearch bulk write failed (attempt %d/%d): %s",
                               attempt + 1, self.attempts, exc)
            except TransportError as exc:
                if exc.status_code not in (429, 503):
                    raise
                logger.warning("Elasticsearch busy (attempt %d/%d): %s", attempt + 1, self.attempts, exc)
            if not remaining:
                if not self.replaying and self.spool.exists():
                    self.replayed += self.replay_spool()  # it is back: write what waited on disk
                return results
        self.spool_docs(remaining)
        for doc in remaining:
            results[doc["doc_id"]] = f"{SPOOLED}: Elasticsearch unavailable"
        return results

    def spool_docs(self, docs: list[dict]) -> None:
        self.spool.parent.mkdir(parents=True, exist_ok=True)
        with open(self.spool, "a", encoding="utf-8") as handle:
            for doc in docs:
                handle.write(json.dumps(doc, ensure_ascii=False) + "\n")
        logger.error("Elasticsearch unavailable: %d documents kept in %s, written when it is back",
                     len(docs), self.spool)

    def replay_spool(self, batch_size: int = 500) -> int:
        """Write what could not be written before; returns how many were written.

        Spooled documents that fail again go back to the spool, so nothing is lost; replaying the
        same document twice only rewrites it under its id.
        """
        if not self.spool.exists():
            return 0
        pending = self.spool.with_suffix(".replaying")
        if not pending.exists():
            self.spool.rename(pending)
        written = 0
        self.replaying = True
        try:
            with open(pending, encoding="utf-8") as handle:
                batch = []
                for line in handle:
                    if line.strip():
                        batch.append(json.loads(line))
                    if len(batch) >= batch_size:
                        written += self._replay_batch(batch)
                        batch = []
                if batch:
                    written += self._replay_batch(batch)
        finally:
            self.replaying = False
        pending.unlink()
        if written:
            logger.info("wrote %d spooled documents into Elasticsearch", written)
        return written

    def _replay_batch(self, docs: list[dict]) -> int:
        return sum(1 for reason in self.write(docs).values() if reason is None)
