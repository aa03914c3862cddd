"""Alert evaluation on stored reviews; delivery runs on a worker thread, state in Elasticsearch."""
from __future__ import annotations

import asyncio
import logging

from scrapy.exceptions import NotConfigured

from alerts.dispatch import ALREADY_DELIVERED, DELIVERED, AlertDispatcher
from alerts.state import DeliveryState
from crawlers.config import monitor_from_settings
from index.client import alerts_index, connect

logger = logging.getLogger(__name__)


class AlertPipeline:
    def __init__(self, monitor, stats=None):
        self.monitor = monitor
        self.stats = stats
        self.dispatcher: AlertDispatcher | None = None

    @classmethod
    def from_crawler(cls, crawler):
        monitor = monitor_from_settings(crawler.settings)
        if monitor is None or not monitor.alerts.get("rules"):
            raise NotConfigured("no alert rules configured")
        return cls(monitor, crawler.stats)

    async def open_spider(self):
        es_config = self.monitor.elasticsearch
        state = DeliveryState(connect(es_config), alerts_index(es_config))
        self.dispatcher = AlertDispatcher(self.monitor.alerts, state, base_dir=self.monitor.path.parent)
        retried = await asyncio.to_thread(self.dispatcher.redeliver_undelivered)
        if retried[DELIVERED]:
            logger.info("delivered %d alerts left over from an earlier run", retried[DELIVERED])
        self._count(DELIVERED, retried[DELIVERED])

    def _count(self, result: str, n: int = 1) -> None:
        if n and self.stats is not None:
            self.stats.inc_value(f"kuchikomi/alerts/{result}", n)

    async def process_item(self, item):
        for alert in self.dispatcher.evaluate(item):
            result = await asyncio.to_thread(self.dispatcher.deliver, alert)
            self._count(result)
            if result not in (DELIVERED, ALREADY_DELIVERED):
                logger.warning("alert %s for %s kept for retry", alert["alert_id"], alert["url"])
        return item
