"""Issue 22, second part: politeness held by all workers on the Redis frontier together, a Redis outage in the
middle of a crawl, and three workers on 2,000 pages over several hosts (127.0.0.x)."""
import collections
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass

import pytest
import redis
import yaml
from elasticsearch import Elasticsearch

from crawlers.frontier.politeness import HostSlots
from tests.support.cli import ROOT, SUBPROCESS, kuchikomi_process
from tests.support.servers import LocalServer, Reply, html
from tests.test_frontier import RedisServer, redis_server, redis_url  # noqa: F401 - fixtures
from tests.test_hardening_data import review_page

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None,
                                reason="no redis-server (Debian package redis-server; `make setup` installs it)")
# What the site may measure short of the delay. The workers space their claims on a host exactly (Redis's clock);
# the site stamps a request when its handler thread runs. Between the two, a worker's reactor, the connection and
# the site's thread each wait for a core: a few ms on an idle machine, 8 to 170 ms measured on this shared 2-core
# machine at load average 10 to 13. Any five requests in a row must also span four delays, less the same slack,
# which per-worker delays (three workers, a third of the delay apart on average) would be far from.
SLACK = 0.2


@dataclass
class Arrival:
    host: str
    path: str
    at: float  # time.monotonic() when the site's handler began
    agent: str


class Site:
    """Review pages on several loopback addresses, every request logged; each answer takes `latency` seconds.
    `busy(arrival)` may answer instead (a 429); robots.txt is absent (404) as on most sites."""

    def __init__(self, pages: dict[tuple[str, str], bytes], latency: float = 0.0, busy=None):
        self.pages = list(pages)
        self.log: list[Arrival] = []
        self.in_flight = self.most_in_flight = 0
        self.lock = threading.Lock()

        def answer(path: str, headers) -> Reply:
            arrival = Arrival(headers["Host"].split(":")[0], path, time.monotonic(), headers.get("User-Agent", ""))
            if path == "/robots.txt":
                return Reply(404)
            with self.lock:
                self.log.append(arrival)
                self.in_flight += 1
                self.most_in_flight = max(self.most_in_flight, self.in_flight)
            time.sleep(latency)
            with self.lock:
                self.in_flight -= 1
            reply = busy(arrival) if busy else None
            return reply or (html(pages[arrival.host, path]) if (arrival.host, path) in pages else Reply(404))

        self.servers = {host: LocalServer(answer, host) for host in sorted({host for host, _ in pages})}

    def url(self, host: str, path: str) -> str:
        return self.servers[host].url + path

    def fetched(self) -> collections.Counter:
        return collections.Counter((arrival.host, arrival.path) for arrival in self.log)

    def close(self) -> None:
        for server in self.servers.values():
            server.close()


def shop(hosts: int, pages: int, chains: int = 0, negative_every: int = 0) -> dict[tuple[str, str], bytes]:
    """`pages` product pages on each of `hosts` addresses, one review each, in `chains` rel=next chains per host
    (0: none); every `negative_every`th review is a 1-star one about Sony."""
    site = {}
    for h in range(1, hosts + 1):
        host = f"127.0.0.{h}"
        length = pages // chains if chains else 1
        for n in range(pages):
            negative = negative_every and n % negative_every == 0
            review = {"author": f"user{h}-{n}", "stars": 1 if negative else 4,
                      "body": f"Sony headphones {h}-{n}: " + ("broke after a week." if negative else "fine.")}
            following = f"/p/{n + 1}" if chains and (n + 1) % length else None
            site[host, f"/p/{n}"] = review_page([review], following)
    return site


def write_config(tmp_path, es_url, prefix, redis_url, start_urls, name="monitor", extra=None, **crawl) -> str:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump({
        "elasticsearch": {"url": es_url, "index_prefix": prefix},
        "sources": [{"name": "shop", "start_urls": start_urls}],
        "crawl": {"autothrottle_start_delay": 0, "download_delay": 0, "frontier": redis_url, **crawl},
        **(extra or {})}))
    return str(path)


def run_workers(tmp_path, es_url, prefix, redis_url, site, count=3, **crawl) -> list[str]:
    """`count` workers started one by one, as on separate machines, each with a User-Agent of its own so the
    site can tell them apart; returns their standard error after all ended."""
    urls = [site.url(host, path) for host, path in site.pages]
    processes = []
    for number in range(count):
        config = write_config(tmp_path, es_url, prefix, redis_url, urls, name=f"worker{number}",
                              user_agent=f"worker{number}", **crawl)
        log = open(tmp_path / f"worker{number}.log", "w+")
        processes.append((subprocess.Popen([*SUBPROCESS, "crawl", "-c", config, "--log-level", "WARNING"],
                                           cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log), log))
    logs = []
    for process, log in processes:
        assert process.wait(timeout=300) == 0, (log.seek(0), log.read()[-3000:])[1]
        log.seek(0)
        logs.append(log.read())
        log.close()
    return logs


@pytest.fixture
def site_factory():
    sites = []

    def make(pages, **options) -> Site:
        site = Site(pages, **options)
        sites.append(site)
        return site
    yield make
    for site in sites:
        site.close()


def stored_reviews(es_url: str, prefix: str) -> collections.Counter:
    client = Elasticsearch([es_url])
    client.indices.refresh(index=f"{prefix}-reviews")
    hits = client.search(index=f"{prefix}-reviews", size=5000, _source=["author"])["hits"]["hits"]
    return collections.Counter(hit["_source"]["author"] for hit in hits)


def test_a_hosts_pace_concurrency_and_hold_are_shared_by_the_workers(redis_url):
    server = redis.Redis.from_url(redis_url)
    fast, slow = HostSlots(server, concurrency=2, token_ttl=5), HostSlots(server, concurrency=2, token_ttl=5)
    assert slow.claim("shop.example", "t1", delay=0.3) == 0  # AutoThrottle slowed this worker down to 0.3 s
    # The other worker's own delay is 0, yet it may go only 0.3 s after the slow one: the larger pace holds.
    assert 0.28 <= fast.claim("shop.example", "t2", delay=0) <= 0.3
    time.sleep(0.3)
    assert fast.claim("shop.example", "t2", delay=0) == 0
    time.sleep(0.3)
    assert fast.claim("shop.example", "t3", delay=0) is None  # the host's 2 tokens are taken, by both workers
    slow.release("shop.example", "t1")
    assert fast.claim("shop.example", "t3", delay=0) == 0
    assert fast.claim("other.example", "t4", delay=0) == 0  # hosts are apart
    slow.hold("other.example", 2)  # a Retry-After: 2 seen by one worker
    assert 1.9 <= fast.claim("other.example", "t5", delay=0) <= 2


@pytest.mark.slow
def test_three_workers_keep_one_hosts_delay_and_concurrency_together(tmp_path, es_url, index_prefix, kuchikomi_home,
                                                                     redis_url, site_factory):
    delay, pages = 0.5, 36
    # Answers take 1.2 s, so at one request per 0.5 s a third would start while two are open: the shared
    # concurrency of 2 holds it back. Each worker alone would allow 2, the three 6.
    site = site_factory(shop(hosts=1, pages=pages), latency=1.2)
    run_workers(tmp_path, es_url, index_prefix, redis_url, site, download_delay=delay,
                concurrent_requests_per_domain=2)
    assert len(site.fetched()) == pages and set(site.fetched().values()) == {1}
    assert {arrival.agent for arrival in site.log} == {"worker0", "worker1", "worker2"}  # all three took part
    times = sorted(arrival.at for arrival in site.log)
    gaps = [later - earlier for earlier, later in zip(times, times[1:])]
    assert min(gaps) >= delay - SLACK, sorted(gaps)[:5]
    spans = [later - earlier for earlier, later in zip(times, times[4:])]
    assert min(spans) >= 4 * delay - SLACK, sorted(spans)[:5]
    assert site.most_in_flight == 2


@pytest.mark.slow
def test_a_retry_after_seen_by_one_worker_pauses_the_host_for_the_others(
        tmp_path, es_url, index_prefix, kuchikomi_home, redis_url, site_factory):
    pause = 2.0
    refused: list[Arrival] = []

    def busy(arrival: Arrival) -> Reply | None:
        # The first request once all three workers have fetched from the site: 429, come back in 2 s.
        if not refused and len({a.agent for a in site.log}) == 3:
            refused.append(arrival)
            return Reply(429, headers={"Retry-After": str(int(pause))})
        return None

    site = site_factory(shop(hosts=1, pages=60), busy=busy)
    run_workers(tmp_path, es_url, index_prefix, redis_url, site, download_delay=0.2)
    assert refused, "the three workers never ran at the same time"
    after = [arrival for arrival in site.log if arrival.at > refused[0].at]
    # Nobody came back before the pause ended: not the worker that was told, nor the two that were not.
    assert min(arrival.at for arrival in after) - refused[0].at >= pause - SLACK
    assert {arrival.agent for arrival in after} == {"worker0", "worker1", "worker2"}
    assert len(site.fetched()) == 60 and site.fetched()[refused[0].host, refused[0].path] == 2
    assert sum(stored_reviews(es_url, index_prefix).values()) == 60


@pytest.mark.slow
def test_redis_stopped_for_20_seconds_mid_crawl_loses_and_doubles_nothing(
        tmp_path, es_url, index_prefix, kuchikomi_home, redis_server, site_factory):
    pages = 120
    site = site_factory(shop(hosts=2, pages=pages, chains=10), latency=0.1)
    starts = [site.url(host, path) for host, path in site.pages if int(path.rsplit("/", 1)[1]) % (pages // 10) == 0]
    config = write_config(tmp_path, es_url, index_prefix, redis_server.url, starts)
    log = open(tmp_path / "workers.log", "w+")
    workers = subprocess.Popen([*SUBPROCESS, "crawl", "-c", config, "--workers", "3", "--log-level", "WARNING"],
                               cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 180
    while len(site.fetched()) < 2 * pages // 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    redis_server.stop()
    stopped_at = len(site.fetched())
    time.sleep(20)
    redis_server.start()
    assert workers.wait(timeout=300) == 0
    log.seek(0)
    output = log.read()
    log.close()
    assert stopped_at < 2 * pages, "the crawl ended before Redis stopped"
    assert "Redis frontier did not answer" in output  # the workers said they were waiting
    # Each page exactly once: no lease can expire in this outage. Leases (crawl.frontier_lease, 60 s) are
    # renewed every 20 s, so the oldest has 40 s left when Redis stops; the workers are back within 20 s of
    # outage plus at most 15 s of backoff. The append-only file, written out on SIGTERM, keeps queue, seen
    # set and leases, so no page is fetched again either.
    assert set(site.fetched().values()) == {1} and len(site.fetched()) == 2 * pages
    reviews = stored_reviews(es_url, index_prefix)
    assert len(reviews) == 2 * pages and set(reviews.values()) == {1}
    assert "=== kuchikomi crawl summary ===" in output


@pytest.mark.slow
def test_three_workers_crawl_2000_pages_on_four_hosts_each_page_review_and_alert_once(
        tmp_path, es_url, index_prefix, kuchikomi_home, redis_url, site_factory, webhook):
    hosts, per_host = 4, 500
    site = site_factory(shop(hosts=hosts, pages=per_host, chains=10, negative_every=10))
    starts = [site.url(host, path) for host, path in site.pages if int(path.rsplit("/", 1)[1]) % 50 == 0]
    config = write_config(tmp_path, es_url, index_prefix, redis_url, starts, extra={
        "brands": [{"name": "Sony"}],
        "alerts": {"channels": {"hook": {"type": "webhook", "url": webhook.url}},
                   "rules": [{"name": "negative", "type": "negative_brand", "channels": ["hook"]}]}})
    result = kuchikomi_process("crawl", "-c", config, "--workers", "3", "--log-level", "WARNING", timeout=1500)
    assert result.returncode == 0, result.stderr[-3000:]
    fetched = site.fetched()
    assert len(fetched) == hosts * per_host and set(fetched.values()) == {1}, fetched.most_common(3)
    reviews = stored_reviews(es_url, index_prefix)
    assert len(reviews) == hosts * per_host and set(reviews.values()) == {1}
    alerted = collections.Counter(alert["url"] for alert in webhook.alerts)
    expected = {site.url(host, path) for host, path in site.pages if int(path.rsplit("/", 1)[1]) % 10 == 0}
    assert set(alerted) == expected and set(alerted.values()) == {1}
    assert f"source shop: {hosts * per_host} pages" in result.stdout
