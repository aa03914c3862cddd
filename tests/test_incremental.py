"""Re-crawls fetch only what changed: pages are revalidated with Last-Modified, a 304 page is not processed."""
import pytest
import re
import shutil
import time

import yaml

from crawlers.static_site import DEMO_SITE, StaticSite
from tests.support.cli import kuchikomi_process

PAGES = ["sony-wh-1000xm5.html", "panasonic-rice-cooker.html", "usb-cable.html"]


def crawl(config) -> dict:
    result = kuchikomi_process("crawl", "-c", str(config), "--log-level", "WARNING")
    assert result.returncode == 0, result.stderr[-2000:]
    line = next(line for line in result.stdout.splitlines() if line.startswith("source demo:"))
    numbers = re.search(r"(\d+) pages \((\d+) unchanged\), (\d+) reviews indexed \(new (\d+), updated (\d+), "
                        r"unchanged (\d+)", line)
    return dict(zip(["pages", "unchanged", "indexed", "new", "updated", "same"], map(int, numbers.groups())))


@pytest.mark.slow
def test_unchanged_pages_are_not_processed_again(tmp_path, es_url, index_prefix, kuchikomi_home):
    root = tmp_path / "site"
    shutil.copytree(DEMO_SITE, root)
    with StaticSite(root) as site:
        config = tmp_path / "monitor.yaml"
        config.write_text(yaml.safe_dump({
            "elasticsearch": {"url": es_url, "index_prefix": index_prefix},
            "sources": [{"name": "demo", "start_urls": [f"{site.url}/products/{page}" for page in PAGES]}],
            "crawl": {"autothrottle_start_delay": 0, "download_delay": 0}}))
        first = crawl(config)
        assert first["unchanged"] == 0 and first["new"] == first["indexed"] > 0
        second = crawl(config)
        assert second == {"pages": first["pages"], "unchanged": first["pages"], "indexed": 0, "new": 0,
                          "updated": 0, "same": 0}
        time.sleep(1.1)  # Last-Modified has a resolution of one second
        page = root / "products" / "usb-cable.html"
        page.write_text(page.read_text(encoding="utf-8").replace("</body>", "<p>Sale!</p></body>"),
                        encoding="utf-8")
        third = crawl(config)
        # The page changed around its review, not the review: read again, found the same, not rewritten.
        assert third["unchanged"] == first["pages"] - 1
        assert third["indexed"] == third["same"] == 1 and third["new"] == third["updated"] == 0
        time.sleep(1.1)
        page.write_text(page.read_text(encoding="utf-8").replace("Frayed in a week", "Frayed in two days"),
                        encoding="utf-8")
        fourth = crawl(config)
    assert fourth["indexed"] == fourth["updated"] == 1 and fourth["new"] == fourth["same"] == 0
