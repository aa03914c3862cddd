"""The `kuchikomi` command."""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

DEMO_CONFIG = Path(__file__).parent / "demo_monitor.yaml"


def _fail(message: str, code: int = 2) -> None:
    print(f"kuchikomi: {message}", file=sys.stderr)
    sys.exit(code)


def _monitor(path: str):
    from crawlers.config import ConfigError, load_monitor
    try:
        return load_monitor(path)
    except ConfigError as exc:
        _fail(str(exc))


def _classifier(config: dict):
    from sentiment.model import SentimentModelError, load_classifier
    try:
        return load_classifier(config)
    except SentimentModelError as exc:
        _fail(str(exc))


def _preflight_elasticsearch(es_config: dict):
    from index.client import ElasticsearchUnavailable, connect, index_prefix
    from index.schema import ensure_reviews_index
    try:
        client = connect(es_config)
    except ElasticsearchUnavailable as exc:
        _fail(str(exc))
    ensure_reviews_index(client, index_prefix(es_config))
    return client


def cmd_crawl(args) -> None:
    from crawlers.run import run_crawl
    from crawlers.summary import print_summary
    monitor = _monitor(args.config)
    if args.source:
        for name in args.source:
            monitor.source(name)
    client = _preflight_elasticsearch(monitor.elasticsearch)
    classifier = _classifier(monitor.sentiment)
    overrides = {"LOG_LEVEL": args.log_level}
    stats = run_crawl(monitor, args.source, classifier, overrides)
    print_summary(monitor, stats, client)
    if any(s.get("kuchikomi/index/failed") for s in stats.values()):
        sys.exit(1)


def cmd_demo(args) -> None:
    from crawlers.demo import run_demo
    run_demo(args)


def cmd_es(args) -> None:
    from index.node import LocalNode, NodeError
    node = LocalNode.default()
    if args.action == "start":
        try:
            print(f"starting Elasticsearch {node.home} ...", file=sys.stderr)
            print(node.start(port=args.port))
        except NodeError as exc:
            _fail(str(exc), 1)
    elif args.action == "stop":
        print("stopped" if node.stop() else "not running")
    else:
        if node.is_running():
            print(f"running at {node.url} (home {node.home})")
        else:
            print(f"not running (home {node.home})")
            sys.exit(3)


def cmd_extract(args) -> None:
    from crawlers.extract import extract_page
    try:
        items, aggregate = extract_page(args.source, args.url)
    except (OSError, ValueError) as exc:
        _fail(f"{args.source}: {exc}", 1)
    for item in items:
        print(json.dumps(item, ensure_ascii=False))
    summary = f"{len(items)} reviews"
    if aggregate:
        summary += (f"; page aggregate {aggregate['value']:g} of {aggregate['best']:g}"
                    + (f" from {aggregate['count']} ratings" if aggregate.get("count") is not None else ""))
    print(summary, file=sys.stderr)


def cmd_sentiment(args) -> None:
    if args.action == "build":
        from sentiment.default_model import build_default_model
        build_default_model(log=lambda m: print(m, file=sys.stderr))
        return
    config = _monitor(args.config).sentiment if args.config else {}
    if args.model:
        config = {**config, "model": args.model}
    classifier = _classifier(config)
    handle = open(args.input, encoding="utf-8") if args.input else sys.stdin
    with handle:
        texts = [line.rstrip("\n") for line in handle]
    for start in range(0, len(texts), 256):
        for result in classifier.classify(texts[start:start + 256]):
            print(json.dumps({k: result[k] for k in ("label", "score", "scores")}, ensure_ascii=False))


def cmd_search(args) -> None:
    from index.search import search_reviews
    monitor = _monitor(args.config)
    client = _preflight_elasticsearch(monitor.elasticsearch)
    from index.client import reviews_alias
    hits, total = search_reviews(client, reviews_alias(monitor.elasticsearch), args.query, args.size)
    print(f"{total} matching reviews", file=sys.stderr)
    for hit in hits:
        print(json.dumps(hit, ensure_ascii=False) if args.json else _search_line(hit))


def _search_line(hit: dict) -> str:
    from alerts.channels.console import plain
    from alerts.rules.base import excerpt
    sentiment = hit.get("sentiment") or {}
    rating = hit.get("rating") or {}
    stars = f"{rating['value']:g}/{rating['best']:g}" if rating.get("value") is not None else "-"
    return (f"[{sentiment.get('label', '-')} {sentiment.get('score', 0):.2f}] rating {stars} | "
            f"{plain(', '.join(hit.get('brands') or []) or '-')} | {plain(hit.get('site'))} | "
            f"{plain((hit.get('published_at') or '-')[:10])} | {plain(hit.get('title') or '')}: "
            f"{plain(excerpt(hit.get('body'), 120))} | {plain(hit.get('review_url') or hit.get('source_url'))}")


def cmd_config(args) -> None:
    monitor = _monitor(args.file)
    print(f"{monitor.path}: OK ({len(monitor.sources)} sources, {len(monitor.brands)} brands, "
          f"{len(monitor.alerts.get('rules', []))} alert rules)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kuchikomi", description="Review and content monitoring crawler.")
    sub = parser.add_subparsers(dest="command", required=True)
    default_config = os.environ.get("KUCHIKOMI_CONFIG", "monitor.yaml")

    crawl = sub.add_parser("crawl", help="crawl the configured sources into Elasticsearch, sending alerts")
    crawl.add_argument("--config", "-c", default=default_config, help="monitor config (YAML)")
    crawl.add_argument("--source", action="append", help="only this source (repeatable)")
    crawl.add_argument("--log-level", default="INFO")
    crawl.set_defaults(func=cmd_crawl)

    demo = sub.add_parser("demo", help="serve the demo site and run the whole job on it")
    demo.add_argument("--log-level", default="WARNING")
    demo.set_defaults(func=cmd_demo)

    es = sub.add_parser("es", help="manage the local Elasticsearch node")
    es.add_argument("action", choices=["start", "stop", "status"])
    es.add_argument("--port", type=int, help="HTTP port (default 9200, or a free one)")
    es.set_defaults(func=cmd_es)

    extract = sub.add_parser("extract", help="print the reviews the spider finds on one page (JSON lines)")
    extract.add_argument("source", help="a saved HTML file or an http(s) URL")
    extract.add_argument("--url", help="the page's original URL, for a saved file")
    extract.set_defaults(func=cmd_extract)

    sentiment = sub.add_parser("sentiment", help="sentiment model tools")
    sentiment_sub = sentiment.add_subparsers(dest="action", required=True)
    classify = sentiment_sub.add_parser("classify", help="classify one text per line (UTF-8)")
    classify.add_argument("--input", "-i", help="file with one text per line (default: stdin)")
    classify.add_argument("--config", "-c", help="take the model from this monitor config")
    classify.add_argument("--model", help="hub id or local directory (default: the offline model)")
    classify.set_defaults(func=cmd_sentiment)
    build = sentiment_sub.add_parser("build", help="build the offline default model (once)")
    build.set_defaults(func=cmd_sentiment)

    search = sub.add_parser("search", help="full-text search of the indexed reviews")
    search.add_argument("query")
    search.add_argument("--config", "-c", default=default_config)
    search.add_argument("--size", type=int, default=10)
    search.add_argument("--json", action="store_true", help="JSON lines instead of one line per review")
    search.set_defaults(func=cmd_search)

    config = sub.add_parser("config", help="validate a monitor config")
    config.add_argument("action", choices=["check"])
    config.add_argument("file")
    config.set_defaults(func=cmd_config)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
