"""bench/crawl: pages/second and peak memory of a kuchikomi crawl against a bare Scrapy spider.

    .venv/bin/python bench/crawl.py [--pages 1000 10000] [--rounds 3] [--warm-up 30000]

A local server serves generated product pages (JSON-LD Product with five reviews each, in Japanese,
Chinese and English). For each page count, a bare Scrapy spider (fetch, count the JSON-LD blocks) and
the kuchikomi reviews spider with every pipeline on except sentiment (normalise, clean, language,
dedup, brands, index into a local Elasticsearch node) crawl the same pages, each in its own process
with the same concurrency and no HTTP cache. Figures: pages/second, the ratio, CPU time per page of
the crawl's process (all its threads, from the spider's opening to its close), peak RSS per run.

The node is warmed first by a kuchikomi crawl of --warm-up pages into an index of its own. A freshly
started JVM interprets its indexing code, then compiles it: for about the first 60,000 reviews its
compiler threads take more CPU than the indexing itself, on the two cores the crawl shares with it,
and they go on compiling, less and less, through the next 100,000 or so, where a monitor's
long-running node takes several times less per review. Then the two crawls alternate, --rounds times
per page count, each round into a fresh index and each crawl first in every other round; the ratio
is the median of the rounds' ratios, so that the machine's changing speed (shared cores) is compared
within a round. After each kuchikomi crawl its index is merged to one segment, so that no crawl is
measured while the node still merges what the one before it wrote.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from scrapy import signals

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

COMMON = {"LOG_LEVEL": "ERROR", "CONCURRENT_REQUESTS": 16, "CONCURRENT_REQUESTS_PER_DOMAIN": 16,
          "DOWNLOAD_DELAY": 0, "AUTOTHROTTLE_ENABLED": False, "HTTPCACHE_ENABLED": False,
          "TELNETCONSOLE_ENABLED": False}
TEXTS = ["ソニーのヘッドホンは音がとても良い。バッテリーも長持ちです。", "パナソニックの炊飯器、一週間で壊れました。",
         "索尼耳机音质很好，降噪效果出色。", "松下吸尘器噪音很大，电池续航也差。",
         "The Sony headphones sound great and the battery lasts.", "My Panasonic vacuum broke after a week."]


def write_site(folder: Path, pages: int) -> list[str]:
    rng = random.Random(pages)
    names = []
    for number in range(pages):
        reviews = [{"@type": "Review", "author": f"user{number}-{r}", "datePublished": f"2024-0{1 + r}-1{r}",
                    "reviewBody": f"{rng.choice(TEXTS)} (#{number}-{r})",
                    "reviewRating": {"@type": "Rating", "ratingValue": rng.randint(1, 5), "bestRating": 5}}
                   for r in range(5)]
        product = {"@context": "https://schema.org", "@type": "Product", "name": f"Product {number}",
                   "review": reviews}
        name = f"p{number}.html"
        paragraphs = "".join(f"<p>{review['reviewBody']}</p>" for review in reviews)
        (folder / name).write_text(
            f"<html lang='ja'><head><title>Product {number}</title><script type='application/ld+json'>"
            f"{json.dumps(product, ensure_ascii=False)}</script></head><body><h1>Product {number}</h1>"
            f"{paragraphs}</body></html>", encoding="utf-8")
        names.append(name)
    return names


class ProcessorTime:
    """CPU seconds of the crawl's process from the spider's opening to its close (all its threads):
    what the crawl costs whatever else the machine's shared cores are doing meanwhile."""

    def __init__(self, stats):
        self.stats = stats
        self.opened = 0.0

    @classmethod
    def from_crawler(cls, crawler):
        extension = cls(crawler.stats)
        crawler.signals.connect(extension.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(extension.spider_closed, signal=signals.spider_closed)
        return extension

    def spider_opened(self):
        self.opened = time.process_time()

    def spider_closed(self):
        self.stats.set_value("bench/cpu_seconds", time.process_time() - self.opened)


def worker(mode: str, urls_file: str, config: str | None) -> None:
    """One crawl in this process; prints pages, seconds and peak RSS as JSON."""
    urls = Path(urls_file).read_text().split()
    if mode == "bare":
        import scrapy
        from scrapy.crawler import CrawlerProcess

        class BareSpider(scrapy.Spider):
            name = "bare"
            start_urls = urls

            def parse(self, response):
                yield {"url": response.url,
                       "blocks": len(response.css("script[type='application/ld+json']::text").getall())}

        process = CrawlerProcess({**COMMON, "ROBOTSTXT_OBEY": True, "EXTENSIONS": {"__main__.ProcessorTime": 0}})
        crawler = process.create_crawler(BareSpider)
        process.crawl(crawler)
        process.start()
        stats = crawler.stats.get_stats()
    else:
        from kuchikomi.config import load_monitor
        from kuchikomi.crawl import run_crawl
        from crawlers import settings as project_settings
        pipelines = {**project_settings.ITEM_PIPELINES, "pipelines.sentiment.SentimentPipeline": None}
        extensions = {**project_settings.EXTENSIONS, "__main__.ProcessorTime": 0}
        stats = run_crawl(load_monitor(config), None, None,
                          {**COMMON, "ITEM_PIPELINES": pipelines, "EXTENSIONS": extensions})
        [stats] = stats.values()
        assert stats.get("kuchikomi/index/written", 0) == 5 * len(urls), stats
    # From the spider's opening to its close, as Scrapy measures it: process start-up is not the crawl.
    print(json.dumps({"pages": stats.get("response_received_count", 0), "seconds": stats["elapsed_time_seconds"],
                      "cpu_seconds": stats["bench/cpu_seconds"], "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def run_worker(mode: str, urls_file: Path, config: Path | None, env: dict) -> dict:
    command = [sys.executable, __file__, "--worker", mode, "--urls-file", str(urls_file)]
    if config:
        command += ["--config", str(config)]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=3600)
    if result.returncode:
        raise RuntimeError(f"{mode} crawl failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def monitor_config(path: Path, es_url: str, prefix: str, urls: list[str]) -> Path:
    import yaml
    path.write_text(yaml.safe_dump({
        "elasticsearch": {"url": es_url, "index_prefix": prefix},
        "brands": [{"name": "Sony", "aliases": ["ソニー", "索尼"]},
                   {"name": "Panasonic", "aliases": ["パナソニック", "松下"]}],
        "sources": [{"name": "bench", "start_urls": urls, "follow_pagination": False}]}, allow_unicode=True))
    return path


def settle(es_url: str, prefix: str) -> None:
    """Merge what a crawl just wrote before the next crawl starts: the node's merges of a crawl's
    last segments would otherwise run during the next one, whichever it is."""
    from elasticsearch import Elasticsearch
    Elasticsearch([es_url], timeout=600).indices.forcemerge(index=f"{prefix}-reviews*", max_num_segments=1)


def row_line(count: int, label, row: list[float], ratio: float) -> str:
    bare_rate, bare_cpu, bare_rss, our_rate, our_cpu, our_rss = row
    return (f"{count:>7} {label:>5} {bare_rate:>13.1f} {our_rate:>18.1f} {ratio:>5.2f}x "
            f"{bare_cpu:>11.2f} ms {our_cpu:>16.2f} ms {bare_rss:>11.0f} MB {our_rss:>16.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warm-up", type=int, default=30000, help="pages of the node's warm-up crawl (0: none)")
    parser.add_argument("--worker", choices=["bare", "kuchikomi"], help=argparse.SUPPRESS)
    parser.add_argument("--urls-file", help=argparse.SUPPRESS)
    parser.add_argument("--config", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.urls_file, args.config)
        return

    from crawlers.static_site import StaticSite
    from foundations.ports import free_port
    from index.storage.node import LocalNode
    home = Path(tempfile.mkdtemp(prefix="kuchikomi-bench-crawl-", dir="/var/tmp"))
    env = {**os.environ, "KUCHIKOMI_HOME": str(home / "state"), "HF_HUB_OFFLINE": "1"}
    os.environ["KUCHIKOMI_HOME"] = env["KUCHIKOMI_HOME"]
    node = LocalNode(home / "elasticsearch")

    def crawl_both(site_dir: Path, names: list[str], prefix: str, modes: tuple[str, ...]) -> dict[str, dict]:
        with StaticSite(site_dir) as site:
            urls = [f"{site.url}/{name}" for name in names]
            urls_file = home / f"urls-{prefix}.txt"
            urls_file.write_text("\n".join(urls))
            config = monitor_config(home / f"monitor-{prefix}.yaml", es_url, prefix, urls)
            runs = {}
            for mode in modes:
                runs[mode] = run_worker(mode, urls_file, config if mode == "kuchikomi" else None, env)
                if mode == "kuchikomi":
                    settle(es_url, prefix)
            return runs

    try:
        es_url = node.start(port=free_port())
        if args.warm_up:
            site_dir = home / "site-warm-up"
            site_dir.mkdir()
            warm = crawl_both(site_dir, write_site(site_dir, args.warm_up), "benchwarmup", ("kuchikomi",))
            print(f"node warmed up: {args.warm_up} pages crawled into it in {warm['kuchikomi']['seconds']:.0f} s",
                  flush=True)
        print(f"{'pages':>7} {'round':>5} {'bare pages/s':>13} {'kuchikomi pages/s':>18} {'ratio':>6} "
              f"{'bare CPU/page':>14} {'kuchikomi CPU/page':>19} {'bare peak RSS':>14} {'kuchikomi peak RSS':>19}")
        for count in args.pages:
            site_dir = home / f"site-{count}"
            site_dir.mkdir()
            names = write_site(site_dir, count)
            rows = []
            for number in range(1, args.rounds + 1):
                # Each crawl goes first in every other round, so a machine speeding up or slowing down
                # over the run favours neither.
                order = ("bare", "kuchikomi") if number % 2 else ("kuchikomi", "bare")
                runs = crawl_both(site_dir, names, f"bench{count}r{number}", order)
                rows.append([figure for run in (runs["bare"], runs["kuchikomi"]) for figure in (
                    run["pages"] / run["seconds"], 1000 * run["cpu_seconds"] / run["pages"], run["peak_rss_mb"])])
                print(row_line(count, number, rows[-1], rows[-1][3] / rows[-1][0]), flush=True)
            median = [statistics.median(column) for column in zip(*rows)]
            print(row_line(count, "median", median, statistics.median(row[3] / row[0] for row in rows)), flush=True)
    finally:
        node.stop()
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
