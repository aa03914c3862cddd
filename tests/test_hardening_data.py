"""Data loss and stalls (issue 18): over-long fields, refused reviews, huge reviews, re-crawls, alert counts."""
import asyncio
import contextlib
import io
import json
import re
import time

import pytest
import yaml
from elasticsearch import Elasticsearch
from scrapy.exceptions import DropItem
from scrapy.utils.test import get_crawler

from foundations.ports import free_port
from index.storage.schema import ensure_alerts_index, ensure_reviews_index, template_body
from index.storage.writer import BulkWriter
from kuchikomi.config import load_monitor
from kuchikomi.crawl import monitor_sections
from kuchikomi.summary import errors_by_kind, print_summary
from pipelines.alert import AlertPipeline
from pipelines.index import ElasticsearchPipeline
from tests.support.cli import kuchikomi_process
from tests.support.crawling import crawl, stored
from tests.support.receivers import WebhookReceiver
from tests.support.servers import LocalServer, Reply, html

GOOD = ["Great sound and a battery that lasts all week.", "Comfortable, light and the noise cancelling works.",
        "Fine for the price; the case feels cheap."]
BAD = ["The Sony earbuds stopped charging after a week. Support never answered.",
       "Sony headphones broke in two days, the hinge snapped. Awful."]


def review_page(reviews: list[dict], next_url: str | None = None) -> bytes:
    """A product page with its reviews as schema.org JSON-LD; `next_url` as its rel=next link."""
    graph = {"@context": "https://schema.org", "@type": "Product", "name": "WH-1000XM5", "review": [
        {"@type": "Review", "author": {"@type": "Person", "name": review["author"]}, "reviewBody": review["body"],
         "datePublished": "2026-01-10", **({"url": review["url"]} if review.get("url") else {}),
         "reviewRating": {"@type": "Rating", "ratingValue": review.get("stars", 3), "bestRating": 5}}
        for review in reviews]}
    link = f'<link rel="next" href="{next_url}">' if next_url else ""
    return (f'<html lang="en"><head><title>WH-1000XM5</title>{link}<script type="application/ld+json">'
            f'{json.dumps(graph)}</script></head><body><h1>WH-1000XM5</h1></body></html>').encode()


def serve(pages: dict[str, bytes], log: list | None = None) -> LocalServer:
    """The pages by path; no robots.txt (404), as on most sites. `log` gets (path, time) of each request."""
    def answer(path: str, headers) -> Reply:
        if log is not None:
            log.append((path, time.monotonic()))
        return html(pages[path]) if path in pages else Reply(404, b"not found")
    return LocalServer(answer)


def source_line(summary: str, source: str) -> str:
    return next(line for line in summary.splitlines() if line.startswith(f"source {source}:"))


def counts(line: str) -> dict[str, int]:
    numbers = re.search(r"(\d+) reviews indexed \(new (\d+), updated (\d+), unchanged (\d+)", line)
    return dict(zip(["indexed", "new", "updated", "unchanged"], map(int, numbers.groups())))


def write_config(tmp_path, es_url: str, prefix: str, **sections) -> str:
    config = tmp_path / "monitor.yaml"
    config.write_text(yaml.safe_dump({"elasticsearch": {"url": es_url, "index_prefix": prefix},
                                      "crawl": {"autothrottle_start_delay": 0, "download_delay": 0},
                                      **sections}, allow_unicode=True))
    return str(config)


def summary_of(monitor_path: str, stats: dict, client) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        print_summary(load_monitor(monitor_path), stats, client)
    return out.getvalue()


# 5. No field of a crawled page makes a review unstorable; a review Elasticsearch refuses is an error.

@pytest.mark.slow
def test_a_40_kb_author_and_review_url_are_cut_and_the_review_is_stored(tmp_path, es_url, index_prefix,
                                                                         kuchikomi_home):
    author, url = "A" * 40_000, "/reviews/" + "x" * 40_000
    pages = {"/p.html": review_page([{"author": author, "url": url, "body": BAD[0], "stars": 1},
                                     {"author": "Ann", "body": GOOD[0], "stars": 5}])}
    with serve(pages) as shop:
        result = crawl(tmp_path, es_url, index_prefix, [{"name": "shop", "start_urls": [f"{shop.url}/p.html"]}])
    assert result.returncode == 0, result.stderr[-3000:]
    by_body = {hit["body"]: hit for hit in stored(es_url, index_prefix)}
    assert set(by_body) == {BAD[0], GOOD[0]}
    cut = by_body[BAD[0]]
    assert cut["author"] == "A" * 256
    assert len(cut["review_url"]) == 2048 and cut["review_url"].startswith(f"{shop.url}/reviews/xxx")
    line = source_line(result.stdout, "shop")
    assert "2 reviews indexed" in line and re.search(r"errors 0[; ]", line)
    assert "'author': 1" in line and "'review_url': 1" in line  # the cuts are counted and shown
    assert "HTTP 404" not in line  # the missing robots.txt is no error


def test_a_review_elasticsearch_refuses_is_counted_as_an_error(tmp_path, es_url, index_prefix, kuchikomi_home):
    config = write_config(tmp_path, es_url, index_prefix, sources=[{"name": "shop", "start_urls": ["http://x/"]}])
    crawler = get_crawler(settings_dict=monitor_sections(load_monitor(config)))
    pipeline = ElasticsearchPipeline.from_crawler(crawler)
    fetched = "2026-01-11T00:00:00.000+00:00"
    good = {"doc_id": "good", "source_url": "https://shop.example/p", "body": GOOD[0], "fetched_at": fetched}
    # A rating that is not a number: the node refuses the review (a field type it cannot parse).
    refused = {**good, "doc_id": "refused", "rating": {"value": "five stars", "normalized": 1.0}}

    async def run():
        pipeline.open_spider()
        outcomes = await asyncio.gather(pipeline.process_item(good), pipeline.process_item(refused),
                                        return_exceptions=True)
        await pipeline.close_spider()
        return outcomes

    outcomes = asyncio.run(run())
    assert outcomes[0] == good and isinstance(outcomes[1], DropItem)
    assert "not indexed" in str(outcomes[1]) and "five stars" in str(outcomes[1])
    stats = crawler.stats.get_stats()
    assert stats["kuchikomi/index/failed"] == 1 and stats["kuchikomi/index/written"] == 1
    line = source_line(summary_of(config, {"shop": stats}, Elasticsearch([es_url])), "shop")
    assert "errors 1 {'refused by Elasticsearch': 1}" in line


def test_keyword_bounds_reach_an_index_created_before_them(es_url, index_prefix, tmp_path):
    """The bounds are put into a live index in place: a writer that skips the crawl's cuts loses nothing."""
    client = Elasticsearch([es_url])
    earlier = template_body(index_prefix)
    for field in earlier["mappings"]["properties"].values():
        field.pop("ignore_above", None)
    alias = f"{index_prefix}-reviews"
    client.indices.create(index=f"{alias}-v2-000001", body={
        "settings": earlier["settings"], "mappings": earlier["mappings"], "aliases": {alias: {"is_write_index": True}}})
    huge = {"doc_id": "huge", "source_url": "https://shop.example/p", "author": "A" * 40_000,
            "review_url": "https://shop.example/" + "r" * 40_000, "body": "fine",
            "fetched_at": "2026-01-11T00:00:00+00:00"}
    assert BulkWriter(client, alias, tmp_path / "spool.jsonl").write([huge])["huge"] is not None  # refused before

    ensure_reviews_index(client, index_prefix)
    mapping = client.indices.get_mapping(index=alias)[f"{alias}-v2-000001"]["mappings"]["properties"]
    assert mapping["author"]["ignore_above"] == 256 and mapping["review_url"]["ignore_above"] == 2048
    assert BulkWriter(client, alias, tmp_path / "spool.jsonl").write([huge]) == {"huge": None}
    client.indices.refresh(index=alias)
    assert client.get(index=alias, id="huge")["_source"]["author"] == "A" * 40_000


# 6. One huge review does not hold up the crawl.

@pytest.mark.slow
def test_a_1_mb_review_is_classified_in_bounded_time_while_the_crawl_goes_on(tmp_path, es_url, index_prefix,
                                                                               kuchikomi_home):
    sentences = [BAD[0], BAD[1], "The ear cushions wore out.", "Shipping took three weeks."]
    huge = " ".join(sentences[n % 4] for n in range(20_000))  # about 1 MB
    assert len(huge) > 900_000
    # The big page links to the first small one, each small one to the next: a page is only asked for once the
    # previous one was parsed, so the chain goes on only while the event loop is free.
    pages = {"/big.html": review_page([{"author": "Long", "body": huge, "stars": 1}], next_url="/small/1.html")}
    for n in range(1, 21):
        pages[f"/small/{n}.html"] = review_page([{"author": f"S{n}", "body": GOOD[n % 3], "stars": 4}],
                                                next_url=f"/small/{n + 1}.html" if n < 20 else None)
    log: list[tuple[str, float]] = []
    with serve(pages, log) as shop:
        started = time.monotonic()
        result = crawl(tmp_path, es_url, index_prefix, [{"name": "shop", "start_urls": [f"{shop.url}/big.html"]}],
                       log_level="DEBUG")
        took = time.monotonic() - started
    assert result.returncode == 0, result.stderr[-3000:]
    hits = stored(es_url, index_prefix)
    assert len(hits) == 21
    [big] = [hit for hit in hits if hit["author"] == "Long"]
    assert big["sentiment"]["label"] == "negative" and big["sentiment"]["chunks"] <= 14  # not 1,000 chunks
    # The big review left the pipelines (Scrapy logs "Scraped from" then) after every small page was fetched.
    scraped_big = result.stderr.index(f"Scraped from <200 {shop.url}/big.html>")
    assert result.stderr.rindex(f"Crawled (200) <GET {shop.url}/small/20.html>") < scraped_big
    assert [path for path, _ in log if path != "/robots.txt"] == list(pages)
    assert took < 240, f"the crawl took {took:.0f} s"  # over 7 minutes here when every chunk was classified


# 7. Re-crawling unchanged reviews rewrites nothing.

def test_sentiment_probabilities_alone_do_not_make_a_review_changed(es_url, index_prefix, tmp_path):
    client = Elasticsearch([es_url])
    alias = ensure_reviews_index(client, index_prefix)
    writer = BulkWriter(client, alias, tmp_path / "spool.jsonl")
    sentiment = {"label": "negative", "score": 0.9123, "scores": {"negative": 0.9123, "neutral": 0.0701,
                                                                  "positive": 0.0176},
                 "model": "kuchikomi-sentiment-e5", "model_version": "v1", "drivers": ["Broke in a week."]}
    first = {"doc_id": "r1", "source_url": "https://shop.example/p", "body": "Broke in a week. Sad.",
             "fetched_at": "2026-01-11T00:00:00+00:00", "sentiment": sentiment,
             "categories": [{"name": "defect", "score": 0.8812}, {"name": "complaint", "score": 0.7311}]}
    writer.write([first])
    # bf16 in another batch: the probabilities move in the 4th decimal, another sentence leads the drivers.
    again = {**first, "fetched_at": "2026-01-12T00:00:00+00:00", "sentiment": {
        **sentiment, "score": 0.9127, "scores": {"negative": 0.9127, "neutral": 0.0698, "positive": 0.0175},
        "drivers": ["Sad."]},
        "categories": [{"name": "defect", "score": 0.8809}, {"name": "complaint", "score": 0.7315}]}
    writer.write([again])
    assert writer.outcomes == {"created": 1, "updated": 0, "unchanged": 1, "stale": 0}
    assert client.get(index=alias, id="r1")["_source"]["sentiment"] == sentiment  # the stored scores stay
    relabelled = {**again, "fetched_at": "2026-01-13T00:00:00+00:00",
                  "sentiment": {**again["sentiment"], "label": "neutral"}}
    writer.write([relabelled])
    assert writer.outcomes["updated"] == 1  # a new label is a change
    recategorised = {**relabelled, "fetched_at": "2026-01-14T00:00:00+00:00",
                     "categories": [{"name": "defect", "score": 0.8809}]}
    writer.write([recategorised])
    assert writer.outcomes["updated"] == 2  # so is a category more or less


@pytest.mark.slow
def test_a_recrawl_of_the_same_reviews_updates_none_and_keeps_their_scores(tmp_path, es_url, index_prefix,
                                                                           kuchikomi_home):
    pages = {f"/p/{n}.html": review_page([{"author": f"U{n}{k}", "body": text, "stars": 2 + k}
                                          for k, text in enumerate(GOOD + BAD)]) for n in range(3)}
    with serve(pages) as shop:
        config = write_config(tmp_path, es_url, index_prefix,
                              sources=[{"name": "shop", "start_urls": [f"{shop.url}{path}" for path in pages]}])
        runs = []
        for _ in range(2):
            result = kuchikomi_process("crawl", "-c", config, "--refresh", "--log-level", "WARNING")
            assert result.returncode == 0, result.stderr[-3000:]
            runs.append((counts(source_line(result.stdout, "shop")),
                         {hit["doc_id"]: hit["sentiment"] for hit in stored(es_url, index_prefix)}))
    (first, first_stored), (second, second_stored) = runs
    assert first == {"indexed": 15, "new": 15, "updated": 0, "unchanged": 0}
    assert second == {"indexed": 15, "new": 0, "updated": 0, "unchanged": 15}
    assert second_stored == first_stored


# 9. The summary's alert counts and error kinds say what happened.

@pytest.mark.slow
def test_the_summary_counts_every_alert_the_crawl_delivered(tmp_path, es_url, index_prefix, kuchikomi_home):
    client = Elasticsearch([es_url])
    # A node that refreshes the alerts index late (here: never on its own), as a busy one does.
    ensure_alerts_index(client, f"{index_prefix}-alerts")
    client.indices.put_settings(index=f"{index_prefix}-alerts", body={"index": {"refresh_interval": "-1"}})
    pages = {f"/p/{n}.html": review_page([{"author": f"N{n}{k}", "body": f"{text} ({n})", "stars": 1}
                                          for k, text in enumerate(BAD)]) for n in range(4)}
    receiver = WebhookReceiver()
    try:
        with serve(pages) as shop:
            config = write_config(
                tmp_path, es_url, index_prefix, brands=[{"name": "Sony"}],
                sources=[{"name": "shop", "start_urls": [f"{shop.url}{path}" for path in pages]}],
                alerts={"channels": {"hook": {"type": "webhook", "url": receiver.url}},
                        "rules": [{"name": "neg", "type": "negative_brand", "channels": ["hook"]}]})
            result = kuchikomi_process("crawl", "-c", config, "--log-level", "WARNING")
    finally:
        receiver.close()
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(receiver.alerts) == 8
    assert "alerts new 8, delivered 8," in source_line(result.stdout, "shop")
    assert "alerts: 8 delivered in total, 0 waiting" in result.stdout


def test_alerts_held_during_an_outage_are_reported(tmp_path, es_url, index_prefix, kuchikomi_home):
    receiver = WebhookReceiver()
    config = write_config(tmp_path, es_url, index_prefix, brands=[{"name": "Sony"}],
                          sources=[{"name": "shop", "start_urls": ["http://127.0.0.1:9/"]}],
                          alerts={"channels": {"hook": {"type": "webhook", "url": receiver.url}},
                                  "rules": [{"name": "neg", "type": "negative_brand", "channels": ["hook"]}]})
    sections = monitor_sections(load_monitor(config))
    reviews = [{"doc_id": f"doc-{n}", "source": "shop", "site": "shop.example",
                "source_url": f"https://shop.example/p/{n}", "body": BAD[n % 2], "brands": ["Sony"],
                "language": "en", "sentiment": {"label": "negative", "score": 0.95},
                "fetched_at": "2026-01-11T00:00:00+00:00"} for n in range(3)]

    async def crawl_with(es_down: bool) -> dict:
        crawler = get_crawler(settings_dict=sections)
        pipeline = AlertPipeline.from_crawler(crawler)
        await pipeline.open_spider()
        if es_down:  # Elasticsearch goes away after the crawl started
            dead = Elasticsearch([f"http://127.0.0.1:{free_port()}"], max_retries=0)
            pipeline.dispatcher.client = pipeline.dispatcher.state.client = dead
        for review in reviews:
            await pipeline.process_item(dict(review))
        await pipeline.close_spider()
        return crawler.stats.get_stats()

    client = Elasticsearch([es_url])
    ensure_reviews_index(client, index_prefix)  # as the crawl's index stage made it
    try:
        during = asyncio.run(crawl_with(es_down=True))
        assert receiver.received == [] and during["kuchikomi/alerts/held"] == 3
        assert "3 alerts held for the next run" in summary_of(config, {"shop": during}, client)
        after = asyncio.run(crawl_with(es_down=False))
    finally:
        receiver.close()
    assert sorted(alert["doc_id"] for alert in receiver.alerts) == ["doc-0", "doc-1", "doc-2"]
    assert "held" not in source_line(summary_of(config, {"shop": after}, client), "shop")


def test_error_kinds_leave_out_a_missing_robots_txt_and_name_spider_and_index_errors():
    stats = {"downloader/response_status_count/200": 5, "downloader/response_status_count/404": 3,
             "robotstxt/response_status_count/404": 2, "downloader/response_status_count/503": 1,
             "robotstxt/response_status_count/503": 1, "spider_exceptions/count": 1,
             "spider_exceptions/JSONDecodeError": 1, "kuchikomi/index/failed": 2,
             "downloader/exception_type_count/twisted.internet.error.DNSLookupError": 1}
    assert errors_by_kind(stats) == {"HTTP 404": 1, "robots.txt HTTP 503": 1, "spider error JSONDecodeError": 1,
                                     "refused by Elasticsearch": 2, "DNSLookupError": 1}
    assert errors_by_kind({"downloader/response_status_count/404": 1, "robotstxt/response_status_count/404": 1}) == {}
