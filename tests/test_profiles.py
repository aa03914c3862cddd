"""Site profiles: the Amazon review blocks in ../shared through the shipped profile, bad profiles, a crawl."""
import json
import shutil

import pytest
import yaml
from elasticsearch import Elasticsearch

from crawlers.extraction.site_profile import ProfileError, load_profile
from crawlers.static_site import StaticSite
from tests.support.cli import kuchikomi, kuchikomi_process


def amazon(shared, name):
    return (shared / "fixtures" / "reviews" / "amazon" / name).read_bytes().decode("utf-8", "replace")


@pytest.mark.parametrize("page, url, count, first, second", [
    ("amazon.it_product-reviews-B07747FR44-1.html", "https://www.amazon.it/product-reviews/B07747FR44", 10,
     ("R3OXHZOZ0WM7AZ", "Darkphoenix", 5.0, "2018-11-14", "SONO RIUSCITI A MIGLIORARLO ANCORA!!!"),
     ("RG0KOF6IEBCOF", "Raffaele", 5.0, "2018-11-12")),
    ("amazon.com_christine_dvd.html", "https://www.amazon.com/dp/B06XGN6PPW", 8,
     ("R3UENUKV2IVP67", "Blue Leaf", 4.0, "2017-03-02", "Rebecca Hall is Outstanding as Christine"),
     ("R15QA7D8KUI2A2", "Linda L", 5.0, "2017-01-26")),
])
def test_amazon_review_blocks_through_the_shipped_profile(shared, page, url, count, first, second):
    items = list(load_profile("amazon").reviews(amazon(shared, page), url))
    assert len(items) == count
    got = [(i["review_id"], i["author"], i["rating"]["value"], i["published_at"]) for i in items[:2]]
    assert got == [first[:4], second]
    assert items[0]["title"] == first[4] and all(i["body"] for i in items)
    assert items[0]["rating"]["best"] == 5 and items[1]["rating"]["normalized"] == 1.0


def test_extract_command_tries_a_profile_on_a_saved_page(shared):
    page = shared / "fixtures" / "reviews" / "amazon" / "amazon.it_product-reviews-B07747FR44-1.html"
    result = kuchikomi("extract", page, "--profile", "amazon", "--url", "https://www.amazon.it/product-reviews/B07747FR44")
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == 10 and lines[0]["author"] == "Darkphoenix" and lines[0]["language"] == "it"
    assert "10 reviews" in result.stderr


@pytest.mark.parametrize("rules, message", [
    ({"name": "x", "review": "div.review", "fields": {"title": {"css": "h3"}}}, "'body' is a required property"),
    ({"name": "x", "review": "div..review", "fields": {"body": {"css": "p"}}}, "review: invalid CSS selector"),
    ({"name": "x", "review": "div", "fields": {"body": {"css": "p", "regex": "(unclosed"}}},
     r"fields\.body\.regex: invalid regular expression"),
    ({"name": "x", "review": "div", "fields": {"body": {"colour": "p"}}}, "fields.body"),
])
def test_a_broken_profile_is_one_clear_error(tmp_path, rules, message):
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(rules))
    with pytest.raises(ProfileError, match=message):
        load_profile(str(path))
    with pytest.raises(ProfileError, match="shipped profiles: amazon"):
        load_profile("no-such-site")


@pytest.mark.slow
def test_a_profile_source_is_crawled(shared, tmp_path, es_url, index_prefix, kuchikomi_home):
    root = tmp_path / "site"
    root.mkdir()
    shutil.copy(shared / "fixtures" / "reviews" / "amazon" / "amazon.com_christine_dvd.html", root / "dvd.html")
    with StaticSite(root) as site:
        config = tmp_path / "monitor.yaml"
        config.write_text(yaml.safe_dump({
            "elasticsearch": {"url": es_url, "index_prefix": index_prefix},
            "sources": [{"name": "shop", "profile": "amazon", "start_urls": [f"{site.url}/dvd.html"]}],
            "crawl": {"autothrottle_start_delay": 0, "download_delay": 0}}))
        result = kuchikomi_process("crawl", "-c", str(config), "--log-level", "WARNING")
    assert result.returncode == 0, result.stderr[-2000:]
    client = Elasticsearch([es_url])
    client.indices.refresh(index=f"{index_prefix}-reviews")
    hits = client.search(index=f"{index_prefix}-reviews", body={"size": 50})["hits"]["hits"]
    assert len(hits) == 8 and {"R3UENUKV2IVP67", "R15QA7D8KUI2A2"} <= {h["_source"]["review_id"] for h in hits}
    # The page's own schema.org aggregate (Movie, 3.5 from 84) goes with the profile's reviews.
    assert {h["_source"]["aggregate_rating"]["count"] for h in hits} == {84}
