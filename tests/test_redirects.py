"""Redirects: a moved review page is crawled at its new address, once; chains and loops are counted skips."""
import pytest
from crawlers.static_site import DEMO_SITE
from tests.support.crawling import crawl, stored
from tests.support.servers import LocalServer, Reply, html

SONY = "/products/sony-wh-1000xm5.html"
# old address -> (status, Location); relative and absolute Locations both occur in the wild.
MOVES = {"/old/sony.html": (301, SONY), "/go?to=sony": (302, "/old/sony.html"),
         "/p/cooker": (308, "/products/panasonic-rice-cooker.html"),
         "/loop-a": (302, "/loop-b"), "/loop-b": (302, "/loop-a")}
MOVES.update({f"/hop/{n}": (302, f"/hop/{n + 1}") for n in range(40)})


def moving_shop() -> LocalServer:
    def answer(path: str, headers) -> Reply:
        if path in MOVES:
            status, location = MOVES[path]
            return Reply(status, headers={"Location": location if status != 301 else f"{shop.url}{location}"})
        page = DEMO_SITE / path.lstrip("/")
        if not page.is_file() or ".." in path:
            return Reply(404)
        return html(page.read_bytes())

    shop = LocalServer(answer)
    return shop


@pytest.mark.slow
def test_redirects_are_followed_once_and_dead_ends_counted(tmp_path, es_url, index_prefix, kuchikomi_home):
    with moving_shop() as shop:
        result = crawl(tmp_path, es_url, index_prefix, [{"name": "moved", "start_urls": [
            f"{shop.url}{path}" for path in ("/go?to=sony", "/p/cooker", "/loop-a", "/hop/0")]}], log_level="INFO")
    assert result.returncode == 0, result.stderr[-3000:]
    hits = stored(es_url, index_prefix)
    # Two hops to the Sony page (6 reviews over 2 pages), a 308 to the cooker page (3): at their real addresses.
    assert len(hits) == 9
    assert {h["source_url"].replace(shop.url, "") for h in hits} == {
        SONY, "/products/sony-wh-1000xm5-page2.html", "/products/panasonic-rice-cooker.html"}
    assert shop.requests.count(SONY) == 1
    # The chain of 40 gives up after Scrapy's 20 redirects; the loop ends at a page already fetched.
    summary = result.stdout
    assert "'too_many_redirects': 1" in summary and "'redirect_to_known_page': 1" in summary
    assert f"skipped {shop.url}/hop/0: more than 20 redirects" in result.stderr
    assert f"skipped {shop.url}/loop-a: redirected to {shop.url}/loop-a" in result.stderr
