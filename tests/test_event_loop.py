"""The crawl's event loop: uvloop's when it is installed (it is a dependency), asyncio's otherwise."""
from importlib.util import find_spec

import pytest

from crawlers.static_site import DEMO_SITE, StaticSite
from tests.support.crawling import crawl, stored


@pytest.mark.slow
@pytest.mark.skipif(find_spec("uvloop") is None, reason="uvloop is not installed")
def test_a_crawl_runs_on_uvloop_and_stores_what_it_found(tmp_path, es_url, index_prefix, kuchikomi_home):
    with StaticSite(DEMO_SITE) as site:
        result = crawl(tmp_path, es_url, index_prefix, [
            {"name": "demo", "start_urls": [f"{site.url}/products/sony-wh-1000xm5.html"]}], log_level="DEBUG")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Using asyncio event loop: uvloop.Loop" in result.stderr
    # The page and its second page: the loop drives downloads, pipelines and the bulk writer's thread.
    assert {hit["source_url"].replace(site.url, "") for hit in stored(es_url, index_prefix)} == {
        "/products/sony-wh-1000xm5.html", "/products/sony-wh-1000xm5-page2.html"}
