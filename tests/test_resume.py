"""A crawl killed with SIGKILL and started again loses no review and stores none twice."""
import pytest
import json
import os
import signal
import subprocess
import time
from email.utils import formatdate

from elasticsearch import Elasticsearch

from tests.support.cli import SUBPROCESS
from tests.support.crawling import crawl, stored
from tests.support.servers import LocalServer, Reply

CHAINS, PAGES, REVIEWS = 4, 15, 3  # 4 paginated product listings of 15 pages, 3 reviews a page
LAST_MODIFIED = formatdate(1700000000, usegmt=True)


def review_page(chain: int, page: int) -> bytes:
    reviews = [{"@type": "Review", "@id": f"#c{chain}p{page}r{n}", "author": {"@type": "Person", "name": f"u{n}"},
                "reviewRating": {"@type": "Rating", "ratingValue": 1 if n == 0 else 5},
                "reviewBody": (f"Sonyのイヤホン{chain}-{page}、二日で壊れた。最悪です。" if n == 0
                               else f"Sony headphones {chain}-{page}-{n}: great sound, very comfortable.")}
               for n in range(REVIEWS)]
    data = {"@context": "https://schema.org", "@type": "Product", "name": f"Headphones {chain}", "review": reviews}
    following = f'<link rel="next" href="/c{chain}/p{page + 1}.html">' if page < PAGES else ""
    return (f'<html lang="ja"><head>{following}<script type="application/ld+json">{json.dumps(data)}</script>'
            f"</head><body><h1>Headphones {chain}, page {page}</h1></body></html>").encode()


def slow_shop() -> LocalServer:
    """Review pages with Last-Modified, answering If-Modified-Since with 304 as real servers do;
    each page takes 50 ms, so a crawl is still running when it is killed."""
    def answer(path: str, headers) -> Reply:
        if path == "/robots.txt":
            return Reply(404)
        chain, page = (int(part[1:].split(".")[0]) for part in path.strip("/").split("/"))
        time.sleep(0.05)
        if headers.get("If-Modified-Since") == LAST_MODIFIED:
            return Reply(304)
        return Reply(200, review_page(chain, page),
                     {"Content-Type": "text/html; charset=utf-8", "Last-Modified": LAST_MODIFIED})

    return LocalServer(answer)


def pages_served(shop: LocalServer) -> int:
    return sum(1 for path in shop.requests if path != "/robots.txt")


def pages_finished(journal) -> int:
    """Pages whose reviews have all been stored, as the journal says."""
    try:
        return journal.read_text(encoding="utf-8").count('{"done"')
    except FileNotFoundError:
        return 0


@pytest.mark.slow
def test_sigkill_mid_crawl_then_restart(tmp_path, es_url, index_prefix, webhook, kuchikomi_home):
    shop = slow_shop()
    config = tmp_path / "monitor.yaml"
    config.write_text(json.dumps({
        "brands": [{"name": "Sony"}],
        "sources": [{"name": "shop", "start_urls": [f"{shop.url}/c{c}/p1.html" for c in range(CHAINS)]}],
        "elasticsearch": {"url": es_url, "index_prefix": index_prefix},
        "alerts": {"channels": {"hook": {"type": "webhook", "url": webhook.url}},
                   "delivery": {"lease": "1s"},
                   "rules": [{"name": "negative", "type": "negative_brand", "channels": ["hook"]}]},
        "crawl": {"autothrottle_start_delay": 0, "download_delay": 0}}))
    command = [*SUBPROCESS, "crawl", "-c", str(config), "--log-level", "WARNING"]
    try:
        first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        journal = kuchikomi_home / "jobs" / "shop.jsonl"
        # Killed with some pages finished (their reviews stored) and others fetched but not finished.
        deadline = time.monotonic() + 240
        while (pages_served(shop) < 20 or pages_finished(journal) < 5) and first.poll() is None \
                and time.monotonic() < deadline:
            time.sleep(0.01)
        assert first.poll() is None, "the crawl ended before it could be killed"
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
        served_first = pages_served(shop)
        assert journal.exists()

        second = subprocess.run(command, capture_output=True, text=True, timeout=300)
    finally:
        shop.close()
    assert second.returncode == 0, second.stderr[-3000:]
    assert "resumed" in second.stdout
    # Resumed, not started over: only the unfinished pages and the ones after them were fetched again.
    assert pages_served(shop) - served_first < CHAINS * PAGES
    assert not journal.exists()  # the job finished

    client = Elasticsearch([es_url])
    client.indices.refresh(index=f"{index_prefix}-reviews")
    hits = client.search(index=f"{index_prefix}-reviews", size=500)["hits"]
    ids = sorted(hit["_source"]["review_id"] for hit in hits["hits"])
    expected = sorted(f"#c{c}p{p}r{n}" for c in range(CHAINS) for p in range(1, PAGES + 1) for n in range(REVIEWS))
    assert hits["total"]["value"] == len(expected) and ids == expected

    # Every 1-star review was announced. A message in flight at the kill may come twice (sent, but not
    # yet marked sent): at most one per delivery thread (asyncio's default executor), nothing more.
    deadline = time.monotonic() + 30
    while len({a["doc_id"] for a in webhook.alerts}) < CHAINS * PAGES and time.monotonic() < deadline:
        time.sleep(0.2)
    announced = [alert["doc_id"] for alert in webhook.alerts]
    assert len(set(announced)) == CHAINS * PAGES
    assert len(announced) - len(set(announced)) <= min(32, (os.cpu_count() or 1) + 4)


@pytest.mark.slow
def test_resume_takes_up_start_pages_the_killed_crawl_had_not_queued(tmp_path, es_url, index_prefix,
                                                                      kuchikomi_home):
    """Scrapy takes start requests one at a time; a crawl killed early journaled only some of them.
    Here it had queued start page 0 (unfinished), finished start page 1, and queued page 2 as a page
    found on the way (with its request): the next crawl fetches 0, 2 and 3, and not 1."""
    from scrapy import Request
    from scrapy.utils.request import fingerprint

    from crawlers.middlewares.job_journal import JOB_KEY, _request_record
    from crawlers.spiders.reviews import ReviewsSpider

    def answer(path: str, headers) -> Reply:
        if path == "/robots.txt":
            return Reply(404)
        page = int(path.strip("/p.html"))
        return Reply(200, review_page(page, 1).replace(b'<link rel="next"', b'<link rel="prev"'),
                     {"Content-Type": "text/html; charset=utf-8"})

    with LocalServer(answer) as shop:
        urls = [f"{shop.url}/p{page}.html" for page in range(4)]
        spider = ReviewsSpider(start_urls=urls, source="shop")
        keys = [fingerprint(Request(url)).hex() for url in urls]
        found = Request(urls[2], callback=spider.parse, meta={JOB_KEY: keys[2]})
        lines = [{"queued": keys[0]}, {"queued": keys[1]}, {"done": keys[1]},
                 {"queued": keys[2], "request": _request_record(found, spider)}]
        journal = kuchikomi_home / "jobs" / "shop.jsonl"
        journal.parent.mkdir(parents=True)
        journal.write_text("".join(json.dumps(line) + "\n" for line in lines))

        result = crawl(tmp_path, es_url, index_prefix, [{"name": "shop", "start_urls": urls}])
    assert result.returncode == 0, result.stderr[-3000:]
    assert "resumed 2 unfinished pages" in result.stdout
    assert sorted(path for path in shop.requests if path != "/robots.txt") == ["/p0.html", "/p2.html", "/p3.html"]
    assert sorted(doc["review_id"] for doc in stored(es_url, index_prefix)) == sorted(
        f"#c{page}p1r{n}" for page in (0, 2, 3) for n in range(REVIEWS))
    assert not journal.exists()
