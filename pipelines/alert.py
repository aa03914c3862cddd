"""Alert evaluation on stored reviews; state in Elasticsearch, delivery on worker threads.

Each new alert is recorded, then everything due is delivered at once, so a negative review is
announced while the crawl goes on; grouped or held alerts are sent by a periodic flush, at the
end of the crawl, or by `kuchikomi alerts run`. Items that cannot be evaluated because
Elasticsearch is unreachable are spooled to disk and evaluated on the next run.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from pathlib import Path

from elasticsearch.exceptions import ConnectionError as ESConnectionError, TransportError
from itemadapter import ItemAdapter
from scrapy.exceptions import NotConfigured

from alerts.dispatch import AlertDispatcher
from alerts.state import DEAD, DELIVERED, FAILED, DeliveryState
from foundations import paths
from index.storage.client import alerts_index, connect, index_prefix, reviews_alias

logger = logging.getLogger(__name__)


class AlertPipeline:
    def __init__(self, es_config: dict, alerts_config: dict, base_dir, stats=None, flush_interval: float = 2.0):
        self.es_config = es_config
        self.alerts_config = alerts_config
        self.base_dir = base_dir  # relative paths in the alerts section (a jsonl channel's file) start here
        self.stats = stats
        self.flush_interval = flush_interval
        self.dispatcher: AlertDispatcher | None = None
        self.spool = paths.home() / "spool" / f"{index_prefix(es_config)}-alert-items.jsonl"
        self.flusher: asyncio.Task | None = None

    @classmethod
    def from_crawler(cls, crawler):
        settings = crawler.settings
        alerts_config = settings.get("KUCHIKOMI_ALERTS") or {}
        if not alerts_config.get("rules") or settings.get("KUCHIKOMI_ELASTICSEARCH") is None:
            raise NotConfigured("no alert rules configured")
        return cls(settings.get("KUCHIKOMI_ELASTICSEARCH"), alerts_config, settings.get("KUCHIKOMI_CONFIG_DIR", "."),
                   crawler.stats, settings.getfloat("KUCHIKOMI_ALERT_FLUSH_INTERVAL", 2.0))

    async def open_spider(self):
        es_config = self.es_config
        client = connect(es_config)
        state = DeliveryState(client, alerts_index(es_config))
        self.dispatcher = AlertDispatcher(self.alerts_config, state, base_dir=Path(self.base_dir),
                                          client=client, reviews_index=reviews_alias(es_config))
        claims = await asyncio.to_thread(self._replay_spool)
        self._counted(await asyncio.to_thread(self.dispatcher.deliver_claimed, claims))
        await self._deliver()
        self.flusher = asyncio.ensure_future(self._flush_periodically())

    def _count(self, key: str, n: int = 1) -> None:
        if n and self.stats is not None:
            self.stats.inc_value(f"kuchikomi/alerts/{key}", n)

    def _record(self, item, matched: list[dict] | None = None) -> list[dict]:
        """Evaluate the per-item rules and record new alerts (each one matched also into `matched`);
        the new records."""
        claims = []
        alerts = self.dispatcher.evaluate(item)
        if matched is not None:
            matched += alerts
        for alert in alerts:
            claim = self.dispatcher.submit(alert)
            if claim is None:
                self._count("already_recorded")
            else:
                claims.append(claim)
        self._count("matched", len(claims))
        return claims

    def _run_scheduled(self) -> list[dict]:
        claims = [self.dispatcher.submit(alert) for alert in self.dispatcher.run_scheduled()]
        claims = [claim for claim in claims if claim is not None]
        self._count("matched", len(claims))
        return claims

    def _counted(self, counts: dict[str, int]) -> None:
        for key in (DELIVERED, FAILED, DEAD):
            self._count(key, counts[key])

    async def _deliver(self) -> None:
        self._counted(await asyncio.to_thread(self.dispatcher.deliver_due))

    async def _flush_periodically(self) -> None:
        while True:
            await asyncio.sleep(self.flush_interval)
            try:
                await self._deliver()
            except (ESConnectionError, TransportError) as exc:
                logger.warning("alert flush skipped, Elasticsearch unavailable: %s", exc)

    async def process_item(self, item):
        doc = ItemAdapter(item).asdict()
        matched: list[dict] = []
        try:
            claims = await asyncio.to_thread(self._record, doc, matched)
            if claims:
                self._counted(await asyncio.to_thread(self.dispatcher.deliver_claimed, claims))
        except (ESConnectionError, TransportError) as exc:
            self._spool_item(doc)
            # The next run evaluates the review again and sends what it matches (what was recorded, once due).
            # Nothing matched: only a rule that reads the index (new_source) touches it, and it could not.
            self._count("held" if matched else "unevaluated", len(matched) or 1)
            logger.error("alerts for %s deferred to the next run, Elasticsearch unavailable: %s",
                         doc.get("source_url"), exc)
        return item

    def _spool_item(self, doc: dict) -> None:
        self.spool.parent.mkdir(parents=True, exist_ok=True)
        with open(self.spool, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(doc, ensure_ascii=False) + "\n")
        self._count("deferred")

    def _replay_spool(self) -> list[dict]:
        """Evaluate the reviews an earlier run deferred; the alerts they claimed."""
        if not self.spool.exists():
            return []
        replaying = self.spool.with_suffix(".replaying")
        self.spool.rename(replaying)
        docs = [json.loads(line) for line in replaying.read_text(encoding="utf-8").splitlines() if line]
        claims = []
        try:
            for doc in docs:
                claims += self._record(doc)
        except (ESConnectionError, TransportError):
            for doc in docs:  # recording is idempotent, so all of them are simply tried again
                self._spool_item(doc)
            raise
        finally:
            replaying.unlink()
        logger.info("evaluated alert rules on %d reviews deferred by an earlier run", len(docs))
        return claims

    async def close_spider(self):
        if self.flusher is not None:
            self.flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.flusher
        if self.dispatcher is None:
            return
        try:
            claims = await asyncio.to_thread(self._run_scheduled)
            self._counted(await asyncio.to_thread(self.dispatcher.deliver_claimed, claims))
            await self._deliver()
        except (ESConnectionError, TransportError) as exc:
            logger.error("scheduled alert rules not run, Elasticsearch unavailable: %s", exc)
