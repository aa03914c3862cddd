"""`kuchikomi crawl`: the configured sources into Elasticsearch, with sentiment and alerts."""
from __future__ import annotations

import sys
from pathlib import Path

from kuchikomi.commands import connect_elasticsearch, fail, load_classifier, load_monitor, maintain_index


def add_parser(sub, default_config: str):
    crawl = sub.add_parser("crawl", help="crawl the configured sources into Elasticsearch, sending alerts")
    crawl.add_argument("--config", "-c", default=default_config, help="monitor config (YAML)")
    crawl.add_argument("--source", action="append", help="only this source (repeatable)")
    crawl.add_argument("--log-level", default="INFO")
    crawl.add_argument("--loop", action="store_true",
                       help="keep crawling: each source again when its `every` (default crawl.every, 1h) has passed")
    crawl.add_argument("--rounds", type=int, help="with --loop: stop after this many rounds")
    crawl.add_argument("--refresh", action="store_true",
                       help="process every page again, even unchanged ones (after changing brands or model)")
    return crawl


def run(args) -> None:
    from kuchikomi.crawl import browser_path, run_crawl
    from kuchikomi.summary import print_summary, record_crawls
    monitor = load_monitor(args.config)
    if args.source:
        for name in args.source:
            monitor.source(name)
    if args.loop:
        from kuchikomi.schedule import run_loop
        options = ["--log-level", args.log_level] + (["--refresh"] if args.refresh else [])
        try:
            run_loop(monitor, args.config, options, args.rounds, args.source, log=lambda m: print(m, flush=True))
        except KeyboardInterrupt:
            print("stopped", file=sys.stderr)
        return
    rendering = [s["name"] for s in monitor.sources if s.get("render") and (not args.source or s["name"] in args.source)]
    if rendering and not Path(browser_path(monitor)).exists():
        fail(f"sources {', '.join(rendering)} render pages in Chromium, and there is none at "
             f"{browser_path(monitor)}: install Debian's chromium (apt-get install chromium) or set "
             f"crawl.browser_path")
    client = connect_elasticsearch(monitor.elasticsearch)
    classifier = load_classifier(monitor.sentiment)
    overrides = {"LOG_LEVEL": args.log_level}
    if args.refresh:
        overrides["HTTPCACHE_ENABLED"] = False  # fetch and process every page, changed or not
    stats = run_crawl(monitor, args.source, classifier, overrides)
    print_summary(monitor, stats, client)
    record_crawls(monitor, stats, client)
    for line in maintain_index(client, monitor):
        print(line)
    if any(s.get("kuchikomi/index/failed") for s in stats.values()):
        sys.exit(1)
