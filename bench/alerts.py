"""bench/alerts: how fast a negative review becomes a delivered alert, and how many alerts a second
the evaluator sustains.

    .venv/bin/python bench/alerts.py [--pages 60] [--delay 0.5] [--items 1000]

1. Latency: a local site publishes a stream of review pages (each links the next, so they are
   fetched one after another, `--delay` apart); every page holds negative reviews of a watched
   brand. The real crawl runs every stage (sentiment with the offline model, Elasticsearch,
   alerts) and a local webhook notes when each alert arrives. Latency = arrival - the page's
   fetch time; p50/p95.
2. Rate: synthetic negative reviews through rule evaluation, the exactly-once record in
   Elasticsearch and delivery to the webhook, one by one and on worker threads as the pipeline
   does it, against a baseline in the same process: the bare POST of the same messages
   (requests, one at a time, no state).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import requests  # noqa: E402
from elasticsearch import Elasticsearch  # noqa: E402

from alerts.dispatch import AlertDispatcher  # noqa: E402
from alerts.message import Message  # noqa: E402
from alerts.state import DeliveryState  # noqa: E402
from crawlers.static_site import StaticSite  # noqa: E402
from foundations.ports import free_port  # noqa: E402
from index.storage.node import LocalNode  # noqa: E402
from kuchikomi.config import load_monitor  # noqa: E402
from kuchikomi.crawl import run_crawl  # noqa: E402
from sentiment.model import load_classifier  # noqa: E402

THREADS = 6  # asyncio's default executor on 2 cores, which the alert pipeline runs on
COMPLAINTS = ["The battery died after two days and support never answered.",
              "充電できなくなりました。サポートの対応も最悪で、返金してほしいです。",
              "用了三天就坏了，客服也不理人，非常失望。",
              "Arrived broken, the replacement was broken too. Avoid."]


class Receiver:
    """The webhook end: notes the arrival time of every alert."""

    def __init__(self):
        self.arrivals: list[tuple[dict, float]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                arrived = time.time()
                for alert in json.loads(body)["alerts"]:
                    receiver.arrivals.append((alert, arrived))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def write_site(root: Path, pages: int, per_page: int) -> None:
    root.mkdir(parents=True)
    for page in range(1, pages + 1):
        reviews = [{"@type": "Review", "@id": f"#r{page}-{n}", "author": {"@type": "Person", "name": f"user{n}"},
                    "name": f"Acme failed me ({page}.{n})",
                    "reviewBody": f"{COMPLAINTS[(page + n) % len(COMPLAINTS)]} Acme #{page}-{n}",
                    "reviewRating": {"@type": "Rating", "ratingValue": "1", "bestRating": "5"}}
                   for n in range(per_page)]
        data = {"@context": "https://schema.org", "@type": "Product", "name": f"Acme gadget {page}",
                "brand": {"@type": "Brand", "name": "Acme"}, "review": reviews}
        link = f'<link rel="next" href="/p{page + 1}.html">' if page < pages else ""
        (root / f"p{page}.html").write_text(
            f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Acme {page}</title>{link}'
            f'<script type="application/ld+json">{json.dumps(data, ensure_ascii=False)}</script></head>'
            f"<body><h1>Acme gadget {page}</h1></body></html>", encoding="utf-8")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def latency_run(work: Path, es_url: str, pages: int, per_page: int, delay: float) -> list[float]:
    name = "stream"
    receiver = Receiver()
    write_site(work / name, pages, per_page)
    with StaticSite(work / name) as site:
        config = work / f"{name}.yaml"
        config.write_text(f"""
brands: [{{name: Acme}}]
sources: [{{name: {name}, start_urls: ["{site.url}/p1.html"], max_pages: {pages}}}]
elasticsearch: {{url: "{es_url}", index_prefix: bench-{name}}}
alerts:
  channels: {{hook: {{type: webhook, url: "{receiver.url}"}}}}
  rules: [{{name: negative, type: negative_brand, channels: [hook]}}]
crawl: {{autothrottle_start_delay: {delay}, download_delay: {delay}, obey_robots_txt: false}}
""", encoding="utf-8")
        monitor = load_monitor(config)
        classifier = load_classifier({})
        run_crawl(monitor, classifier=classifier, overrides={"LOG_LEVEL": "WARNING"})
    receiver.server.shutdown()
    return [arrived - datetime.fromisoformat(alert["fetched_at"]).timestamp()
            for alert, arrived in receiver.arrivals]


def synthetic(n: int) -> dict:
    return {"doc_id": f"bench-{n}", "source": "bench", "site": "shop.example", "brands": ["Acme"],
            "source_url": f"https://shop.example/r/{n}", "item_name": "Acme gadget", "title": f"Broken {n}",
            "body": COMPLAINTS[n % len(COMPLAINTS)], "language": "en",
            "sentiment": {"label": "negative", "score": 0.95},
            "rating": {"value": 1.0, "best": 5.0, "worst": 1.0, "normalized": 0.0},
            "fetched_at": datetime.now(timezone.utc).isoformat(timespec="milliseconds")}


def rate_run(es_url: str, items: int) -> dict[str, float]:
    receiver = Receiver()
    client = Elasticsearch([es_url])
    dispatcher = AlertDispatcher({"channels": {"hook": {"type": "webhook", "url": receiver.url}},
                                  "rules": [{"name": "negative", "type": "negative_brand", "channels": ["hook"]}]},
                                 DeliveryState(client, "bench-rate-alerts"), client=client)
    reviews = [synthetic(n) for n in range(items)]

    started = time.perf_counter()
    alerts = [alert for review in reviews for alert in dispatcher.evaluate(review)]
    evaluate_rate = len(reviews) / (time.perf_counter() - started)

    half = len(alerts) // 2
    started = time.perf_counter()
    for alert in alerts[:half]:
        dispatcher.deliver_claimed([dispatcher.submit(alert)])
    full_rate = half / (time.perf_counter() - started)

    # As in a crawl: Scrapy hands many items to the alert stage at once, each on a worker thread.
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        list(pool.map(lambda alert: dispatcher.deliver_claimed([dispatcher.submit(alert)]), alerts[half:]))
    parallel_rate = (len(alerts) - half) / (time.perf_counter() - started)

    session = requests.Session()
    bodies = [json.dumps(Message([alert]).as_dict(), ensure_ascii=False).encode() for alert in alerts]
    started = time.perf_counter()
    for body in bodies:
        session.post(receiver.url, data=body, headers={"Content-Type": "application/json"}, timeout=10)
    bare_rate = len(bodies) / (time.perf_counter() - started)
    receiver.server.shutdown()
    delivered = len({alert["doc_id"] for alert, _ in receiver.arrivals})
    assert delivered == items, f"{delivered} of {items} alerts delivered"
    return {"evaluate": evaluate_rate, "full": full_rate, "parallel": parallel_rate, "bare": bare_rate}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=60, help="review pages in the stream")
    parser.add_argument("--per-page", type=int, default=3, help="negative reviews per page")
    parser.add_argument("--delay", type=float, default=0.5,
                        help="seconds between page fetches (a polite crawl; 0 fetches as fast as possible)")
    parser.add_argument("--items", type=int, default=1000, help="synthetic reviews for the rate run")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="kuchikomi-bench-alerts-", dir="/var/tmp"))
    os.environ["KUCHIKOMI_HOME"] = str(work / "home")
    node = LocalNode(work / "es")
    try:
        es_url = node.start(port=free_port())
        rates = rate_run(es_url, args.items)
        latencies = latency_run(work, es_url, args.pages, args.per_page, args.delay)
    finally:
        node.stop()
        shutil.rmtree(work, ignore_errors=True)
    expected = args.pages * args.per_page
    print(f"latency, page fetched -> webhook received ({len(latencies)} of {expected} alerts, "
          f"{args.pages} pages fetched one after another, {args.delay:g} s apart, all stages on):")
    print(f"  p50 {statistics.median(latencies):.3f} s   p95 {percentile(latencies, 0.95):.3f} s   "
          f"max {max(latencies):.3f} s   (target p95 < 2 s)")
    print(f"rate over {args.items} negative reviews (half one at a time, half on worker threads):")
    print(f"  rule evaluation only          {rates['evaluate']:10.0f} reviews/s")
    print(f"  evaluate + record + deliver   {rates['full']:10.1f} alerts/s")
    print(f"  the same, {THREADS} worker threads   {rates['parallel']:10.1f} alerts/s")
    print(f"  baseline: bare POST, no state {rates['bare']:10.1f} messages/s")
    print(f"  ratio kuchikomi / baseline    {rates['full'] / rates['bare']:10.2f} one at a time, "
          f"{rates['parallel'] / rates['bare']:.2f} on threads")
    if len(latencies) != expected:
        sys.exit(f"only {len(latencies)} of {expected} alerts arrived")


if __name__ == "__main__":
    main()
