"""Pages whose reviews JavaScript writes: read after rendering in Debian's chromium (scrapy-playwright)."""
import shutil

import pytest
import yaml

from kuchikomi.config import ConfigError, load_monitor
from kuchikomi.crawl import DEFAULT_BROWSER
from tests.support.crawling import crawl, stored
from tests.support.servers import LocalServer, Reply, html

REVIEWS_JSON = (b'[{"author": "Aiko", "stars": 1, "text": "\\u30bd\\u30cb\\u30fc\\u306e\\u30a4\\u30e4\\u30db\\u30f3'
                b'\\u3001\\u4e09\\u65e5\\u3067\\u58ca\\u308c\\u305f"}, {"author": "Ben", "stars": 5, "text": "Great '
                b'sound"}, {"author": "Chen", "stars": 4, "text": "\\u97f3\\u8d28\\u4e0d\\u9519"}]')
# The page has no review in its HTML: a script fetches them and writes schema.org microdata, a moment later.
APP_PAGE = b"""<!doctype html><html lang="ja"><head><title>WH-1000XM5</title></head><body>
<div itemscope itemtype="https://schema.org/Product"><h1 itemprop="name">Sony WH-1000XM5</h1><div id="reviews"></div></div>
<script>
setTimeout(async () => {
  const reviews = await (await fetch('/api/reviews.json')).json();
  for (const r of reviews) {
    const el = document.createElement('div');
    el.setAttribute('itemprop', 'review'); el.setAttribute('itemscope', '');
    el.setAttribute('itemtype', 'https://schema.org/Review');
    el.innerHTML = '<span itemprop="author"></span><div itemprop="reviewRating" itemscope ' +
      'itemtype="https://schema.org/Rating"><meta itemprop="ratingValue"></div><p itemprop="reviewBody"></p>';
    el.querySelector('[itemprop=author]').textContent = r.author;
    el.querySelector('[itemprop=ratingValue]').setAttribute('content', r.stars);
    el.querySelector('[itemprop=reviewBody]').textContent = r.text;
    document.getElementById('reviews').appendChild(el);
  }
}, 300);
</script></body></html>"""


def app_shop() -> LocalServer:
    replies = {"/product": html(APP_PAGE), "/api/reviews.json": Reply(200, REVIEWS_JSON,
                                                                      {"Content-Type": "application/json"})}
    return LocalServer(lambda path, headers: replies.get(path, Reply(404)))


@pytest.mark.slow
@pytest.mark.skipif(not shutil.which("chromium") and not shutil.which(DEFAULT_BROWSER),
                    reason="needs Debian's chromium: `make browser` installs it")
def test_a_rendered_source_reads_reviews_that_javascript_writes(tmp_path, es_url, index_prefix, kuchikomi_home):
    with app_shop() as shop:
        result = crawl(tmp_path, es_url, index_prefix, [
            {"name": "app", "render": True, "render_wait_for": "[itemprop=reviewBody]",
             "start_urls": [f"{shop.url}/product"]},
            {"name": "app-plain", "start_urls": [f"{shop.url}/product?plain"]}], obey_robots_txt=False)
    assert result.returncode == 0, result.stderr[-3000:]
    hits = stored(es_url, index_prefix)
    assert sorted((h["author"], h["rating"]["value"]) for h in hits) == [("Aiko", 1.0), ("Ben", 5.0), ("Chen", 4.0)]
    assert {h["source"] for h in hits} == {"app"}  # the same page unrendered holds no review
    assert {h["item_name"] for h in hits} == {"Sony WH-1000XM5"}
    assert next(h for h in hits if h["author"] == "Aiko")["brands"] == []  # no brands configured


def test_render_is_checked_in_the_config(tmp_path):
    config = tmp_path / "monitor.yaml"
    config.write_text(yaml.safe_dump({"sources": [{"name": "f", "spider": "feed", "render": True,
                                                   "start_urls": ["https://example.com/feed"]}]}))
    with pytest.raises(ConfigError, match=r"sources\[0\].render: only a reviews source renders"):
        load_monitor(config)
    config.write_text(yaml.safe_dump({"sources": [{"name": "r", "render_wait_for": ".review",
                                                   "start_urls": ["https://example.com/p"]}]}))
    with pytest.raises(ConfigError, match="render_wait_for: needs render: true"):
        load_monitor(config)
