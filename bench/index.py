"""bench/index: indexing throughput of the pipeline stage, and report query latency on a large index.

    .venv/bin/python bench/index.py [--docs 50000] [--large 1000000] [--heap 2g]

1. Throughput: the same prepared reviews (ja/zh/en) go through the Elasticsearch item pipeline (the
   micro-batcher with two bulk requests in flight, the versioned, rollover-aware BulkWriter, asyncio
   as Scrapy drives it) and, as the baseline in the same process, through a plain `helpers.bulk`
   (chunks of 200, like the pipeline's batches) into an index with the same mapping. After a warm-up
   of both, rounds alternate, each into fresh indices. Figures: documents/second, ratio.
2. Latency: `--large` generated reviews are bulk-loaded into one index (request cache off, so every
   query is computed), then each report query runs 30 times with varying filters: p50/p95 ms.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from elasticsearch import Elasticsearch, helpers  # noqa: E402

from index.research.charts import write_chart  # noqa: E402
from foundations.ports import free_port  # noqa: E402
from index.research.query import BrandNames  # noqa: E402
from index.research.report import REPORTS  # noqa: E402
from index.research.search import Filters, search  # noqa: E402
from index.storage.node import LocalNode  # noqa: E402
from index.storage.schema import ensure_reviews_index, template_body  # noqa: E402
from index.storage.writer import prepare_document  # noqa: E402
from pipelines.index import ElasticsearchPipeline  # noqa: E402

BRANDS = [{"name": n, "aliases": a} for n, a in [("Sony", ["ソニー", "索尼"]), ("Panasonic", ["パナソニック", "松下"]),
                                                  ("Anker", ["安克"]), ("Sharp", ["シャープ", "夏普"]),
                                                  ("Xiaomi", ["小米"]), ("Apple", [])]]
# Words per language: common ones, and ones typical of negative, neutral and positive reviews. Each
# generated review draws a few of each, so texts vary as real ones do (no repeated sentences).
WORDS = {
    "ja": {"common": ["ヘッドホン", "掃除機", "テレビ", "充電器", "配送", "値段", "画質", "音質", "説明書", "箱", "色", "サイズ"],
           "negative": ["壊れた", "返品", "不良品", "最悪", "遅い", "うるさい", "故障", "残念"],
           "neutral": ["普通", "まあまあ", "値段相応", "特になし"],
           "positive": ["最高", "満足", "快適", "おすすめ", "綺麗", "便利"]},
    "zh": {"common": ["耳机", "吸尘器", "电视", "充电宝", "物流", "价格", "画面", "音质", "包装", "颜色", "尺寸", "客服"],
           "negative": ["坏了", "退货", "质量差", "失望", "太慢", "噪音", "故障", "不理人"],
           "neutral": ["一般", "还行", "凑合", "中规中矩"],
           "positive": ["满意", "好评", "推荐", "清晰", "方便", "性价比高"]},
    "en": {"common": ["headphones", "vacuum", "tv", "charger", "delivery", "price", "picture", "sound", "box",
                      "colour", "size", "manual"],
           "negative": ["broken", "refund", "defective", "worst", "slow", "noisy", "faulty", "disappointed"],
           "neutral": ["okay", "average", "fine", "decent"],
           "positive": ["excellent", "love", "comfortable", "recommend", "bright", "handy"]},
}
LABELS = ["negative", "neutral", "positive"]
SITES = [f"shop{n}.example.{tld}" for n in range(12) for tld in ("jp", "cn", "com")]


def make_documents(count: int, seed: int, start: int = 0):
    rng = random.Random(seed)
    base = datetime(2023, 1, 1, tzinfo=timezone.utc)
    for number in range(start, start + count):
        language = rng.choice(["ja", "zh", "en"])
        brand = rng.choice(BRANDS)
        label = rng.choice(LABELS)
        stars = {"negative": rng.randint(1, 2), "neutral": 3, "positive": rng.randint(4, 5)}[label]
        published = base + timedelta(minutes=rng.randrange(2 * 365 * 24 * 60))
        site = rng.choice(SITES)
        vocabulary = WORDS[language]
        words = rng.sample(vocabulary["common"], 5) + rng.sample(vocabulary[label], 2)
        rng.shuffle(words)
        words.insert(rng.randrange(len(words)), rng.choice([brand["name"], *brand["aliases"]]))
        body = (" " if language == "en" else "、").join(words)
        yield {"doc_id": f"bench-{number:08d}", "source": site.split(".")[0], "site": site,
               "source_url": f"https://{site}/item/{number // 20}", "review_url": f"https://{site}/r/{number}",
               "author": f"user{rng.randrange(100000)}", "title": body[:12], "body": body,
               "item_name": f"{brand['name']} model {number % 50}",
               "rating": {"value": float(stars), "best": 5.0, "worst": 1.0, "normalized": (stars - 1) / 4},
               "published_at": published.isoformat(), "fetched_at": (published + timedelta(days=1)).isoformat(),
               "language": language, "page_language": language, "brands": [brand["name"]],
               "sentiment": {"label": label, "score": 0.9}}


class Stats:
    def __init__(self):
        self.values = {}

    def inc_value(self, key, count=1):
        self.values[key] = self.values.get(key, 0) + count

    def set_value(self, key, value):
        self.values[key] = value


def through_pipeline(url: str, prefix: str, docs: list[dict]) -> float:
    pipeline = ElasticsearchPipeline({"url": url, "index_prefix": prefix}, batch_size=200, stats=Stats())

    async def feed():
        pipeline.open_spider()
        pending = iter(docs)

        # Scrapy keeps up to CONCURRENT_ITEMS (100) items per response in flight, several responses at once.
        async def slot():
            for doc in pending:
                await pipeline.process_item(dict(doc))

        started = time.perf_counter()
        await asyncio.gather(*(slot() for _ in range(400)))
        await pipeline.close_spider()
        return time.perf_counter() - started

    elapsed = asyncio.run(feed())
    assert pipeline.stats.values.get("kuchikomi/index/written") == len(docs), pipeline.stats.values
    return len(docs) / elapsed


def plain_bulk(client: Elasticsearch, prefix: str, docs: list[dict]) -> float:
    alias = ensure_reviews_index(client, prefix)
    started = time.perf_counter()
    # The same stored form the pipeline writes; the baseline skips batching, id routing and spooling.
    helpers.bulk(client, ({"_index": alias, "_id": d["doc_id"], "_source": prepare_document(d)} for d in docs),
                 chunk_size=200)
    return len(docs) / (time.perf_counter() - started)


def throughput(client: Elasticsearch, url: str, docs: list[dict], rounds: int) -> None:
    pipeline_rates, bulk_rates = [], []
    plain_bulk(client, "bench-warmup", docs[:10000])  # the JVM compiles its indexing path first
    through_pipeline(url, "bench-warmup-pipe", docs[:10000])
    client.indices.delete(index="bench-warmup-*")
    for round_number in range(rounds):
        bulk_rates.append(plain_bulk(client, f"bench-bulk-{round_number}", docs))
        pipeline_rates.append(through_pipeline(url, f"bench-pipe-{round_number}", docs))
        client.indices.delete(index=f"bench-bulk-{round_number}-*,bench-pipe-{round_number}-*")
        print(f"  round {round_number + 1}: helpers.bulk {bulk_rates[-1]:,.0f} docs/s, "
              f"pipeline stage {pipeline_rates[-1]:,.0f} docs/s", flush=True)
    bulk, pipe = statistics.median(bulk_rates), statistics.median(pipeline_rates)
    print(f"throughput ({len(docs):,} reviews, median of {rounds} rounds): helpers.bulk {bulk:,.0f} docs/s, "
          f"pipeline stage {pipe:,.0f} docs/s, ratio {pipe / bulk:.2f}x")


def load_large(client: Elasticsearch, count: int) -> str:
    alias = ensure_reviews_index(client, "bench-large")
    index = next(iter(client.indices.get_alias(name=alias)))
    client.indices.put_settings(index=index, body={"index": {"refresh_interval": "-1",
                                                             "requests.cache.enable": False}})
    started = time.perf_counter()
    for ok, info in helpers.parallel_bulk(
            client, ({"_index": alias, "_id": d["doc_id"], "_source": prepare_document(d)}
                     for d in make_documents(count, seed=7)), thread_count=2, chunk_size=2000):
        if not ok:
            raise RuntimeError(info)
    client.indices.put_settings(index=index, body={"index": {
        "refresh_interval": template_body("bench-large")["settings"]["refresh_interval"]}})
    client.indices.refresh(index=alias)
    client.indices.forcemerge(index=index, max_num_segments=1, request_timeout=1800)
    print(f"loaded {client.count(index=alias)['count']:,} reviews in {time.perf_counter() - started:.0f} s")
    return alias


def latencies(client: Elasticsearch, alias: str, repeats: int) -> None:
    brands = BrandNames(BRANDS)
    rng = random.Random(3)

    def filters():
        # A different filter each time, as a dashboard user would change them.
        choice = rng.randrange(4)
        return [Filters(brands=[rng.choice(BRANDS)["name"]]), Filters(languages=[rng.choice(["ja", "zh", "en"])]),
                Filters(since=f"2023-{rng.randint(1, 12):02d}-01"), Filters(min_rating=rng.randint(1, 5))][choice]

    queries = {name: (lambda name=name: REPORTS[name](
        client, alias, filters(), brands, **({"interval": "week"} if name in ("mentions", "rating_trend") else {})))
        for name in REPORTS}
    queries["significant_terms"] = lambda: REPORTS["significant_terms"](
        client, alias, Filters(brands=[rng.choice(BRANDS)["name"]]), brands)
    queries["search (words + filters, top 10)"] = lambda: search(
        client, alias, Filters(query=rng.choice(['"charger broken"', "充電器 壊れた", "客服 -退货"]),
                               sentiments=["negative"]), brands, size=10)
    print(f"report queries on {client.count(index=alias)['count']:,} reviews ({repeats} runs each, "
          f"request cache off):")
    for name, query in queries.items():
        query()  # warm the field data once
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            query()
            times.append((time.perf_counter() - started) * 1000)
        times.sort()
        print(f"  {name:<34} p50 {statistics.median(times):7.1f} ms   p95 {times[int(0.95 * len(times)) - 1]:7.1f} ms")


def write_charts(client: Elasticsearch, alias: str, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    brands = BrandNames(BRANDS)
    for name, report in REPORTS.items():
        options = {"interval": "month"} if name in ("mentions", "rating_trend") else {}
        filters = Filters(brands=["Sony"]) if name == "significant_terms" else Filters()
        write_chart(report(client, alias, filters, brands, **options), folder / f"{name}.png")
    print(f"charts in {folder}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=50000, help="reviews per throughput round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--large", type=int, default=1_000_000, help="reviews for the latency part (0: skip)")
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--heap", default="2g", help="the benchmark node's JVM heap")
    parser.add_argument("--charts", help="also write the report charts of the large index into this folder")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="kuchikomi-bench-index-", dir="/var/tmp"))
    os.environ["KUCHIKOMI_HOME"] = str(home / "state")  # the pipeline's spool lives here
    os.environ["KUCHIKOMI_ES_HEAP"] = args.heap
    node = LocalNode(home / "elasticsearch")
    try:
        url = node.start(port=free_port())
        client = Elasticsearch([url], timeout=120)
        docs = list(make_documents(args.docs, seed=1))
        throughput(client, url, docs, args.rounds)
        if args.large:
            alias = load_large(client, args.large)
            latencies(client, alias, args.repeats)
            if args.charts:
                write_charts(client, alias, Path(args.charts))
    finally:
        node.stop()
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
