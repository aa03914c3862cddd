"""Feeds: the real feeds in ../shared against their expected parses, the encoding cases, a feed crawl."""
import html
import json
import re
from datetime import datetime

import pytest
import yaml
from elasticsearch import Elasticsearch
from scrapy.http import Response

from crawlers.extraction.feed_entries import parse_feed
from crawlers.spiders.feeds import FeedSpider, posts_from_feed
from crawlers.static_site import StaticSite
from tests.support.cli import kuchikomi_process

FEED_TYPES = {".rss": "application/rss+xml", ".atom": "application/atom+xml", ".json": "application/feed+json"}


def feed_files(shared):
    folder = shared / "fixtures" / "feeds" / "rss-parser"
    return [path for path in sorted(folder.iterdir()) if path.suffix in (".rss", ".atom")]


def expected_items(path) -> list[dict]:
    raw = path.with_name(path.stem + ".expected.json").read_bytes()
    try:
        expected = json.loads(raw)
    except UnicodeDecodeError:  # encoding.expected.json itself is Latin-1
        expected = json.loads(raw.decode("latin-1"))
    return expected["feed"]["items"]


def visible(text) -> str:
    return " ".join(html.unescape(html.unescape(text or "")).split())


def posts(path, content_type=None):
    response = Response(f"http://feeds.example/{path.name}", body=path.read_bytes(),
                        headers={"Content-Type": content_type or FEED_TYPES[path.suffix]})
    feed = parse_feed(response.body, response.headers["Content-Type"].decode(), response.url)
    return list(posts_from_feed(feed, response.url, "feeds"))


def test_every_rss_parser_feed_gives_its_expected_entries(shared):
    checked = 0
    for path in feed_files(shared):
        items, expected = posts(path), expected_items(path)
        assert len(items) == len(expected), path.name
        for item, want in zip(items, expected):
            assert item["kind"] == "post" and item["source_url"] == want["link"] == item["review_url"]
            if path.stem == "uolNoticias":
                # The expected parse itself decoded this Latin-1 feed as UTF-8: each accented letter became
                # U+FFFD. Ours has the letters: the same title, with a non-ASCII character at each U+FFFD.
                latin1_title = "".join("[^\x00-\x7f\ufffd]" if char == "\ufffd" else re.escape(char)
                                       for char in want["title"])
                assert re.fullmatch(latin1_title, item["title"]), (item["title"], want["title"])
            else:
                assert visible(item["title"]) == visible(want.get("title")), path.name
            if want.get("isoDate"):
                assert datetime.fromisoformat(item["published_at"]) == \
                    datetime.fromisoformat(want["isoDate"].replace("Z", "+00:00")), path.name
            if want.get("guid"):
                assert item["review_id"] == want["guid"]
            if want.get("creator"):
                assert item["author"] == want["creator"]
            checked += 1
    assert checked > 300


def test_latin1_feed_is_decoded(shared):
    [first, *_] = posts(shared / "fixtures" / "feeds" / "rss-parser" / "uolNoticias.rss")
    assert "simulações de 2º turno" in first["title"]


def encoding_cases(shared):
    root = shared / "fixtures" / "feeds" / "feedparser"
    return sorted([*(root / "encoding").glob("*.xml"), *(root / "illformed" / "chardet").glob("*.xml")])


def test_feedparser_encoding_cases(shared):
    for path in encoding_cases(shared):
        head = path.read_bytes()[:600].decode("latin-1")
        expect = re.search(r"Expect:\s*(not )?bozo and (?:encoding == '([^']+)'|feed\['title'\] == '(.+)')",
                           head)
        header = re.search(r"Header:\s*Content-type:\s*(.+)", head)
        feed = parse_feed(path.read_bytes(), header.group(1).strip() if header else "application/xml")
        assert feed.bozo == (expect.group(1) is None), path.name  # "not bozo" means well-formed
        if expect.group(2):
            assert feed.encoding == expect.group(2), path.name
        else:
            assert feed.title == expect.group(3).encode().decode("unicode_escape"), path.name


def test_json_feed_and_atom_entries(shared):
    folder = shared / "fixtures" / "feeds" / "trafilatura"
    json_posts = posts(folder / "feed.json")
    atom_posts = posts(folder / "feed1.atom")
    assert json_posts and all(p["source_url"].startswith("http") and p["title"] for p in json_posts)
    assert atom_posts and all(p["source_url"].startswith("http") for p in atom_posts)


def test_a_page_that_is_not_a_feed_is_counted_and_skipped():
    from scrapy.utils.test import get_crawler
    spider = FeedSpider.from_crawler(get_crawler(FeedSpider), start_urls=["http://feeds.example/x"])
    response = Response("http://feeds.example/x", body=b"<html><body>404 not here</body></html>",
                        headers={"Content-Type": "text/html"})
    assert list(spider.parse(response)) == []
    assert spider.crawler.stats.get_value("kuchikomi/skipped/not_a_feed") == 1


@pytest.mark.slow
@pytest.mark.usefixtures("kuchikomi_home")
def test_a_feed_source_is_crawled_into_the_index(shared, tmp_path, es_url, index_prefix):
    with StaticSite(shared / "fixtures" / "feeds" / "rss-parser") as site:
        config = tmp_path / "monitor.yaml"
        config.write_text(yaml.safe_dump({
            "elasticsearch": {"url": es_url, "index_prefix": index_prefix},
            "sources": [{"name": "heise", "spider": "feed", "start_urls": [f"{site.url}/heise.atom"]}]}))
        result = kuchikomi_process("crawl", "-c", str(config), "--log-level", "WARNING")
    assert result.returncode == 0, result.stderr[-2000:]
    client = Elasticsearch([es_url])
    client.indices.refresh(index=f"{index_prefix}-reviews")
    hits = client.search(index=f"{index_prefix}-reviews", body={"size": 100})["hits"]["hits"]
    expected = expected_items(shared / "fixtures" / "feeds" / "rss-parser" / "heise.atom")
    assert sorted(h["_source"]["source_url"] for h in hits) == sorted(e["link"] for e in expected)
    assert {h["_source"]["kind"] for h in hits} == {"post"}
    assert all(h["_source"]["sentiment"]["label"] for h in hits)
