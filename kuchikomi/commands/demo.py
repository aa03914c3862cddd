"""`kuchikomi demo`: the whole job on the embedded demo site, on real parts."""
from __future__ import annotations

import os
import sys
import time

from crawlers.static_site import StaticSite
from foundations import paths
from kuchikomi.commands import DEMO_CONFIG, connect_elasticsearch, fail, load_classifier, load_monitor, table

DEMO_PORT = 8765
DEMO_USER = "demo"
REVIEWS_SHOWN = 50
SIGNS = {"negative": "-", "neutral": "~", "positive": "+"}  # an aspect as "battery -, sound +"


def add_parser(sub, default_config: str):
    demo = sub.add_parser("demo", help="serve the demo site and run the whole job on it")
    demo.add_argument("--log-level", default="WARNING")
    return demo


def run(args) -> None:
    from kuchikomi.crawl import run_crawl
    from kuchikomi.summary import print_summary, record_crawls
    from index.storage.node import LocalNode, NodeError

    started = time.monotonic()
    alerts_file = paths.home() / "demo" / "alerts.jsonl"
    os.environ.setdefault("KUCHIKOMI_DEMO_ALERTS", str(alerts_file))
    # A fixed port keeps the demo's URLs, and so its document ids, the same on every run.
    port = int(os.environ.get("KUCHIKOMI_DEMO_PORT", DEMO_PORT))
    try:
        site = StaticSite(port=port)
    except OSError as exc:
        fail(f"cannot serve the demo site on 127.0.0.1:{port} ({exc.strerror}); "
              "set KUCHIKOMI_DEMO_PORT to a free port", 1)
    with site:
        os.environ["DEMO_SITE"] = site.url
        monitor = load_monitor(str(DEMO_CONFIG))
        if not monitor.elasticsearch.get("url"):
            node = LocalNode.default()
            print(f"[1/4] Elasticsearch: starting the local node in {node.home} ...", file=sys.stderr)
            try:
                url = node.start()
            except NodeError as exc:
                fail(str(exc), 1)
            print(f"      running at {url}", file=sys.stderr)
        client = connect_elasticsearch(monitor.elasticsearch)
        print("[2/4] loading the sentiment model ...", file=sys.stderr)
        classifier = load_classifier(monitor.sentiment)
        print(f"[3/4] crawling the demo site at {site.url} ...", file=sys.stderr)
        stats = run_crawl(monitor, classifier=classifier, overrides={"LOG_LEVEL": args.log_level})
    print("[4/4] done", file=sys.stderr)
    print_summary(monitor, stats, client)
    print_reviews(monitor, client)
    record_crawls(monitor, stats, client)
    print(f"alerts file: {os.environ['KUCHIKOMI_DEMO_ALERTS']}")
    print(f"demo took {time.monotonic() - started:.1f} s")
    print(f"try a search:  .venv/bin/kuchikomi search 壊れ --config {DEMO_CONFIG}")
    print(f"               .venv/bin/kuchikomi search category:purchase_intent --config {DEMO_CONFIG}")
    password = _demo_user(client, monitor)
    print(f"web workspace: start it with  .venv/bin/kuchikomi web --config {DEMO_CONFIG}")
    print(f"               then open http://127.0.0.1:8080/?period=all and sign in as {DEMO_USER} / {password}")
    print("the local Elasticsearch keeps running for that; stop it with `.venv/bin/kuchikomi es stop`")


def print_reviews(monitor, client) -> None:
    """The demo's reviews as the index holds them: sentiment, categories and aspects of each."""
    from alerts.message import category_names
    from alerts.rules.base import excerpt
    from index.research.search import Filters, search
    from index.storage.client import ES_ERRORS, reviews_alias
    try:
        page = search(client, reviews_alias(monitor.elasticsearch), Filters(), size=REVIEWS_SHOWN, sort="oldest")
    except ES_ERRORS as exc:
        print(f"reviews not shown, Elasticsearch did not answer: {str(exc).splitlines()[0][:200]}")
        return
    rows = [{"brand": ", ".join(hit.get("brands") or []) or "-",
             "sentiment": (hit.get("sentiment") or {}).get("label", "-"),
             "categories": ", ".join(category_names(hit.get("categories"))) or "-",
             "aspects": ", ".join(dict.fromkeys(f"{a.get('category')} {SIGNS.get(a.get('sentiment'), '?')}"
                                                for a in hit.get("aspects") or [])) or "-",
             "review": excerpt(hit.get("title") or hit.get("body"), 40)} for hit in page.hits]
    print(f"\nreviews ({len(rows)} of {page.total}):")
    print(table(["brand", "sentiment", "categories", "aspects", "review"], rows))


def _demo_user(client, monitor) -> str:
    """The demo's workspace login (an analyst), with a new random password each run."""
    import secrets

    from web.indices import workspace_index
    from web.users import Users
    users = Users(client, workspace_index(monitor.elasticsearch, "users"))
    password = secrets.token_urlsafe(12)
    if users.get(DEMO_USER):
        users.set_password(DEMO_USER, password)
    else:
        users.add(DEMO_USER, "analyst", password)
    return password
