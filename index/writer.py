"""Bulk writes with retries; documents that still cannot be written are spooled to disk, not lost."""
from __future__ import annotations

import json
import logging
import time
from pathlib import Path

from elasticsearch import Elasticsearch, helpers
from elasticsearch.exceptions import ConnectionError as ESConnectionError, ConnectionTimeout

logger = logging.getLogger(__name__)

SPOOLED = "spooled"


class BulkWriter:
    def __init__(self, client: Elasticsearch, alias: str, spool: Path, attempts: int = 4,
                 backoff: float = 1.0):
        self.client = client
        self.alias = alias
        self.spool = spool
        self.attempts = attempts
        self.backoff = backoff

    def _actions(self, docs: list[dict]):
        return [{"_op_type": "index", "_index": self.alias, "_id": doc["doc_id"], "_source": doc}
                for doc in docs]

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
                # streaming_bulk itself retries 429s (max_retries) with backoff.
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
            if not remaining:
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
        logger.error("Elasticsearch unavailable: %d documents kept in %s and replayed on the next run",
                     len(docs), self.spool)

    def replay_spool(self) -> int:
        """Write what an earlier run could not; returns how many were written."""
        if not self.spool.exists():
            return 0
        pending = self.spool.with_suffix(".replaying")
        self.spool.rename(pending)
        docs = [json.loads(line) for line in pending.read_text(encoding="utf-8").splitlines() if line]
        results = self.write(docs)
        pending.unlink()
        return sum(1 for reason in results.values() if reason is None)
