"""Reviews into Elasticsearch, bulk, through the alias; an item moves on once it is stored."""
from __future__ import annotations

import logging
from collections.abc import Mapping

from elasticsearch.exceptions import TransportError
from itemadapter import ItemAdapter
from scrapy.exceptions import DropItem

from foundations import paths
from index.storage.client import ES_ERRORS, connect, index_prefix, reviews_alias
from index.storage.schema import ensure_reviews_index
from index.storage.writer import SPOOLED, BulkWriter
from pipelines.batching import MicroBatcher
from pipelines.sections import required_section

logger = logging.getLogger(__name__)
# Two bulk requests at once: one is encoded and sent while Elasticsearch indexes the other.
# Safe because dedup lets each review through once per crawl, and versions order the rest.
BULK_REQUESTS_IN_FLIGHT = 2
# A bulk request waits for more reviews (KUCHIKOMI_BULK_LINGER at most) only while they keep coming.
BULK_QUIET = 0.05


class ElasticsearchPipeline:
    def __init__(self, es_config: dict, batch_size: int = 200, stats=None, linger: float = 0.0):
        self.es_config = es_config
        self.batch_size = batch_size
        self.linger = linger
        self.stats = stats
        self.writer: BulkWriter | None = None
        self.batcher: MicroBatcher | None = None
        self.written = 0  # published when the crawl closes: a stats call per item costs more than the count

    @classmethod
    def from_crawler(cls, crawler):
        es_config = required_section(crawler.settings, "KUCHIKOMI_ELASTICSEARCH")
        return cls(es_config, crawler.settings.getint("KUCHIKOMI_BULK_SIZE", 200),
                   crawler.stats, crawler.settings.getfloat("KUCHIKOMI_BULK_LINGER", 0.0))

    def open_spider(self):
        client = connect(self.es_config)
        prefix = index_prefix(self.es_config)
        ensure_reviews_index(client, prefix)
        spool = paths.home() / "spool" / f"{prefix}-reviews.jsonl"
        self.writer = BulkWriter(client, reviews_alias(self.es_config), spool)
        replayed = self.writer.replay_spool()
        if replayed:
            logger.info("replayed %d spooled documents into Elasticsearch", replayed)
            self.stats.inc_value("kuchikomi/index/replayed", replayed)
        self.batcher = MicroBatcher(self._write, max_size=self.batch_size, name="bulk",
                                    workers=BULK_REQUESTS_IN_FLIGHT, linger=self.linger, quiet=BULK_QUIET)

    def _write(self, docs: list[dict]) -> list[str | None]:
        try:
            results = self.writer.write(docs)
        except TransportError as exc:  # the bulk request itself refused (413, 400): each review counted failed
            return [f"Elasticsearch refused the bulk request: {exc.status_code} {exc.error}"] * len(docs)
        return [results.get(doc["doc_id"], "no reply from Elasticsearch") for doc in docs]

    async def process_item(self, item):
        # Shallow: nested values are plain dicts and lists already, and asdict()'s deep walk costs
        # more than the bulk write itself (a mapping item copies four times faster than its adapter).
        doc = dict(item) if isinstance(item, Mapping) else dict(ItemAdapter(item))
        failure = await self.batcher.submit(doc)
        if failure and failure.startswith(SPOOLED):
            # Kept on disk for the next run; later stages (alerts) still see the review now.
            self.stats.inc_value("kuchikomi/index/spooled")
            return item
        if failure:
            self.stats.inc_value("kuchikomi/index/failed")
            raise DropItem(f"not indexed: {failure} ({doc['source_url']})")
        self.written += 1
        return item

    async def close_spider(self):
        if self.batcher is not None:
            await self.batcher.close()
        if self.written:
            self.stats.inc_value("kuchikomi/index/written", self.written)
        if self.writer is not None:
            self._make_searchable()
            if self.writer.replayed:
                self.stats.inc_value("kuchikomi/index/replayed", self.writer.replayed)
            for outcome, count in self.writer.outcomes.items():
                self.stats.set_value(f"kuchikomi/index/{outcome}", count)

    def _make_searchable(self) -> None:
        """What this crawl wrote is searchable once it ends (the next crawl's paging and copy checks,
        reports, a researcher's query), not only at the index's next scheduled refresh."""
        try:
            self.writer.client.indices.refresh(index=self.writer.alias)
        except ES_ERRORS as exc:
            logger.warning("reviews written but not yet searchable, Elasticsearch unavailable: %s", exc)
