"""bench/crawl: pages/second and peak memory of a kuchikomi crawl against a bare Scrapy spider.

    .venv/bin/python bench/crawl.py [--pages 1000 10000]

A local server serves generated product pages (JSON-LD Product with five reviews each, in Japanese,
Chinese and English). For each page count, a bare Scrapy spider (fetch, count the JSON-LD blocks) and
the kuchikomi reviews spider with every pipeline on except sentiment (normalise, clean, language,
dedup, brands, index into a local Elasticsearch node) crawl the same pages, each in its own process
with the same concurrency and no HTTP cache. Figures: pages/second, the ratio, peak RSS per run.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

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

        process = CrawlerProcess({**COMMON, "ROBOTSTXT_OBEY": True})
        crawler = process.create_crawler(BareSpider)
        process.crawl(crawler)
        process.start()
        stats = crawler.stats.get_stats()
    else:
        from crawlers.config import load_monitor
        from crawlers.run import run_crawl
        from crawlers import settings as project_settings
        pipelines = {**project_settings.ITEM_PIPELINES, "pipelines.sentiment.SentimentPipeline": None}
        stats = run_crawl(load_monitor(config), None, None, {**COMMON, "ITEM_PIPELINES": pipelines})
        [stats] = stats.values()
        assert stats.get("kuchikomi/index/written", 0) == 5 * len(urls), stats
    # From the spider's opening to its close, as Scrapy measures it: process start-up is not the crawl.
    print(json.dumps({"pages": stats.get("response_received_count", 0), "seconds": stats["elapsed_time_seconds"],
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def run_worker(mode: str, urls_file: Path, config: Path | None, env: dict) -> dict:
    command = [sys.executable, __file__, "--worker", mode, "--urls-file", str(urls_file)]
    if config:
        command += ["--config", str(config)]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=3600)
    if result.returncode:
        raise RuntimeError(f"{mode} crawl failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--worker", choices=["bare", "kuchikomi"], help=argparse.SUPPRESS)
    parser.add_argument("--urls-file", help=argparse.SUPPRESS)
    parser.add_argument("--config", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.urls_file, args.config)
        return

    import yaml
    from crawlers.static_site import StaticSite
    from index.node import LocalNode, _free_port
    home = Path(tempfile.mkdtemp(prefix="kuchikomi-bench-crawl-", dir="/var/tmp"))
    env = {**os.environ, "KUCHIKOMI_HOME": str(home / "state"), "HF_HUB_OFFLINE": "1"}
    os.environ["KUCHIKOMI_HOME"] = env["KUCHIKOMI_HOME"]
    node = LocalNode(home / "elasticsearch")
    try:
        es_url = node.start(port=_free_port())
        print(f"{'pages':>7} {'bare pages/s':>13} {'kuchikomi pages/s':>18} {'ratio':>6} "
              f"{'bare peak RSS':>14} {'kuchikomi peak RSS':>19}")
        for count in args.pages:
            site_dir = home / f"site-{count}"
            site_dir.mkdir()
            names = write_site(site_dir, count)
            with StaticSite(site_dir) as site:
                urls_file = home / f"urls-{count}.txt"
                urls_file.write_text("\n".join(f"{site.url}/{name}" for name in names))
                config = home / f"monitor-{count}.yaml"
                config.write_text(yaml.safe_dump({
                    "elasticsearch": {"url": es_url, "index_prefix": f"bench{count}"},
                    "brands": [{"name": "Sony", "aliases": ["ソニー", "索尼"]},
                               {"name": "Panasonic", "aliases": ["パナソニック", "松下"]}],
                    "sources": [{"name": "bench", "start_urls": [f"{site.url}/{name}" for name in names],
                                 "follow_pagination": False}]}, allow_unicode=True))
                bare = run_worker("bare", urls_file, None, env)
                ours = run_worker("kuchikomi", urls_file, config, env)
            bare_rate, our_rate = bare["pages"] / bare["seconds"], ours["pages"] / ours["seconds"]
            print(f"{count:>7} {bare_rate:>13.1f} {our_rate:>18.1f} {our_rate / bare_rate:>5.2f}x "
                  f"{bare['peak_rss_mb']:>11.0f} MB {ours['peak_rss_mb']:>16.0f} MB", flush=True)
    finally:
        node.stop()
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
