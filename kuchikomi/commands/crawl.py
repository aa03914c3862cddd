"""`kuchikomi crawl`: the configured sources into Elasticsearch, with sentiment and alerts."""
from __future__ import annotations

import argparse
import ctypes
import json
import signal
import subprocess
import sys
import tempfile
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
    crawl.add_argument("--workers", type=int, default=1,
                       help="start this many worker processes on the shared frontier (crawl.frontier)")
    crawl.add_argument("--stats-file", help=argparse.SUPPRESS)  # a worker's stats, for the summary of --workers
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
    rendering = [s["name"] for s in monitor.sources
                 if s.get("render") and (not args.source or s["name"] in args.source)]
    if rendering and not Path(browser_path(monitor)).exists():
        fail(f"sources {', '.join(rendering)} render pages in Chromium, and there is none at "
             f"{browser_path(monitor)}: install Debian's chromium (apt-get install chromium) or set "
             f"crawl.browser_path")
    client = connect_elasticsearch(monitor.elasticsearch)
    if args.workers > 1:
        if not monitor.crawl.get("frontier"):
            fail(f"--workers needs a shared frontier: set crawl.frontier (e.g. redis://127.0.0.1:6379/0) in "
                 f"{args.config}")
        stats = run_workers(args)
    else:
        overrides = {"LOG_LEVEL": args.log_level}
        if args.refresh:
            overrides["HTTPCACHE_ENABLED"] = False  # fetch and process every page, changed or not
        stats = run_crawl(monitor, args.source, load_classifier(monitor.sentiment), overrides)
        if args.stats_file:
            Path(args.stats_file).write_text(json.dumps(stats, default=str))
            return
    print_summary(monitor, stats, client)
    record_crawls(monitor, stats, client)
    for line in maintain_index(client, monitor):
        print(line)
    if any(s.get("kuchikomi/index/failed") for s in stats.values()):
        sys.exit(1)


def run_workers(args) -> dict[str, dict]:
    """`kuchikomi crawl` in args.workers processes (Scrapy's reactor runs once per process); their stats summed.

    The workers live in a session of their own, so a stop reaches each of them once, from here: Ctrl-C or
    SIGTERM is passed on (each gives its leased pages back and reports), and if this process is killed outright
    the kernel sends them SIGTERM (PR_SET_PDEATHSIG) rather than leaving them crawling on their own."""
    options = ["--log-level", args.log_level] + (["--refresh"] if args.refresh else [])
    options += [arg for name in args.source or [] for arg in ("--source", name)]
    with tempfile.TemporaryDirectory(prefix="kuchikomi-workers-") as folder:
        files = [Path(folder) / f"worker{number}.json" for number in range(args.workers)]
        workers = [subprocess.Popen([sys.executable, "-m", "kuchikomi.cli", "crawl", "-c", args.config, *options,
                                     "--stats-file", str(file)], start_new_session=True,
                                    preexec_fn=_stop_with_parent) for file in files]

        def stop_workers(signum, frame):
            print(f"stopping {len(workers)} workers...", file=sys.stderr, flush=True)
            for worker in workers:
                if worker.poll() is None:
                    worker.send_signal(signal.SIGTERM)

        previous = {number: signal.signal(number, stop_workers) for number in (signal.SIGINT, signal.SIGTERM)}
        try:
            for worker in workers:
                worker.wait()
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)
        reports = [json.loads(file.read_text()) for file in files if file.exists()]
    if len(reports) < len(workers):
        print(f"{len(workers) - len(reports)} of {len(workers)} workers stopped without a report "
              "(their pages went back to the frontier)", file=sys.stderr)
    return merge_stats(reports)


def _stop_with_parent() -> None:
    """In the worker before it starts: SIGTERM when the process that started it dies (Linux)."""
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def merge_stats(reports: list[dict[str, dict]]) -> dict[str, dict]:
    """Each source's counts summed over the workers; its finish reasons joined."""
    merged: dict[str, dict] = {}
    for report in reports:
        for source, stats in report.items():
            total = merged.setdefault(source, {})
            for key, value in stats.items():
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    total[key] = total.get(key, 0) + value
                elif key == "finish_reason":
                    reasons = set(filter(None, str(total.get(key, "")).split(", "))) | {value}
                    total[key] = ", ".join(sorted(reasons))
    return merged
