"""bench/scale: pages/second of 1, 2 and 4 crawl workers on one Redis frontier, and Redis memory per million.

    .venv/bin/python bench/scale.py [--workers 1 2 4] [--pages-per-worker 1500] [--fill 200000]

A local site on 20 hosts (127.0.0.1 to 127.0.0.20, uvicorn in this process) answers every page after 200 ms:
a product page with two reviews (JSON-LD; Japanese, Chinese, English). For each worker count N, N
`kuchikomi crawl` processes (as on N machines: each its own config, same frontier and source, its own
User-Agent so the site tells them apart) crawl N x --pages-per-worker fresh pages with sentiment on, into a
local Elasticsearch node, with the project's crawl manners except download_delay 0 and AutoThrottle starting
at 0 (AutoThrottle itself stays on). Workers start at different moments (each loads the model), so a figure
counts the pages the site served while all N were crawling, over that time. Each is set against N times the
one-worker figure of the same run (target: at least 0.85).

Redis memory: a scratch redis-server gets --fill requests pushed by the frontier's own queue (scrapy-redis's
serialisation of a review page request) and --fill fingerprints into the seen set; INFO's used_memory before
and after, scaled to a million of each.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from crawl import TEXTS  # noqa: E402 - bench/crawl.py's reviews (this script's folder is on sys.path)

HOSTS = [f"127.0.0.{number}" for number in range(1, 21)]
LATENCY = 0.2


def page(host: str, path: str) -> bytes:
    rng = random.Random(f"{host}{path}")
    reviews = [{"@type": "Review", "author": {"@type": "Person", "name": f"{host}{path}-{n}"},
                "reviewBody": f"{rng.choice(TEXTS)} ({host}{path}-{n})", "datePublished": "2026-01-10",
                "reviewRating": {"@type": "Rating", "ratingValue": rng.randint(1, 5), "bestRating": 5}}
               for n in range(2)]
    product = {"@context": "https://schema.org", "@type": "Product", "name": f"Product {path}", "review": reviews}
    return (f'<html lang="ja"><head><title>Product {path}</title><script type="application/ld+json">'
            f'{json.dumps(product, ensure_ascii=False)}</script></head><body><h1>Product</h1></body></html>').encode()


class SlowSite:
    """The 20 hosts, each page after LATENCY seconds; every page request logged as (time, User-Agent)."""

    def __init__(self):
        import uvicorn
        from foundations.ports import free_port
        self.log: list[tuple[float, str]] = []
        self.port = free_port()

        async def app(scope, receive, send):
            path = scope["path"]
            if path == "/robots.txt":
                await send({"type": "http.response.start", "status": 404, "headers": []})
                await send({"type": "http.response.body", "body": b""})
                return
            agent = dict(scope["headers"]).get(b"user-agent", b"").decode()
            self.log.append((time.monotonic(), agent))
            await asyncio.sleep(LATENCY)
            body = page(scope["server"][0], path)
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"text/html; charset=utf-8")]})
            await send({"type": "http.response.body", "body": body})

        self.servers = [uvicorn.Server(uvicorn.Config(app, host=host, port=self.port, lifespan="off",
                                                      log_level="warning", access_log=False)) for host in HOSTS]
        self.thread = threading.Thread(target=lambda: asyncio.run(self.serve()), daemon=True)
        self.thread.start()
        while not all(server.started for server in self.servers):
            time.sleep(0.05)

    async def serve(self):
        await asyncio.gather(*(server.serve() for server in self.servers))

    def close(self):
        for server in self.servers:
            server.should_exit = True
        self.thread.join(timeout=10)


def redis_server(folder: Path):
    import redis
    from foundations.ports import free_port
    port = free_port()
    process = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder),
                                "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL)
    client = redis.Redis(port=port)
    for _ in range(100):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    return process, f"redis://127.0.0.1:{port}/0", client


def crawl_with(workers: int, pages: int, run: str, home: Path, es_url: str, redis_url: str, site: SlowSite,
               env: dict) -> dict:
    """`workers` kuchikomi crawl processes on `pages` fresh pages; the site's rate while all of them crawled."""
    import yaml
    urls = [f"http://{HOSTS[n % len(HOSTS)]}:{site.port}/{run}/p/{n}" for n in range(pages)]
    processes = []
    for number in range(workers):
        config = home / f"{run}-worker{number}.yaml"
        config.write_text(yaml.safe_dump({
            "elasticsearch": {"url": es_url, "index_prefix": f"bench-scale-{run}"},
            "brands": [{"name": "Sony", "aliases": ["ソニー", "索尼"]},
                       {"name": "Panasonic", "aliases": ["パナソニック", "松下"]}],
            "sources": [{"name": f"bench-{run}", "start_urls": urls, "follow_pagination": False}],
            "crawl": {"frontier": redis_url, "download_delay": 0, "autothrottle_start_delay": 0,
                      "user_agent": f"{run}-worker{number}"}}, allow_unicode=True))
        processes.append(subprocess.Popen([sys.executable, "-m", "kuchikomi.cli", "crawl", "-c", str(config),
                                           "--log-level", "ERROR"], env=env, stdout=subprocess.DEVNULL,
                                          stderr=open(home / f"{run}-worker{number}.log", "w")))
    for process in processes:
        if process.wait(timeout=3600):
            raise RuntimeError(f"a worker of {run} failed: see {home}/{run}-worker*.log")
    arrivals = [(at, agent) for at, agent in site.log if agent.startswith(f"{run}-")]
    agents = {agent for _, agent in arrivals}
    first = max(min(at for at, agent in arrivals if agent == name) for name in agents)
    last = min(max(at for at, agent in arrivals if agent == name) for name in agents)
    together = [at for at, _ in arrivals if first <= at <= last]
    if len(agents) < workers:
        raise RuntimeError(f"only {len(agents)} of the {workers} workers of {run} fetched a page")
    return {"pages": len(arrivals), "together_pages": len(together),
            "together_seconds": last - first, "rate": (len(together) - 1) / (last - first)}


def redis_memory(count: int, folder: Path) -> tuple[float, float]:
    """MB of Redis memory per million queued requests and per million seen fingerprints."""
    from scrapy import Request
    from scrapy.utils.test import get_crawler
    from crawlers.frontier.redis_frontier import ExpiringDupeFilter, LeasedQueue, frontier_keys
    from crawlers.spiders.reviews import ReviewsSpider
    process, url, client = redis_server(folder)
    try:
        crawler = get_crawler(ReviewsSpider, {"KUCHIKOMI_FRONTIER_LEASE": 60})
        spider = ReviewsSpider.from_crawler(crawler, source="tabelog", start_urls=[])
        keys = frontier_keys("tabelog")
        queue = LeasedQueue(client, spider, keys["queue"])
        seen = ExpiringDupeFilter(client, keys["seen"], every=3600)

        def request(n: int) -> Request:
            url = (f"https://tabelog.com/tokyo/A1301/A130101/{13000000 + n // 10}/dtlrvwlst/COND-0/smp1/"
                   f"?PG={n % 10 + 1}&rvw_part=all")
            made = Request(url, callback=spider.parse, priority=-1, meta={"depth": 2, "source": "tabelog"})
            made.meta["kuchikomi_job"] = seen.request_fingerprint(made)
            return made

        def used() -> int:
            return client.info("memory")["used_memory"]

        figures = []
        for fill in ("queue", "seen"):
            before = used()
            for start in range(0, count, 5000):
                batch = [request(n) for n in range(start, min(start + 5000, count))]
                with client.pipeline(transaction=False) as pipe:
                    for made in batch:
                        if fill == "queue":
                            pipe.zadd(keys["queue"], {queue._encode_request(made): -made.priority})
                        else:
                            pipe.zadd(keys["seen"], {made.meta["kuchikomi_job"]: time.time()})
                    pipe.execute()
            figures.append((used() - before) / count * 1_000_000 / 2 ** 20)
        return figures[0], figures[1]
    finally:
        process.terminate()
        process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--pages-per-worker", type=int, default=1500)
    parser.add_argument("--fill", type=int, default=200_000, help="requests and fingerprints for the memory figure")
    args = parser.parse_args()
    if shutil.which("redis-server") is None:
        sys.exit("bench/scale needs redis-server: apt-get install redis-server (or `make redis`)")

    from foundations.ports import free_port
    from index.storage.node import LocalNode
    home = Path(tempfile.mkdtemp(prefix="kuchikomi-bench-scale-", dir="/var/tmp"))
    node = LocalNode(home / "elasticsearch")
    redis_process = site = None
    try:
        es_url = node.start(port=free_port())
        redis_process, redis_url, _ = redis_server(home)
        site = SlowSite()
        print(f"{len(HOSTS)} hosts, pages answered after {LATENCY * 1000:.0f} ms, sentiment on", flush=True)
        print(f"{'workers':>7} {'pages':>6} {'while all N crawled':>20} {'pages/s':>8} {'vs N x one':>11}", flush=True)
        one = None
        for workers in args.workers:
            env = {**os.environ, "KUCHIKOMI_HOME": str(home / f"state-{workers}"), "HF_HUB_OFFLINE": "1",
                   "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
            result = crawl_with(workers, workers * args.pages_per_worker, f"w{workers}", home, es_url, redis_url,
                                site, env)
            one = one or (result["rate"] if workers == 1 else None)
            ratio = f"{result['rate'] / (workers * one):.2f}" if one else "-"
            print(f"{workers:>7} {result['pages']:>6} {result['together_pages']:>8} in "
                  f"{result['together_seconds']:>6.1f} s {result['rate']:>8.1f} {ratio:>11}", flush=True)
        queued, seen = redis_memory(args.fill, home)
        print(f"Redis memory per million: queued requests {queued:.0f} MB, seen fingerprints {seen:.0f} MB "
              f"(from {args.fill:,} of each)", flush=True)
    finally:
        if site:
            site.close()
        if redis_process:
            redis_process.terminate()
            redis_process.wait()
        node.stop()
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
