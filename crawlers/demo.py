"""`kuchikomi demo`: the whole job on the embedded demo site, on real parts."""
from __future__ import annotations

import os
import sys
import time

from crawlers.static_site import StaticSite

DEMO_PORT = 8765


def run_demo(args) -> None:
    from crawlers.cli import DEMO_CONFIG, _classifier, _fail, _monitor, _preflight_elasticsearch
    from crawlers.run import run_crawl
    from crawlers.summary import print_summary
    from index.node import LocalNode, NodeError, kuchikomi_home

    started = time.monotonic()
    alerts_file = kuchikomi_home() / "demo" / "alerts.jsonl"
    os.environ.setdefault("KUCHIKOMI_DEMO_ALERTS", str(alerts_file))
    # A fixed port keeps the demo's URLs, and so its document ids, the same on every run.
    port = int(os.environ.get("KUCHIKOMI_DEMO_PORT", DEMO_PORT))
    try:
        site = StaticSite(port=port)
    except OSError as exc:
        _fail(f"cannot serve the demo site on 127.0.0.1:{port} ({exc.strerror}); "
              "set KUCHIKOMI_DEMO_PORT to a free port", 1)
    with site:
        os.environ["DEMO_SITE"] = site.url
        monitor = _monitor(str(DEMO_CONFIG))
        if not monitor.elasticsearch.get("url"):
            node = LocalNode.default()
            print(f"[1/4] Elasticsearch: starting the local node in {node.home} ...", file=sys.stderr)
            try:
                url = node.start()
            except NodeError as exc:
                _fail(str(exc), 1)
            print(f"      running at {url}", file=sys.stderr)
        client = _preflight_elasticsearch(monitor.elasticsearch)
        print("[2/4] loading the sentiment model ...", file=sys.stderr)
        classifier = _classifier(monitor.sentiment)
        print(f"[3/4] crawling the demo site at {site.url} ...", file=sys.stderr)
        stats = run_crawl(monitor, classifier=classifier, overrides={"LOG_LEVEL": args.log_level})
    print("[4/4] done", file=sys.stderr)
    print_summary(monitor, stats, client)
    print(f"alerts file: {os.environ['KUCHIKOMI_DEMO_ALERTS']}")
    print(f"demo took {time.monotonic() - started:.1f} s")
    print(f"try a search:  .venv/bin/kuchikomi search 壊れ --config {DEMO_CONFIG}")
    print("the local Elasticsearch keeps running for that; stop it with `.venv/bin/kuchikomi es stop`")
