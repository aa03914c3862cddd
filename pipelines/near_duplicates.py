"""Syndicated copies: a post whose text nearly equals one already indexed is marked, not indexed again.

Texts compare as sets of character 5-grams (after NFKC, lowercasing and folding whitespace), so
Japanese and Chinese, written without spaces, compare as well as English. MinHash (datasketch)
estimates their Jaccard similarity and LSH band keys find candidates: within this crawl in memory,
across crawls through the `near_duplicate_bands` field of indexed posts, where a candidate is then
confirmed on its real text. A copy is recorded in `<prefix>-copies` (where it was seen, and which
post it copies) instead of being indexed.
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
import unicodedata

from datasketch import MinHash, MinHashLSH
from elasticsearch.exceptions import NotFoundError
from itemadapter import ItemAdapter
from scrapy.exceptions import DropItem

from index.storage.client import ES_ERRORS, connect, copies_index, reviews_alias
from index.storage.schema import ensure_copies_index
from pipelines.sections import required_section

logger = logging.getLogger(__name__)
SHINGLE_CHARS = 5
NUM_PERM = 128
MIN_CHARS = 80  # short posts ("+1", "同じく") are alike without being copies


def shingles(text: str) -> set[bytes]:
    folded = " ".join(unicodedata.normalize("NFKC", text).lower().split())
    return {folded[i:i + SHINGLE_CHARS].encode() for i in range(max(1, len(folded) - SHINGLE_CHARS + 1))}


def jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a or b else 0.0


class CrawlMemory:
    """The posts this process has let through, for copies not yet searchable in the index."""

    def __init__(self, threshold: float):
        self.lsh = MinHashLSH(threshold=threshold, num_perm=NUM_PERM)
        self.signatures: dict[str, MinHash] = {}
        # Look-up and insert are one step: two copies checked at once would each find the other absent.
        self.lock = asyncio.Lock()


# One per index and process: the sources of a crawl run side by side and copy each other.
_MEMORIES: dict[tuple[str, float], CrawlMemory] = {}


class NearDuplicatePipeline:
    def __init__(self, es_config: dict, stats=None, threshold: float = 0.8):
        self.es_config = es_config
        self.stats = stats
        self.threshold = threshold
        self.memory = _MEMORIES.setdefault((reviews_alias(es_config), threshold), CrawlMemory(threshold))
        self.client = None

    @classmethod
    def from_crawler(cls, crawler):
        es_config = required_section(crawler.settings, "KUCHIKOMI_ELASTICSEARCH")
        return cls(es_config, crawler.stats,
                   crawler.settings.getfloat("KUCHIKOMI_NEAR_DUPLICATE_THRESHOLD", 0.8))

    def open_spider(self):
        self.client = connect(self.es_config, check=False)
        try:
            ensure_copies_index(self.client, copies_index(self.es_config))
        except ES_ERRORS as exc:
            logger.warning("copies index not ready, Elasticsearch unavailable: %s", exc)

    def _count(self, key: str) -> None:
        if self.stats is not None:
            self.stats.inc_value(f"kuchikomi/near_duplicates/{key}")

    def band_keys(self, minhash: MinHash) -> list[str]:
        rows = self.memory.lsh.r
        return [f"{band}-" + hashlib.blake2b(minhash.hashvalues[band * rows:(band + 1) * rows].tobytes(),
                                             digest_size=8).hexdigest() for band in range(self.memory.lsh.b)]

    def _in_crawl(self, doc_id: str, minhash: MinHash) -> tuple[str, float] | None:
        for candidate in self.memory.lsh.query(minhash):
            if candidate != doc_id:
                similarity = minhash.jaccard(self.memory.signatures[candidate])
                if similarity >= self.threshold:
                    return candidate, similarity
        return None

    def _indexed(self, doc_id: str, bands: list[str], grams: set[bytes]) -> tuple[str, float] | None:
        """The earliest indexed post sharing a band whose text is a near copy."""
        try:
            reply = self.client.search(index=reviews_alias(self.es_config), size=5, body={
                "query": {"bool": {"filter": [{"terms": {"near_duplicate_bands": bands}}],
                                   "must_not": [{"ids": {"values": [doc_id]}}]}},
                "sort": [{"date": {"order": "asc", "unmapped_type": "date"}}], "_source": ["body"]})
        except NotFoundError:
            return None
        for hit in reply["hits"]["hits"]:
            similarity = jaccard(grams, shingles(hit["_source"].get("body") or ""))
            if similarity >= self.threshold:
                return hit["_id"], similarity
        return None

    def _record_copy(self, adapter: ItemAdapter, original: str, similarity: float) -> None:
        self.client.index(index=copies_index(self.es_config), id=adapter["doc_id"], body={
            "doc_id": adapter["doc_id"], "original": original,
            "url": adapter.get("review_url") or adapter.get("source_url"), "site": adapter.get("site"),
            "source": adapter.get("source"), "title": adapter.get("title"), "similarity": round(similarity, 4),
            "seen_at": adapter.get("fetched_at")})

    async def process_item(self, item):
        adapter = ItemAdapter(item)
        text = adapter.get("body") or ""
        if adapter.get("kind") != "post" or len(text) < MIN_CHARS:
            return item
        grams = shingles(text)
        minhash = MinHash(num_perm=NUM_PERM)
        minhash.update_batch(list(grams))
        bands = self.band_keys(minhash)
        doc_id = adapter["doc_id"]
        async with self.memory.lock:
            try:
                found = self._in_crawl(doc_id, minhash) or \
                    await asyncio.to_thread(self._indexed, doc_id, bands, grams)
            except ES_ERRORS as exc:
                # Unchecked, the post is indexed as it is: a copy kept twice beats a post lost.
                self._count("unchecked")
                logger.warning("near-duplicate check skipped for %s, Elasticsearch unavailable: %s",
                               adapter.get("source_url"), exc)
                found = None
            if not found and doc_id not in self.memory.signatures:
                self.memory.lsh.insert(doc_id, minhash)
                self.memory.signatures[doc_id] = minhash
        if found:
            try:
                await asyncio.to_thread(self._record_copy, adapter, *found)
            except ES_ERRORS as exc:
                self._count("unrecorded")
                logger.warning("copy of %s not recorded, so indexed as a post: %s", found[0], exc)
                found = None
        if found:
            self._count("copies")
            if self.stats is not None:
                self.stats.inc_value("kuchikomi/dropped/near_duplicate")
            raise DropItem(f"near-duplicate ({found[1]:.2f}) of post {found[0]}: {adapter.get('source_url')}")
        adapter["near_duplicate_bands"] = bands
        return item
