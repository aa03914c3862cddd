"""`kuchikomi crawl --loop`: each source on its own schedule, kept across restarts."""

import pytest
import yaml

from crawlers.static_site import DEMO_SITE, StaticSite
from foundations.durations import parse_duration
from tests.support.cli import kuchikomi_process


def test_schedule_durations():
    assert [parse_duration(d) for d in ("45s", "30m", "6h", "1d")] == [45, 1800, 21600, 86400]
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration("soon")


@pytest.mark.slow
def test_loop_crawls_each_source_when_it_is_due(tmp_path, es_url, index_prefix, kuchikomi_home):
    with StaticSite(DEMO_SITE) as site:
        config = tmp_path / "monitor.yaml"
        config.write_text(yaml.safe_dump({
            "elasticsearch": {"url": es_url, "index_prefix": index_prefix},
            "sources": [{"name": "often", "every": "2s", "start_urls": [f"{site.url}/products/usb-cable.html"]},
                        {"name": "daily", "every": "1d",
                         "start_urls": [f"{site.url}/products/panasonic-rice-cooker.html"]}],
            "crawl": {"autothrottle_start_delay": 0, "download_delay": 0}}))

        def loop(rounds):
            result = kuchikomi_process("crawl", "--loop", "--rounds", str(rounds), "-c", str(config), "--log-level", "WARNING")
            assert result.returncode == 0, result.stderr[-2000:]
            return [line.split("crawling ")[1] for line in result.stdout.splitlines() if "] crawling " in line]

        assert loop(2) == ["often, daily", "often"]
        assert loop(1) == ["often"]  # a restarted loop remembers that daily ran today
