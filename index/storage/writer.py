"""Idempotent bulk writes with retries; documents that still cannot be written are spooled to disk, not lost.

The document id is the dedup key, so writing a review again replaces it. After a rollover the alias
has several indices; a review already stored in an older one is written back there, not into the
new write index, so it is never stored twice. The writer keeps its view of the alias and notices a
rollover made elsewhere (cron's `kuchikomi index maintain`) from the bulk answer itself.
"""
from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from datetime import datetime
from pathlib import Path

import orjson
from elasticsearch import Elasticsearch, helpers
from elasticsearch.exceptions import ConnectionError as ESConnectionError, ConnectionTimeout, TransportError

from index.storage.schema import backing_indices

logger = logging.getLogger(__name__)

SPOOLED = "spooled"
# Answers that mean "not now": Elasticsearch busy (429), a shard without its primary while a node leaves the
# cluster (503), and the gateway errors a proxy in front of a cluster (Elastic Cloud, AWS) gives meanwhile.
RETRY_LATER = (429, 502, 503, 504)


# Fields that change with every fetch, left out of the content hash.
VOLATILE_FIELDS = {"fetched_at", "date", "content_hash"}


# Of the sentiment and the categories, what a reader sees: the model's scores move in their last digits
# with the batch a review happened to be classified in.
SENTIMENT_CONTENT = ("label", "model", "model_version", "corrected")


def content_hash(doc: dict) -> str:
    """What a review says, as the crawl produced it: a re-crawl with the same hash changes nothing."""
    content = dict(doc)  # a copy and three deletions: several times faster than a filtering comprehension
    for key in VOLATILE_FIELDS:
        content.pop(key, None)
    if isinstance(content.get("sentiment"), dict):
        content["sentiment"] = {key: content["sentiment"].get(key) for key in SENTIMENT_CONTENT}
    if isinstance(content.get("categories"), list):
        content["categories"] = [(category.get("name"), category.get("corrected")) for category in
                                 content["categories"] if isinstance(category, dict)]
    try:
        encoded = orjson.dumps(content, default=str, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
    except orjson.JSONEncodeError:  # a lone surrogate from a page's JSON-LD
        encoded = json.dumps(content, sort_keys=True, ensure_ascii=False, default=str).encode("utf-8", "surrogatepass")
    return hashlib.sha1(encoded).hexdigest()


def prepare_document(doc: dict) -> dict:
    """The stored form of a review: `date` is when it was written, else when it was fetched."""
    return {**doc, "date": doc.get("published_at") or doc.get("fetched_at"), "content_hash": content_hash(doc)}


def fetch_version(doc: dict) -> int | None:
    """The fetch time in ms as an external version: an older copy (a late replay, a slower concurrent
    batch) never overwrites a newer one, and writing the same copy twice changes nothing."""
    try:
        return int(datetime.fromisoformat(doc["fetched_at"]).timestamp() * 1000)
    except (KeyError, TypeError, ValueError):
        return None


def index_action(doc: dict, index: str, prepared: dict | None = None) -> dict:
    action = {"_op_type": "index", "_index": index, "_id": doc["doc_id"],
              "_source": prepared or prepare_document(doc)}
    version = fetch_version(doc)
    if version is not None:
        action.update(_version=version, _version_type="external")
    return action


class BulkWriter:
    def __init__(self, client: Elasticsearch, alias: str, spool: Path, attempts: int = 4,
                 backoff: float = 1.0):
        self.client = client
        self.alias = alias
        self.spool = spool
        self.attempts = attempts
        self.backoff = backoff
        # The index stage writes from two threads: one spools at a time, one replays at a time.
        self.spool_lock = threading.Lock()
        self.replay_lock = threading.Lock()
        self.replayed = 0
        # What each written review was: new to the index, a changed copy, or older than the stored one.
        # Unchanged: the stored copy says the same, so it is not written again.
        self.outcomes = {"created": 0, "updated": 0, "unchanged": 0, "stale": 0}
        self.write_index: str | None = None
        self.older: list[str] = []

    def _refresh_view(self) -> None:
        indices = backing_indices(self.client, self.alias)
        self.write_index = next((name for name, info in indices.items() if info["write"]), None)
        self.older = sorted(name for name, info in indices.items() if not info["write"])
        if self.older:
            # Rolled-over indices take no new ids, so once refreshed, a search finds every id they hold.
            self.client.indices.refresh(index=",".join(self.older), ignore_unavailable=True)

    def _stored_in(self, ids: list[str], exclude: set[str] = frozenset(), with_hash: bool = False) -> dict:
        """id -> the older (rolled-over) index holding it (with its content hash: (index, hash));
        nothing to ask while there is none."""
        older = [name for name in self.older if name not in exclude]
        if not older:
            return {}
        reply = self.client.search(index=",".join(older), ignore_unavailable=True, body={
            "query": {"ids": {"values": ids}}, "_source": ["content_hash"] if with_hash else False,
            "size": len(ids)})
        hits = reply["hits"]["hits"]
        if with_hash:
            return {hit["_id"]: (hit["_index"], hit["_source"].get("content_hash")) for hit in hits}
        return {hit["_id"]: hit["_index"] for hit in hits}

    def _stored_hashes(self, ids: list[str]) -> dict[str, str]:
        """id -> content hash of the copy in the write index (mget: it sees writes not yet searchable)."""
        if self.write_index is None:
            return {}
        reply = self.client.mget(index=self.write_index, body={"ids": ids}, _source_includes=["content_hash"])
        return {doc["_id"]: doc["_source"].get("content_hash") for doc in reply["docs"] if doc.get("found")}

    def _actions(self, docs: list[dict]) -> tuple[list[dict], list[str]]:
        """Index actions for the docs that are new or changed; the ids of those stored as they are."""
        ids = [doc["doc_id"] for doc in docs]
        stored_in = self._stored_in(ids, with_hash=True)
        hashes = {**self._stored_hashes(ids), **{doc_id: digest for doc_id, (_, digest) in stored_in.items()}}
        actions, unchanged = [], []
        for doc in docs:
            prepared = prepare_document(doc)
            if hashes.get(doc["doc_id"]) == prepared["content_hash"]:
                unchanged.append(doc["doc_id"])
            else:
                index = stored_in[doc["doc_id"]][0] if doc["doc_id"] in stored_in else self.alias
                actions.append(index_action(doc, index, prepared))
        return actions, unchanged

    def _after_rollover(self, landed: dict[str, str], by_id: dict[str, dict]) -> None:
        """Someone rolled the alias over since the last look: reviews of this batch that an older index
        already held were just written into the new one too. Keep each in its older index, once."""
        self._refresh_view()
        moved = self._stored_in(list(landed), exclude=set(landed.values()))
        actions = [{"_op_type": "delete", "_index": landed[doc_id], "_id": doc_id} for doc_id in moved]
        actions += [index_action(by_id[doc_id], index) for doc_id, index in moved.items()]
        if actions:
            # A conflict means the older index already holds this or a newer copy: nothing to do.
            helpers.bulk(self.client, actions, raise_on_error=False)
            logger.info("the reviews alias was rolled over; %d reviews kept in their older index", len(moved))

    def _bulk(self, actions: list[dict]) -> list[dict]:
        """One bulk request of index actions (`index_action`); each action's answer. The body is encoded
        by the client's serializer (orjson with `connect`) in one piece, each action line built here:
        the bulk helpers' chunking and generic action expansion cost more than the encoding."""
        if not actions:
            return []
        dumps = self.client.transport.serializer.dumps
        lines = []
        for action in actions:
            meta = {"_index": action["_index"], "_id": action["_id"]}
            if "_version" in action:
                meta.update(version=action["_version"], version_type=action["_version_type"])
            lines.append(dumps({action["_op_type"]: meta}))
            lines.append(dumps(action["_source"]))
        reply = self.client.bulk(body="\n".join(lines) + "\n")
        return [detail for item in reply["items"] for detail in item.values()]

    def write(self, docs: list[dict]) -> dict[str, str | None]:
        """Index docs; return doc_id -> None when written, or the reason it was not."""
        results: dict[str, str | None] = {}
        remaining = docs
        for attempt in range(self.attempts):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            try:
                if self.write_index is None:
                    self._refresh_view()
                retry, landed_elsewhere = [], {}
                by_id = {d["doc_id"]: d for d in remaining}
                actions, unchanged = self._actions(remaining)
                for doc_id in unchanged:
                    results[doc_id] = None
                    self.outcomes["unchanged"] += 1
                for detail in self._bulk(actions):
                    status = detail.get("status", 500)
                    if status == 409:  # this or a newer copy is stored
                        results[detail["_id"]] = None
                        self.outcomes["stale"] += 1
                    elif status < 300:
                        results[detail["_id"]] = None
                        self.outcomes["created" if detail.get("result") == "created" else "updated"] += 1
                        if detail["_index"] != self.write_index and detail["_index"] not in self.older:
                            landed_elsewhere[detail["_id"]] = detail["_index"]
                    elif status in RETRY_LATER:
                        retry.append(by_id[detail["_id"]])  # the next attempt, after a wait
                    else:
                        results[detail["_id"]] = str(detail.get("error"))
                if landed_elsewhere:
                    self._after_rollover(landed_elsewhere, by_id)
                remaining = retry
            except (ESConnectionError, ConnectionTimeout) as exc:
                logger.warning("Elasticsearch bulk write failed (attempt %d/%d): %s",
                               attempt + 1, self.attempts, exc)
            except TransportError as exc:
                if exc.status_code not in RETRY_LATER:
                    raise
                logger.warning("Elasticsearch busy or between nodes (attempt %d/%d): %s",
                               attempt + 1, self.attempts, exc)
            if not remaining:
                if self.spool.exists() and not self.replay_lock.locked():
                    self.replayed += self.replay_spool()  # it is back: write what waited on disk
                return results
        self.spool_docs(remaining)
        for doc in remaining:
            results[doc["doc_id"]] = f"{SPOOLED}: Elasticsearch unavailable"
        return results

    def spool_docs(self, docs: list[dict]) -> None:
        self.spool.parent.mkdir(parents=True, exist_ok=True)
        lines = "".join(json.dumps(doc, ensure_ascii=False) + "\n" for doc in docs)
        with self.spool_lock, open(self.spool, "a", encoding="utf-8") as handle:
            handle.write(lines)
        logger.error("Elasticsearch unavailable: %d documents kept in %s, written when it is back",
                     len(docs), self.spool)

    def replay_spool(self, batch_size: int = 500) -> int:
        """Write what could not be written before; returns how many were written.

        Spooled documents that cannot be written again go back to the spool, so nothing is lost;
        replaying a document twice changes nothing (same id, same version). Ones Elasticsearch
        rejects outright are logged with the reason.
        """
        if not self.replay_lock.acquire(blocking=False):
            return 0  # another thread is at it
        try:
            pending = self.spool.with_suffix(".replaying")
            with self.spool_lock:
                if not pending.exists():
                    if not self.spool.exists():
                        return 0
                    self.spool.rename(pending)
            written = 0
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
            pending.unlink()
        finally:
            self.replay_lock.release()
        if written:
            logger.info("wrote %d spooled documents into Elasticsearch", written)
        return written

    def _replay_batch(self, docs: list[dict]) -> int:
        results = self.write(docs)
        for doc_id, reason in results.items():
            if reason and not reason.startswith(SPOOLED):
                logger.error("spooled review %s rejected by Elasticsearch, dropped: %s", doc_id, reason)
        return sum(1 for reason in results.values() if reason is None)
