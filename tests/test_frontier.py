"""Issue 22: crawl workers on one Redis frontier (scrapy-redis); leases so that a killed worker loses nothing."""
import collections
import shutil
import signal
import subprocess
import time

import pytest
import redis
import yaml

from foundations.ports import free_port
from tests.support.cli import ROOT, SUBPROCESS, kuchikomi, kuchikomi_process
from tests.support.crawling import stored
from tests.test_hardening_data import review_page, serve

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(shutil.which("redis-server") is None,
                                 reason="no redis-server (Debian package redis-server; `make setup` installs it)")]
PAGES = 200


class RedisServer:
    """Debian's redis-server on 127.0.0.1 with its append-only file, which can be stopped and started again."""

    def __init__(self, folder):
        self.port, self.folder = free_port(), folder
        self.url = f"redis://127.0.0.1:{self.port}/0"
        folder.mkdir(exist_ok=True)
        self.start()

    def start(self) -> None:
        self.process = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir",
                                         str(self.folder), "--appendonly", "yes", "--save", ""],
                                        stdout=subprocess.DEVNULL)
        client = redis.Redis.from_url(self.url)
        for _ in range(100):
            try:
                client.ping()
                return
            except redis.ConnectionError:
                time.sleep(0.05)

    def stop(self) -> None:
        """As `systemctl stop` does (SIGTERM): Redis writes its append-only file out before it exits."""
        self.process.terminate()
        self.process.wait()


@pytest.fixture
def redis_server(tmp_path):
    server = RedisServer(tmp_path / "redis")
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server):
    return redis_server.url


@pytest.fixture
def site():
    """PAGES product pages, each with one review and a rel=next link to the next one; every fetch logged."""
    pages = {f"/p/{n}": review_page([{"author": f"user{n}", "body": f"Review number {n}: fine headphones."}],
                                    f"/p/{n + 1}" if n + 1 < PAGES else None) for n in range(PAGES)}
    log = []
    server = serve(pages, log)
    server.log = log
    yield server
    server.close()


def config(tmp_path, es_url, prefix, redis_url, site, **crawl) -> str:
    path = tmp_path / "monitor.yaml"
    path.write_text(yaml.safe_dump({
        "elasticsearch": {"url": es_url, "index_prefix": prefix},
        "sources": [{"name": "shop", "start_urls": [f"{site.url}/p/{n}" for n in range(0, PAGES, 10)]}],
        "crawl": {"autothrottle_start_delay": 0, "download_delay": 0, "frontier": redis_url,
                  "concurrent_requests_per_domain": 4, **crawl}}))
    return str(path)


def fetched(site) -> collections.Counter:
    return collections.Counter(path for path, _ in site.log if path.startswith("/p/"))


def test_three_workers_fetch_each_page_once_and_store_each_review_once(tmp_path, es_url, index_prefix,
                                                                       kuchikomi_home, redis_url, site):
    path = config(tmp_path, es_url, index_prefix, redis_url, site)
    result = kuchikomi_process("crawl", "-c", path, "--workers", "3", "--log-level", "WARNING", timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    counts = fetched(site)
    assert len(counts) == PAGES and set(counts.values()) == {1}, counts.most_common(3)
    authors = collections.Counter(review["author"] for review in stored(es_url, index_prefix))
    assert len(authors) == PAGES and set(authors.values()) == {1}
    # One summary over the three workers.
    assert result.stdout.count("=== kuchikomi crawl summary ===") == 1
    assert f"source shop: {PAGES} pages" in result.stdout
    status = kuchikomi("frontier", "status", "-c", path)
    assert status.returncode == 0, status.stderr
    assert status.stdout.split("\n")[-2].split()[:4] == ["shop", "0", str(PAGES), "0"]  # queued, seen, leased


def test_a_worker_killed_mid_crawl_loses_nothing(tmp_path, es_url, index_prefix, kuchikomi_home, redis_url, site):
    path = config(tmp_path, es_url, index_prefix, redis_url, site, frontier_lease="3s")
    worker = [*SUBPROCESS, "crawl", "-c", path, "--log-level", "WARNING"]
    killed = subprocess.Popen(worker, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while len(fetched(site)) < 30 and time.monotonic() < deadline:
        time.sleep(0.05)
    survivor = subprocess.Popen(worker, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while len(fetched(site)) < 60 and time.monotonic() < deadline:
        time.sleep(0.05)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    out, err = survivor.communicate(timeout=240)
    assert survivor.returncode == 0, err[-3000:]
    assert set(fetched(site)) == {f"/p/{n}" for n in range(PAGES)}
    authors = collections.Counter(review["author"] for review in stored(es_url, index_prefix))
    assert len(authors) == PAGES and set(authors.values()) == {1}


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has exited
    except FileNotFoundError:
        return False


def test_stopping_or_killing_crawl_workers_stops_every_worker(tmp_path, es_url, index_prefix, kuchikomi_home,
                                                              redis_url, site):
    path = config(tmp_path, es_url, index_prefix, redis_url, site, frontier_lease="3s",
                  concurrent_requests_per_domain=1, download_delay=0.05)
    command = [*SUBPROCESS, "crawl", "-c", path, "--workers", "2", "--log-level", "WARNING"]
    deadline = time.monotonic() + 120
    for stop, seen in ((signal.SIGTERM, 20), (signal.SIGKILL, 60)):
        parent = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        while len(fetched(site)) < seen and time.monotonic() < deadline:
            time.sleep(0.05)
        with open(f"/proc/{parent.pid}/task/{parent.pid}/children") as handle:
            workers = [int(pid) for pid in handle.read().split()]
        assert len(workers) == 2
        parent.send_signal(stop)
        out, err = parent.communicate(timeout=120)
        if stop == signal.SIGTERM:  # stopped: the workers stop and one summary is printed
            assert "=== kuchikomi crawl summary ===" in out, err[-3000:]
        while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(alive(pid) for pid in workers), f"workers still running after {stop!r} of their parent"
        assert len(fetched(site)) < PAGES
    # What the stopped and killed workers held goes to the next run: every page, every review once.
    result = kuchikomi_process("crawl", "-c", path, "--log-level", "WARNING", timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    assert set(fetched(site)) == {f"/p/{n}" for n in range(PAGES)}
    authors = collections.Counter(review["author"] for review in stored(es_url, index_prefix))
    assert len(authors) == PAGES and set(authors.values()) == {1}


def test_frontier_status_and_clear(tmp_path, es_url, index_prefix, redis_url, site):
    path = config(tmp_path, es_url, index_prefix, redis_url, site)
    client = redis.Redis.from_url(redis_url)
    client.zadd("kuchikomi:shop:queue", {b"a": 0, b"b": 0})
    client.zadd("kuchikomi:shop:seen", {"f1": 1, "f2": 2, "f3": 3})
    client.zadd("kuchikomi:shop:leases", {b"c": 9})
    status = kuchikomi("frontier", "status", "-c", path)
    assert status.stdout.split("\n")[0].split() == ["source", "queued", "seen", "leased"]
    assert status.stdout.split("\n")[-2].split() == ["shop", "2", "3", "1"]
    cleared = kuchikomi("frontier", "clear", "-c", path)
    assert cleared.stdout.split("\n")[-2].split() == ["shop", "0", "0", "0"]


def test_workers_need_a_frontier(tmp_path, es_url, index_prefix, site):
    path = tmp_path / "monitor.yaml"
    path.write_text(yaml.safe_dump({"elasticsearch": {"url": es_url, "index_prefix": index_prefix},
                                    "sources": [{"name": "shop", "start_urls": [f"{site.url}/p/0"]}]}))
    result = kuchikomi("crawl", "-c", str(path), "--workers", "2")
    assert result.returncode == 2 and "crawl.frontier" in result.stderr
