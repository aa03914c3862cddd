"""The `kuchikomi` commands, one module each (as Scrapy keeps scrapy/commands/). A command module has
`add_parser(subparsers, default_config)` and `run(args)`; what several commands need is here, once."""
from __future__ import annotations

import argparse
import sys
import unicodedata
from pathlib import Path

COMMANDS = ["crawl", "demo", "es", "extract", "sentiment", "categories", "search", "report", "export", "index", "api",
            "alerts", "config", "frontier", "web", "users"]
DEMO_CONFIG = Path(__file__).resolve().parents[1] / "demo_monitor.yaml"


class CommandError(Exception):
    """A failure the user can act on: printed as one line, and the process exits with `code`."""

    def __init__(self, message: str, code: int = 2):
        super().__init__(message)
        self.code = code


def fail(message: str, code: int = 2):
    raise CommandError(message, code)


def load_monitor(path: str):
    from kuchikomi.config import ConfigError, load_monitor as load
    try:
        return load(path)
    except ConfigError as exc:
        fail(str(exc))


def load_classifier(config: dict):
    from sentiment.model import SentimentModelError, load_classifier as load
    try:
        return load(config)
    except SentimentModelError as exc:
        fail(str(exc))


def model_options() -> argparse.ArgumentParser:
    """Which sentiment model a command loads (the categories are scored by it too)."""
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument("--config", "-c", help="take the model settings from this monitor config")
    options.add_argument("--model", help="hub id or local directory (default: the offline model)")
    options.add_argument("--device", help="auto, cpu, cuda, cuda:N")
    options.add_argument("--precision", choices=["auto", "fp32", "bf16"])
    return options


def model_config(args) -> dict:
    """The monitor's sentiment section (with its categories), the command line's model options on top."""
    config = load_monitor(args.config).sentiment if args.config else {}
    return {**config, **{option: getattr(args, option) for option in ("model", "device", "precision")
                         if getattr(args, option)}}


def connect_elasticsearch(es_config: dict, write: bool = True):
    """A checked client; with write, the reviews index exists (created or migrated) too."""
    from index.storage.client import ElasticsearchUnavailable, connect, index_prefix
    from index.storage.schema import SchemaError, ensure_reviews_index
    try:
        client = connect(es_config)
    except ElasticsearchUnavailable as exc:
        fail(str(exc))
    if write:
        try:
            ensure_reviews_index(client, index_prefix(es_config))
        except SchemaError as exc:
            fail(str(exc))
    return client


def team_corrections(es_config: dict, required: bool = True):
    """The team's corrections store (sentiment labels and categories); without `required`, None if unreachable."""
    from index.storage.client import ElasticsearchUnavailable, connect, corrections_index, reviews_alias
    from index.storage.schema import ensure_corrections_index
    from sentiment.corrections import Corrections
    try:
        client = connect(es_config)
    except ElasticsearchUnavailable as exc:
        if required:
            fail(str(exc))
        print(f"kuchikomi: corrections not read: {exc}", file=sys.stderr)
        return None
    ensure_corrections_index(client, corrections_index(es_config))
    return Corrections(client, corrections_index(es_config), reviews_alias(es_config))


def alert_dispatcher(monitor):
    from alerts.dispatch import AlertDispatcher
    from alerts.state import DeliveryState
    from index.storage.client import alerts_index, reviews_alias
    client = connect_elasticsearch(monitor.elasticsearch)
    state = DeliveryState(client, alerts_index(monitor.elasticsearch))
    return AlertDispatcher(monitor.alerts, state, base_dir=monitor.path.parent, client=client,
                           reviews_index=reviews_alias(monitor.elasticsearch))


def maintain_index(client, monitor) -> list[str]:
    """Rollover and retention as configured; lines saying what was done."""
    from index.storage.client import index_prefix
    from index.storage.schema import apply_retention, rollover
    es_config, done = monitor.elasticsearch, []
    prefix = index_prefix(es_config)
    new_index = rollover(client, prefix, es_config.get("rollover"))
    if new_index:
        done.append(f"rolled over to {new_index}")
    if es_config.get("retention_days"):
        result = apply_retention(client, prefix, es_config["retention_days"])
        if result["deleted_indices"] or result["deleted_documents"]:
            done.append(f"retention ({es_config['retention_days']:g} days, before {result['cutoff']}): deleted "
                        f"indices {', '.join(result['deleted_indices']) or 'none'}, "
                        f"{result['deleted_documents']} older documents")
    return done


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def table(columns: list[str], rows: list[dict]) -> str:
    """A plain text table whose columns line up with Japanese and Chinese text too."""
    from alerts.message import one_line
    cells = [[one_line("" if row.get(c) is None else f"{row[c]:g}" if isinstance(row[c], float) else str(row[c]))
              for c in columns] for row in rows]
    widths = [max([_width(c)] + [_width(r[i]) for r in cells]) for i, c in enumerate(columns)]
    lines = ["  ".join(c + " " * (w - _width(c)) for c, w in zip(columns, widths)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(v + " " * (w - _width(v)) for v, w in zip(row, widths)) for row in cells]
    return "\n".join(lines)


def research_options(default_config: str) -> argparse.ArgumentParser:
    """The filters search, report and export share."""
    research = argparse.ArgumentParser(add_help=False)
    research.add_argument("--config", "-c", default=default_config, help="monitor config (YAML)")
    research.add_argument("--brand", action="append", help="only reviews of this brand (repeatable)")
    research.add_argument("--sentiment", action="append", choices=["negative", "neutral", "positive"])
    research.add_argument("--language", action="append", help="ja, zh, en, ... (repeatable)")
    research.add_argument("--site", action="append", help="host name, e.g. www.example.com (repeatable)")
    research.add_argument("--category", action="append",
                          help="only reviews with this category, e.g. complaint, purchase_intent (repeatable)")
    research.add_argument("--min-rating", type=float, help="at least this many stars (1-5)")
    research.add_argument("--max-rating", type=float, help="at most this many stars (1-5)")
    research.add_argument("--since", help="2024-05-01, 2024-05, an ISO time, or 30d/12h/8w/6m/1y (ago)")
    research.add_argument("--until", help="up to and including this date (same forms)")
    return research


def research_filters(args):
    from index.research.search import Filters
    return Filters(args.query or "", args.brand or [], args.sentiment or [], args.language or [], args.site or [],
                   args.min_rating, args.max_rating, args.since, args.until, categories=args.category or [])


def research_target(args):
    """The client, the alias and the configured brand names for search, report and export."""
    from index.research.query import BrandNames
    from index.storage.client import reviews_alias
    monitor = load_monitor(args.config)
    client = connect_elasticsearch(monitor.elasticsearch, write=False)
    return client, reviews_alias(monitor.elasticsearch), BrandNames(monitor.brands)


def query_errors(run):
    """run(), with a bad query, a missing index or a rejected request as one line each."""
    from elasticsearch.exceptions import NotFoundError, RequestError

    from index.research.query import QuerySyntaxError
    try:
        return run()
    except QuerySyntaxError as exc:
        fail(str(exc))
    except NotFoundError:
        fail("there is no reviews index yet: run `kuchikomi crawl` first")
    except RequestError as exc:
        fail(f"Elasticsearch rejected the query: {exc.error}")


def server_options(parser, port: int) -> None:
    """Where a command that serves HTTP listens (the JSON API, the workspace)."""
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=port)
    parser.add_argument("--log-level", default="INFO")
