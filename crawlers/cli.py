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


def _preflight_elasticsearch(es_config: dict, write: bool = True):
    from index.client import ElasticsearchUnavailable, connect, index_prefix
    from index.schema import SchemaError, ensure_reviews_index
    try:
        client = connect(es_config)
    except ElasticsearchUnavailable as exc:
        _fail(str(exc))
    if write:
        try:
            ensure_reviews_index(client, index_prefix(es_config))
        except SchemaError as exc:
            _fail(str(exc))
    return client


def cmd_crawl(args) -> None:
    from crawlers.run import run_crawl
    from crawlers.summary import print_summary
    monitor = _monitor(args.config)
    if args.source:
        for name in args.source:
            monitor.source(name)
    if args.loop:
        from crawlers.schedule import run_loop
        options = ["--log-level", args.log_level] + (["--refresh"] if args.refresh else [])
        try:
            run_loop(monitor, args.config, options, args.rounds, args.source, log=lambda m: print(m, flush=True))
        except KeyboardInterrupt:
            print("stopped", file=sys.stderr)
        return
    rendering = [s["name"] for s in monitor.sources if s.get("render") and (not args.source or s["name"] in args.source)]
    if rendering:
        from crawlers.run import browser_path
        if not Path(browser_path(monitor)).exists():
            _fail(f"sources {', '.join(rendering)} render pages in Chromium, and there is none at "
                  f"{browser_path(monitor)}: install Debian's chromium (apt-get install chromium) or set "
                  f"crawl.browser_path")
    client = _preflight_elasticsearch(monitor.elasticsearch)
    classifier = _classifier(monitor.sentiment)
    overrides = {"LOG_LEVEL": args.log_level}
    if args.refresh:
        overrides["HTTPCACHE_ENABLED"] = False  # fetch and process every page, changed or not
    stats = run_crawl(monitor, args.source, classifier, overrides)
    print_summary(monitor, stats, client)
    for line in _maintain(client, monitor):
        print(line)
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
    from crawlers.profile import ProfileError, load_profile
    try:
        profile = load_profile(args.profile) if args.profile else None
    except ProfileError as exc:
        _fail(str(exc))
    try:
        items, aggregate = extract_page(args.source, args.url, profile)
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
    if args.action == "correct":
        _correct_sentiment(args)
        return
    config = _monitor(args.config).sentiment if args.config else {}
    config = {**config, **{option: getattr(args, option) for option in ("model", "device", "precision")
                           if getattr(args, option)}}
    classifier = _classifier(config)
    if args.action == "eval":
        _evaluate_sentiment(classifier, args)
    elif args.action == "train":
        _train_sentiment(classifier, config, args)
    else:
        handle = open(args.input, encoding="utf-8") if args.input else sys.stdin
        with handle:
            texts = [line.rstrip("\n") for line in handle]
        for start in range(0, len(texts), 256):
            for result in classifier.classify(texts[start:start + 256]):
                print(json.dumps(result, ensure_ascii=False))


def _labelled_rows(paths: list[str], split: str, limit: int | None) -> dict[str, list]:
    from sentiment.datasets import DatasetError, read_rows
    try:
        return {Path(path).stem: read_rows(path, split, limit) for path in paths}
    except DatasetError as exc:
        _fail(str(exc))


def _evaluate_sentiment(classifier, args) -> None:
    from sentiment.evaluation import below_floors, evaluate, format_report
    floors = _floors(args.floors) if args.floors else {}
    failures, reports = [], {}
    for name, rows in _labelled_rows(args.data, args.split, args.limit).items():
        reports[name] = evaluate(classifier, rows)
        print(format_report(f"{name} ({len(rows)} rows, model {classifier.name} {classifier.version})",
                            reports[name]), flush=True)
        failures += below_floors(name, reports[name], floors)
    if args.json:
        Path(args.json).write_text(json.dumps(reports, indent=2))
    for failure in failures:
        print(f"FLOOR: {failure}", file=sys.stderr)
    if failures:
        sys.exit(1)


def _floors(path: str) -> dict:
    try:
        floors = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        _fail(f"{path}: cannot read the floors file: {exc}")
    if not isinstance(floors, dict) or not all(isinstance(v, dict) and all(isinstance(n, (int, float))
                                                                           for n in v.values())
                                               for v in floors.values()):
        _fail(f'{path}: floors must map "<data set>/<language>" to {{"binary_accuracy": 0.9, ...}}')
    return floors


def _train_sentiment(classifier, config: dict, args) -> None:
    from sentiment.datasets import Row
    from sentiment.training import TrainingError, train_head
    rows = [row for rows in _labelled_rows(args.data or [], args.split, args.limit).values() for row in rows]
    corrections = _corrections(_monitor(args.config).elasticsearch if args.config else {}, required=False)
    if corrections is not None:
        stored = corrections.all()
        rows += [Row(c["text"], c["label"], c.get("language"), "train") for c in stored if c.get("text")]
        print(f"{len(stored)} corrections from Elasticsearch", file=sys.stderr)
    if not rows:
        _fail("nothing to train on: no corrections stored and no --data given")
    try:
        summary = train_head(classifier, rows, log=lambda m: print(m, file=sys.stderr))
    except TrainingError as exc:
        _fail(str(exc))
    print(f"held-out accuracy ({summary['held_out']} examples): before {summary['accuracy_before']:.3f} "
          f"({summary['model_before']}), after {summary['accuracy_after']:.3f} ({summary['model_after']})")
    if not summary["switched"]:
        print("the new head is worse on held-out data; the current model stays in use")
    elif config.get("model", "default") == "default":
        print(f"switched the default model to {summary['model_after']} ({summary['directory']})")
    else:
        print(f"new head written to {summary['directory']}; set sentiment.model to it to use it")


def _corrections(es_config: dict, required: bool = True):
    from index.client import ElasticsearchUnavailable, connect, corrections_index, reviews_alias
    from index.schema import ensure_corrections_index
    from sentiment.corrections import Corrections
    try:
        client = connect(es_config)
    except ElasticsearchUnavailable as exc:
        if required:
            _fail(str(exc))
        print(f"kuchikomi: corrections not read: {exc}", file=sys.stderr)
        return None
    ensure_corrections_index(client, corrections_index(es_config))
    return Corrections(client, corrections_index(es_config), reviews_alias(es_config))


def _correct_sentiment(args) -> None:
    """Relabel one review now; if the new label makes it alert-worthy, alert now."""
    from alerts.dispatch import utc_now
    from sentiment.corrections import CorrectionError
    monitor = _monitor(args.config)
    corrections = _corrections(monitor.elasticsearch)
    try:
        correction, review = corrections.record(args.doc_id, args.label, utc_now(), args.by, args.note)
    except CorrectionError as exc:
        _fail(str(exc))
    print(f"{args.doc_id}: {correction['model_label']} -> {args.label}")
    if monitor.alerts.get("rules"):
        dispatcher = _dispatcher(monitor)
        claims = [claim for claim in map(dispatcher.submit, dispatcher.evaluate(review)) if claim]
        counts = dispatcher.deliver_claimed(claims)
        print(f"{len(claims)} new alerts; delivered {counts['delivered']}, failed {counts['failed']}")


def _filters(args):
    from index.search import Filters
    return Filters(args.query or "", args.brand or [], args.sentiment or [], args.language or [], args.site or [],
                   args.min_rating, args.max_rating, args.since, args.until)


def _research(args):
    """The client, the alias and the configured brand names for search, report and export."""
    from index.client import reviews_alias
    from index.query import BrandNames
    monitor = _monitor(args.config)
    client = _preflight_elasticsearch(monitor.elasticsearch, write=False)
    return client, reviews_alias(monitor.elasticsearch), BrandNames(monitor.brands)


def _query_errors(run):
    from elasticsearch.exceptions import NotFoundError, RequestError
    from index.query import QuerySyntaxError
    try:
        return run()
    except QuerySyntaxError as exc:
        _fail(str(exc))
    except NotFoundError:
        _fail("there is no reviews index yet: run `kuchikomi crawl` first")
    except RequestError as exc:
        _fail(f"Elasticsearch rejected the query: {exc.error}")


def cmd_search(args) -> None:
    from index.export import write_csv
    from index.search import search
    client, alias, brands = _research(args)
    filters = _filters(args)
    seen = {"total": 0, "shown": 0, "next": None}

    def hits():
        after = args.after
        while True:
            page = _query_errors(lambda: search(client, alias, filters, brands, args.size, args.sort, after))
            seen.update(total=page.total, next=page.next_cursor, shown=seen["shown"] + len(page.hits))
            yield from page.hits
            if not (args.all and page.next_cursor):
                return
            after = page.next_cursor

    if args.format == "csv":
        write_csv(hits(), sys.stdout)
    else:
        for hit in hits():
            print(json.dumps(hit, ensure_ascii=False) if args.format == "jsonl" else _search_line(hit))
    print(f"{seen['total']} matching reviews, {seen['shown']} shown"
          + (f"; next page: --after {seen['next']}" if seen["next"] and not args.all else ""), file=sys.stderr)


def _search_line(hit: dict) -> str:
    from alerts.message import plain
    from alerts.rules.base import excerpt
    sentiment = hit.get("sentiment") or {}
    rating = hit.get("rating") or {}
    stars = f"{rating['value']:g}/{rating['best']:g}" if rating.get("value") is not None else "-"
    return (f"[{sentiment.get('label', '-')} {sentiment.get('score', 0):.2f}] rating {stars} | "
            f"{plain(', '.join(hit.get('brands') or []) or '-')} | {plain(hit.get('site'))} | "
            f"{plain((hit.get('date') or hit.get('published_at') or '-')[:10])} | {plain(hit.get('title') or '')}: "
            f"{plain(excerpt(hit.get('body'), 120))} | {plain(hit.get('review_url') or hit.get('source_url'))}")


def _width(text: str) -> int:
    import unicodedata
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _table(columns: list[str], rows: list[dict]) -> str:
    """A plain text table whose columns line up with Japanese and Chinese text too."""
    from alerts.message import one_line
    cells = [[one_line("" if row.get(c) is None else f"{row[c]:g}" if isinstance(row[c], float) else str(row[c]))
              for c in columns] for row in rows]
    widths = [max([_width(c)] + [_width(r[i]) for r in cells]) for i, c in enumerate(columns)]
    lines = ["  ".join(c + " " * (w - _width(c)) for c, w in zip(columns, widths)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(v + " " * (w - _width(v)) for v, w in zip(row, widths)) for row in cells]
    return "\n".join(lines)


def cmd_report(args) -> None:
    from index.charts import write_chart, write_csv
    from index.report import REPORTS
    client, alias, brands = _research(args)
    filters = _filters(args)
    names = list(REPORTS) if not args.reports or "all" in args.reports else args.reports
    unknown = [name for name in names if name not in REPORTS]
    if unknown:
        _fail(f"no report named {unknown[0]!r} (reports: {', '.join(REPORTS)})")
    out = Path(args.out) if args.out else None
    if out:
        out.mkdir(parents=True, exist_ok=True)
    for name in names:
        options = {"interval": args.interval} if name in ("mentions", "rating_trend") else {}
        report = _query_errors(lambda: REPORTS[name](client, alias, filters, brands, top=args.top, **options))
        print(f"\n{report.title}\n{_table(report.columns, report.rows) if report.rows else '(no reviews match)'}")
        if out:
            write_csv(report, out / f"{name}.csv")
            write_chart(report, out / f"{name}.png")
    if out:
        print(f"\nCSV and PNG files in {out}", file=sys.stderr)


def cmd_export(args) -> None:
    from index.export import write_csv, write_jsonl, write_parquet
    from index.search import iter_documents
    client, alias, brands = _research(args)
    docs = iter_documents(client, alias, _filters(args), brands)
    if args.format == "parquet":
        if args.output == "-":
            _fail("parquet needs a file: give --output FILE")
        count = _query_errors(lambda: write_parquet(docs, args.output))
    else:
        writer = write_jsonl if args.format == "jsonl" else write_csv
        if args.output == "-":
            count = _query_errors(lambda: writer(docs, sys.stdout))
        else:
            with open(args.output, "w", encoding="utf-8", newline="") as handle:
                count = _query_errors(lambda: writer(docs, handle))
    print(f"exported {count} reviews" + (f" to {args.output}" if args.output != "-" else ""), file=sys.stderr)


def _maintain(client, monitor) -> list[str]:
    """Rollover and retention as configured; lines saying what was done."""
    from index.client import index_prefix
    from index.schema import apply_retention, rollover
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


def cmd_index(args) -> None:
    import time
    from index.client import index_prefix
    from index.schema import SchemaError, describe, migrate, rollover
    monitor = _monitor(args.config)
    client = _preflight_elasticsearch(monitor.elasticsearch, write=False)
    prefix = index_prefix(monitor.elasticsearch)
    try:
        if args.action == "migrate":
            migrate(client, prefix, keep_old=args.keep_old, log=lambda m: print(m, file=sys.stderr))
        elif args.action == "rollover":
            new_index = rollover(client, prefix, monitor.elasticsearch.get("rollover"), force=args.force)
            print(f"rolled over to {new_index}" if new_index else
                  "no rollover condition is met (configure elasticsearch.rollover, or use --force)")
        elif args.action == "maintain":
            while True:
                for line in _maintain(client, monitor) or ["nothing to do"]:
                    print(line, flush=True)
                if not args.every:
                    break
                time.sleep(args.every)
        else:
            rows = describe(client, prefix)
            print(_table(["index", "schema_version", "write", "documents", "size_bytes"], rows) if rows
                  else f"no reviews index yet (prefix {prefix})")
    except SchemaError as exc:
        _fail(str(exc))


def cmd_api(args) -> None:
    import uvicorn
    from index.api import create_app
    monitor = _monitor(args.config)
    try:
        app = create_app(monitor)
    except ValueError as exc:
        _fail(str(exc))
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level.lower())


def _dispatcher(monitor):
    from alerts.dispatch import AlertDispatcher
    from alerts.state import DeliveryState
    from index.client import alerts_index, reviews_alias
    client = _preflight_elasticsearch(monitor.elasticsearch)
    state = DeliveryState(client, alerts_index(monitor.elasticsearch))
    return AlertDispatcher(monitor.alerts, state, base_dir=monitor.path.parent, client=client,
                           reviews_index=reviews_alias(monitor.elasticsearch))


def _alert_line(record: dict) -> str:
    from alerts.message import one_line
    alert = record["alert"]
    latency = f"{record['latency_ms'] / 1000:.1f}s" if record.get("latency_ms") is not None else "-"
    status = record["status"] + (" (acknowledged)" if record.get("acknowledged") else "")
    when = (record.get("delivered_at") or record.get("due_at") or record["created_at"])[:19]
    line = (f"{record['alert_id'][:12]}  {status:<10} {when}  latency {latency:>6}  {one_line(record['rule'])}: "
            f"{one_line(alert.get('headline') or alert.get('title'))} | {one_line(alert.get('url') or '')}")
    if record.get("error") and record["status"] != "delivered":
        line += f"\n    attempts {record.get('attempts', 0)}, last error: {one_line(record['error'])[:300]}"
    return line


def cmd_alerts(args) -> None:
    from alerts.dispatch import utc_now
    from alerts.state import DEAD, FAILED
    monitor = _monitor(args.config)
    dispatcher = _dispatcher(monitor)
    state = dispatcher.state
    if args.action == "list":
        statuses = [FAILED, DEAD] if args.failed else ([args.status] if args.status else None)
        records = state.list(statuses, args.rule, args.limit)
        for record in records:
            print(json.dumps(record, ensure_ascii=False) if args.json else _alert_line(record))
        print(f"{len(records)} alerts shown; by status: {state.counts()}", file=sys.stderr)
    elif args.action == "retry":
        ids = [_record(state, alert_id)["alert_id"] for alert_id in args.alert_ids] or \
            [record["alert_id"] for record in state.list([FAILED, DEAD], limit=10000)]
        state.requeue(ids, utc_now())
        counts = dispatcher.deliver_due()
        print(f"{len(ids)} alerts queued again: {counts['delivered']} delivered, "
              f"{counts['failed'] + counts['dead']} failed")
        if counts["failed"] + counts["dead"]:
            sys.exit(1)
    elif args.action == "ack":
        for alert_id in args.alert_ids:
            record = _record(state, alert_id)
            state.acknowledge(record["alert_id"], args.by, utc_now())
            print(f"acknowledged {record['alert_id'][:12]}: {record['alert'].get('headline')}")
    elif args.action == "test":
        if args.rule_name not in dispatcher.rules:
            _fail(f"no alert rule named {args.rule_name!r} (rules: {', '.join(dispatcher.rules) or 'none'})")
        results = dispatcher.send_test(args.rule_name)
        for channel, result in results.items():
            print(f"{channel}: {result}")
        if any(result != "delivered" for result in results.values()):
            sys.exit(1)
    else:
        _run_alerts(dispatcher, args.every)


def _record(state, alert_id: str) -> dict:
    record = state.find(alert_id)
    if record is None:
        _fail(f"no alert with id {alert_id!r} (see `kuchikomi alerts list`)")
    return record


def _run_alerts(dispatcher, every: float | None) -> None:
    """Scheduled rules and due deliveries, once or every N seconds (for cron or a service)."""
    import time
    while True:
        claims = [claim for claim in map(dispatcher.submit, dispatcher.run_scheduled()) if claim]
        counts = dispatcher.deliver_claimed(claims)
        for key, value in dispatcher.deliver_due().items():
            counts[key] += value
        print(f"{len(claims)} new scheduled alerts; delivered {counts['delivered']}, failed {counts['failed']}, "
              f"dead {counts['dead']}", flush=True)
        if not every:
            return
        time.sleep(every)


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
    crawl.add_argument("--loop", action="store_true",
                       help="keep crawling: each source again when its `every` (default crawl.every, 1h) has passed")
    crawl.add_argument("--rounds", type=int, help="with --loop: stop after this many rounds")
    crawl.add_argument("--refresh", action="store_true",
                       help="process every page again, even unchanged ones (after changing brands or model)")
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
    extract.add_argument("--profile", help="read the page with this site profile (a shipped name or a YAML file)")
    extract.set_defaults(func=cmd_extract)

    sentiment = sub.add_parser("sentiment", help="sentiment model tools")
    sentiment_sub = sentiment.add_subparsers(dest="action", required=True)
    model_options = argparse.ArgumentParser(add_help=False)
    model_options.add_argument("--config", "-c", help="take the model settings from this monitor config")
    model_options.add_argument("--model", help="hub id or local directory (default: the offline model)")
    model_options.add_argument("--device", help="auto, cpu, cuda, cuda:N")
    model_options.add_argument("--precision", choices=["auto", "fp32", "bf16"])
    classify = sentiment_sub.add_parser("classify", parents=[model_options],
                                        help="classify one text per line (UTF-8); one JSON line each")
    classify.add_argument("--input", "-i", help="file with one text per line (default: stdin)")
    classify.set_defaults(func=cmd_sentiment)
    build = sentiment_sub.add_parser("build", help="build the offline default model (once)")
    build.set_defaults(func=cmd_sentiment)
    labelled = argparse.ArgumentParser(add_help=False)
    labelled.add_argument("--split", choices=["dev", "train", "all"], default="all",
                          help="rows of this split only (a split column, else one text in ten by hash is dev)")
    labelled.add_argument("--limit", type=int, help="at most this many rows per file")
    evaluation = sentiment_sub.add_parser(
        "eval", parents=[model_options, labelled],
        help="accuracy, macro-F1 and confusion matrices per language on labelled data")
    evaluation.add_argument("--data", action="append", required=True, help="CSV/TSV file (repeatable)")
    evaluation.add_argument("--floors", help="JSON of minimum scores; exit 1 when one is not reached")
    evaluation.add_argument("--json", help="also write the scores to this JSON file")
    evaluation.set_defaults(func=cmd_sentiment)
    train = sentiment_sub.add_parser(
        "train", parents=[model_options, labelled],
        help="refit the head on corrections plus --data; switch only if held-out accuracy is not worse")
    train.add_argument("--data", action="append", help="labelled CSV/TSV file (repeatable)")
    train.set_defaults(func=cmd_sentiment)
    correct = sentiment_sub.add_parser("correct", help="set a review's sentiment by hand (used at once)")
    correct.add_argument("doc_id", help="the review's id (doc_id in `kuchikomi search --json`)")
    correct.add_argument("label", choices=["negative", "neutral", "positive"])
    correct.add_argument("--config", "-c", default=default_config)
    correct.add_argument("--by", help="who made the correction")
    correct.add_argument("--note")
    correct.set_defaults(func=cmd_sentiment)

    research = argparse.ArgumentParser(add_help=False)
    research.add_argument("--config", "-c", default=default_config, help="monitor config (YAML)")
    research.add_argument("--brand", action="append", help="only reviews of this brand (repeatable)")
    research.add_argument("--sentiment", action="append", choices=["negative", "neutral", "positive"])
    research.add_argument("--language", action="append", help="ja, zh, en, ... (repeatable)")
    research.add_argument("--site", action="append", help="host name, e.g. www.example.com (repeatable)")
    research.add_argument("--min-rating", type=float, help="at least this many stars (1-5)")
    research.add_argument("--max-rating", type=float, help="at most this many stars (1-5)")
    research.add_argument("--since", help="2024-05-01, 2024-05, an ISO time, or 30d/12h/8w/6m/1y (ago)")
    research.add_argument("--until", help="up to and including this date (same forms)")
    search = sub.add_parser("search", parents=[research], help="search the indexed reviews",
                            description='Query syntax: words, "exact phrases", a OR b, -excluded, field:value '
                                        "(title, body, item, author, brand, site, lang, sentiment, "
                                        "rating:>=4). Terms are ANDed.")
    search.add_argument("query", nargs="?", default="")
    search.add_argument("--size", type=int, default=10, help="reviews per page (at most 1000)")
    search.add_argument("--sort", choices=["relevance", "newest", "oldest"], default="relevance")
    search.add_argument("--after", help="the cursor printed after a page: the next page")
    search.add_argument("--all", action="store_true", help="every matching review, page after page")
    search.add_argument("--format", choices=["table", "jsonl", "csv"], default="table")
    search.set_defaults(func=cmd_search)

    report = sub.add_parser("report", parents=[research], help="trend reports as tables, CSV and PNG charts")
    report.add_argument("reports", nargs="*", help="mentions, share_of_voice, top_sites, rating_trend, "
                                                   "significant_terms (default: all)")
    report.add_argument("--query", "-q", help="only reviews matching this search")
    report.add_argument("--interval", choices=["day", "week", "month"], default="week")
    report.add_argument("--top", type=int, default=10, help="brands, sites or terms shown")
    report.add_argument("--out", help="write <report>.csv and <report>.png into this folder")
    report.set_defaults(func=cmd_report)

    export = sub.add_parser("export", parents=[research], help="matching reviews as JSON lines, CSV or Parquet")
    export.add_argument("--query", "-q", help="only reviews matching this search")
    export.add_argument("--format", choices=["jsonl", "csv", "parquet"], default="jsonl")
    export.add_argument("--output", "-o", default="-", help="file (default: standard output)")
    export.set_defaults(func=cmd_export)

    index = sub.add_parser("index", help="the reviews index: status, migrate, rollover, maintain")
    index.add_argument("action", choices=["status", "migrate", "rollover", "maintain"])
    index.add_argument("--config", "-c", default=default_config)
    index.add_argument("--keep-old", action="store_true", help="migrate: keep the old indices")
    index.add_argument("--force", action="store_true", help="rollover: even if no condition is met")
    index.add_argument("--every", type=float, help="maintain: repeat every N seconds")
    index.set_defaults(func=cmd_index)

    api = sub.add_parser("api", help="serve the read-only JSON API (OpenAPI at /openapi.json)")
    api.add_argument("--config", "-c", default=default_config)
    api.add_argument("--host", default="127.0.0.1")
    api.add_argument("--port", type=int, default=8000)
    api.add_argument("--log-level", default="INFO")
    api.set_defaults(func=cmd_api)

    alerts = sub.add_parser("alerts", help="alert delivery: list, retry, acknowledge, test, run")
    with_config = argparse.ArgumentParser(add_help=False)
    with_config.add_argument("--config", "-c", default=default_config, help="monitor config (YAML)")
    alerts_sub = alerts.add_subparsers(dest="action", required=True)
    listing = alerts_sub.add_parser("list", parents=[with_config],
                                 help="recent alerts with their delivery status")
    listing.add_argument("--failed", action="store_true", help="only failed and dead-letter alerts")
    listing.add_argument("--status", choices=["pending", "sending", "delivered", "failed", "dead"])
    listing.add_argument("--rule")
    listing.add_argument("--limit", type=int, default=50)
    listing.add_argument("--json", action="store_true")
    retry = alerts_sub.add_parser("retry", parents=[with_config],
                                 help="send failed and dead-letter alerts again")
    retry.add_argument("alert_ids", nargs="*", help="ids or id prefixes (default: all failed)")
    ack = alerts_sub.add_parser("ack", parents=[with_config],
                                 help="acknowledge alerts (handled; never sent again)")
    ack.add_argument("alert_ids", nargs="+")
    ack.add_argument("--by", default=os.environ.get("USER", "unknown"))
    test = alerts_sub.add_parser("test", parents=[with_config],
                                 help="send a sample alert to a rule's channels")
    test.add_argument("rule_name")
    run = alerts_sub.add_parser("run", parents=[with_config],
                                 help="run scheduled rules (spike, digest) and send due alerts")
    run.add_argument("--every", type=float, help="repeat every N seconds")
    alerts.set_defaults(func=cmd_alerts)

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
