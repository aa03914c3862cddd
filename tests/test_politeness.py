"""Crawl manners against a real local server: 429/503 with Retry-After, and a site that asks too much."""
import time
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest
import yaml
from elasticsearch import Elasticsearch

from crawlers.middlewares.retry_after import retry_after_seconds
from crawlers.static_site import DEMO_SITE
from tests.support.cli import kuchikomi_process
from tests.support.servers import LocalServer, Reply, html

PAGE = (DEMO_SITE / "products" / "usb-cable.html").read_bytes()


class BusySite(LocalServer):
    """Answers `busy_status` with `Retry-After: retry_after` to the first `busy` requests for the page."""

    def __init__(self, busy: int, retry_after: str, busy_status: int = 429):
        self.arrivals: list[float] = []

        def answer(path: str, headers) -> Reply:
            if path == "/robots.txt":
                return Reply(404)
            self.arrivals.append(time.monotonic())
            if len(self.arrivals) <= busy:
                return Reply(busy_status, headers={"Retry-After": retry_after})
            return html(PAGE)

        super().__init__(answer)


def crawl(tmp_path, url, es_url, prefix):
    config = tmp_path / "monitor.yaml"
    config.write_text(yaml.safe_dump({
        "elasticsearch": {"url": es_url, "index_prefix": prefix},
        "sources": [{"name": "busy", "start_urls": [f"{url}/product.html"]}],
        "crawl": {"autothrottle_start_delay": 0, "download_delay": 0}}))
    return kuchikomi_process("crawl", "-c", str(config))


def stored(es_url, prefix) -> int:
    client = Elasticsearch([es_url])
    client.indices.refresh(index=f"{prefix}-reviews")
    return client.count(index=f"{prefix}-reviews")["count"]


def test_retry_after_in_seconds_and_as_a_date():
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert retry_after_seconds("120") == 120
    assert retry_after_seconds(format_datetime(now + timedelta(seconds=30), usegmt=True), now) == 30
    assert retry_after_seconds(format_datetime(now - timedelta(seconds=30), usegmt=True), now) == 0
    assert retry_after_seconds("soon") is None


@pytest.mark.slow
@pytest.mark.parametrize("status", [429, 503])
def test_a_busy_site_is_waited_for_as_long_as_it_asks(status, tmp_path, es_url, index_prefix, kuchikomi_home):
    with BusySite(busy=2, retry_after="2", busy_status=status) as site:
        result = crawl(tmp_path, site.url, es_url, index_prefix)
    assert result.returncode == 0, result.stderr[-2000:]
    assert len(site.arrivals) == 3
    gaps = [later - earlier for earlier, later in zip(site.arrivals, site.arrivals[1:])]
    assert all(gap >= 1.9 for gap in gaps), gaps
    assert stored(es_url, index_prefix) == 1  # the cable page's one review, once the site answered
    assert f"waited as Retry-After asked on {{'{status}': 2}}" in result.stdout


@pytest.mark.slow
def test_a_site_asking_for_too_long_a_wait_is_skipped_and_counted(tmp_path, es_url, index_prefix, kuchikomi_home):
    with BusySite(busy=100, retry_after="86400") as site:
        result = crawl(tmp_path, site.url, es_url, index_prefix)
    assert result.returncode == 0, result.stderr[-2000:]
    assert len(site.arrivals) == 1
    assert "retry_after_too_long" in result.stdout and "asks to retry after 86400 s" in result.stderr
