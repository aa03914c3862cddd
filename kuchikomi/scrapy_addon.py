"""Plain Scrapy (`scrapy crawl reviews -a start_urls=... -s KUCHIKOMI_CONFIG=monitor.yaml`): an add-on that
loads the monitor config and hands each stage its section, as `kuchikomi crawl` does."""
from __future__ import annotations

from kuchikomi.config import load_monitor
from kuchikomi.crawl import monitor_sections


class MonitorConfig:
    def update_settings(self, settings) -> None:
        path = settings.get("KUCHIKOMI_CONFIG")
        if path and settings.get("KUCHIKOMI_ELASTICSEARCH") is None:
            settings.setdict(monitor_sections(load_monitor(path)), priority="addon")
