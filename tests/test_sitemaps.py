"""Sitemap sources: real sitemaps from ../shared, and a crawl of a served site through its gzipped sitemap."""
import pytest
import gzip
import shutil
import time
from datetime import datetime, timezone

import yaml
from elasticsearch import Elasticsearch
from scrapy.http import Request, Response
from scrapy.utils.test import get_crawler

from crawlers.spiders.sitemap import SitemapReviewsSpider
from crawlers.static_site import DEMO_SITE, StaticSite
from tests.support.cli import kuchikomi_process


def spider(**kwargs):
    return SitemapReviewsSpider.from_crawler(get_crawler(SitemapReviewsSpider), start_urls=["http://x/"],
                                             source="test", **kwargs)


def requests_from(spider_, path, url):
    response = Response(url, body=path.read_bytes(), request=Request(url))
    return [r for r in spider_._parse_sitemap(response) if isinstance(r, Request)]


def test_plain_gzipped_and_index_sitemaps(shared, kuchikomi_home):
    folder = shared / "fixtures" / "feeds" / "trafilatura"
    plain = requests_from(spider(), folder / "sitemap.xml", "https://www.sitemaps.org/sitemap.xml")
    gzipped = requests_from(spider(), folder / "sitemap.xml.gz", "https://www.sitemaps.org/sitemap.xml.gz")
    assert len(plain) == 84 and [r.url for r in gzipped] == [r.url for r in plain]
    index = requests_from(spider(), folder / "sitemap2.xml", "http://www.example.com/sitemap2.xml")
    assert [r.url for r in index] == ["http://www.example.com/sitemap1.xml.gz",
                                      "http://www.example.com/sitemap2.xml.gz"]


def test_lastmod_before_the_last_complete_crawl_is_not_fetched(shared, kuchikomi_home):
    from crawlers import source_state
    source_state.save("test", last_complete_crawl="2017-01-01T00:00:00+00:00")
    folder = shared / "fixtures" / "feeds" / "trafilatura"
    again = spider()
    assert requests_from(again, folder / "sitemap.xml", "https://www.sitemaps.org/sitemap.xml") == []
    assert again.crawler.stats.get_value("kuchikomi/sitemap/unchanged") == 84


def write_sitemaps(root, base: str, lastmods: dict[str, str]) -> None:
    urls = "".join(f"<url><loc>{base}/products/{page}</loc><lastmod>{lastmod}</lastmod></url>"
                   for page, lastmod in lastmods.items())
    (root / "sitemap-products.xml.gz").write_bytes(gzip.compress(
        f'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>'
        .encode()))
    (root / "sitemap.xml").write_text(
        '<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        f"<sitemap><loc>{base}/sitemap-products.xml.gz</loc></sitemap></sitemapindex>")


@pytest.mark.slow
def test_a_sitemap_source_is_crawled_and_recrawled_incrementally(tmp_path, es_url, index_prefix, kuchikomi_home):
    root = tmp_path / "site"
    shutil.copytree(DEMO_SITE, root)
    with StaticSite(root) as site:
        write_sitemaps(root, site.url, {"sony-wh-1000xm5.html": "2024-01-10", "usb-cable.html": "2024-02-01",
                                        "sony-wh-1000xm5-page2.html": "2024-02-01"})
        config = tmp_path / "monitor.yaml"
        config.write_text(yaml.safe_dump({
            "elasticsearch": {"url": es_url, "index_prefix": index_prefix},
            "sources": [{"name": "shop", "spider": "sitemap", "start_urls": [f"{site.url}/sitemap.xml"]}]}))

        def crawl():
            result = kuchikomi_process("crawl", "-c", str(config), "--log-level", "WARNING")
            assert result.returncode == 0, result.stderr[-2000:]
            client = Elasticsearch([es_url])
            client.indices.refresh(index=f"{index_prefix}-reviews")
            return {hit["_id"]: hit["_source"] for hit in
                    client.search(index=f"{index_prefix}-reviews", body={"size": 100})["hits"]["hits"]}

        first = crawl()
        assert {doc["source_url"].rsplit("/", 1)[1] for doc in first.values()} == {
            "sony-wh-1000xm5.html", "usb-cable.html", "sony-wh-1000xm5-page2.html"}
        assert len(first) == 7
        # Only the cable page changed since: it alone is fetched again.
        time.sleep(1.1)  # Last-Modified has a resolution of one second
        cable = root / "products" / "usb-cable.html"
        cable.write_text(cable.read_text(encoding="utf-8").replace("Frayed in a week", "Frayed in two days"),
                         encoding="utf-8")
        tomorrow = datetime.now(timezone.utc).replace(year=datetime.now().year + 1).date().isoformat()
        write_sitemaps(root, site.url, {"sony-wh-1000xm5.html": "2024-01-10", "usb-cable.html": tomorrow,
                                        "sony-wh-1000xm5-page2.html": "2024-02-01"})
        second = crawl()
    refetched = {doc["source_url"].rsplit("/", 1)[1] for doc_id, doc in second.items()
                 if doc["fetched_at"] != first[doc_id]["fetched_at"]}
    assert refetched == {"usb-cable.html"} and second.keys() == first.keys()

