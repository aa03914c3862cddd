"""`kuchikomi sentiment classify|build|eval|train|correct`: the sentiment model and the team's corrections."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from kuchikomi.commands import alert_dispatcher, fail, load_classifier, load_monitor, model_config, model_options, \
    team_corrections


def add_parser(sub, default_config: str):
    sentiment = sub.add_parser("sentiment", help="sentiment model tools")
    sentiment_sub = sentiment.add_subparsers(dest="action", required=True)
    model = model_options()
    classify = sentiment_sub.add_parser("classify", parents=[model],
                                        help="classify one text per line (UTF-8); one JSON line each")
    classify.add_argument("--input", "-i", help="file with one text per line (default: stdin)")
    sentiment_sub.add_parser("build", help="build the offline default model and its category heads (once)")
    labelled = argparse.ArgumentParser(add_help=False)
    labelled.add_argument("--split", choices=["dev", "train", "all"], default="all",
                          help="rows of this split only (a split column, else one text in ten by hash is dev)")
    labelled.add_argument("--limit", type=int, help="at most this many rows per file")
    evaluation = sentiment_sub.add_parser(
        "eval", parents=[model, labelled],
        help="accuracy, macro-F1 and confusion matrices per language on labelled data")
    evaluation.add_argument("--data", action="append", required=True, help="CSV/TSV file (repeatable)")
    evaluation.add_argument("--floors", help="JSON of minimum scores; exit 1 when one is not reached")
    evaluation.add_argument("--json", help="also write the scores to this JSON file")
    train = sentiment_sub.add_parser(
        "train", parents=[model, labelled],
        help="refit the head (or --fine-tune the encoder's top layers too) on corrections plus --data; "
             "switch only if held-out accuracy is not worse; refit the category heads on the category corrections")
    train.add_argument("--data", action="append", help="labelled CSV/TSV file (repeatable)")
    train.add_argument("--from-index", action="store_true",
                       help="also learn from the star-rated reviews in the index (1-2 negative, 3 neutral, "
                            "4-5 positive)")
    train.add_argument("--fine-tune", action="store_true",
                       help="fine-tune the encoder's top --layers with the head (minutes; a GPU when present)")
    train.add_argument("--layers", type=int, default=4, help="encoder layers to fine-tune (default 4)")
    train.add_argument("--epochs", type=int, default=2, help="passes over the data when fine-tuning (default 2)")
    correct = sentiment_sub.add_parser("correct", help="set a review's sentiment by hand (used at once)")
    correct.add_argument("doc_id", help="the review's id (doc_id in `kuchikomi search --json`)")
    correct.add_argument("label", choices=["negative", "neutral", "positive"])
    correct.add_argument("--config", "-c", default=default_config)
    correct.add_argument("--by", help="who made the correction")
    correct.add_argument("--note")
    return sentiment


def run(args) -> None:
    if args.action == "build":
        from sentiment.default_model import build_default_model
        build_default_model(log=lambda m: print(m, file=sys.stderr))
        load_classifier({})  # fits the shipped category heads now, not at the first crawl
        return
    if args.action == "correct":
        _correct(args)
        return
    config = model_config(args)
    if args.action == "eval":
        # Bad floors or data are told at once, before the model takes seconds to load.
        floors = _floors(args.floors) if args.floors else {}
        data = _labelled_rows(args.data, args.split, args.limit)
        _evaluate(load_classifier(config), data, floors, args.json)
    elif args.action == "train":
        rows = [row for rows in _labelled_rows(args.data or [], args.split, args.limit).values() for row in rows]
        _train(load_classifier(config), config, rows, args)
    else:
        classifier = load_classifier(config)
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
        fail(str(exc))


def _evaluate(classifier, data: dict[str, list], floors: dict, json_path: str | None) -> None:
    from sentiment.evaluation import below_floors, evaluate, format_report
    failures, reports = [], {}
    for name, rows in data.items():
        reports[name] = evaluate(classifier, rows)
        print(format_report(f"{name} ({len(rows)} rows, model {classifier.name} {classifier.version})",
                            reports[name]), flush=True)
        failures += below_floors(name, reports[name], floors)
    if json_path:
        Path(json_path).write_text(json.dumps(reports, indent=2))
    for failure in failures:
        print(f"FLOOR: {failure}", file=sys.stderr)
    if failures:
        sys.exit(1)


def _floors(path: str) -> dict:
    try:
        floors = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        fail(f"{path}: cannot read the floors file: {exc}")
    if not isinstance(floors, dict) or not all(isinstance(v, dict) and all(isinstance(n, (int, float))
                                                                           for n in v.values())
                                               for v in floors.values()):
        fail(f'{path}: floors must map "<data set>/<language>" to {{"binary_accuracy": 0.9, ...}}')
    return floors


def _train(classifier, config: dict, rows: list, args) -> None:
    from sentiment.datasets import Row, rated_reviews
    from sentiment.fine_tune import fine_tune
    from sentiment.training import TrainingError, train_head
    es_config = load_monitor(args.config).elasticsearch if args.config else {}
    corrections = team_corrections(es_config, required=args.from_index)
    stored = corrections.all() if corrections is not None else []
    learned = []
    if corrections is not None:
        learned += [Row(c["text"], c["label"], c.get("language"), "train") for c in stored
                    if c.get("text") and c.get("label")]
        print(f"{len(stored)} corrections from Elasticsearch", file=sys.stderr)
        if args.from_index:
            rated = rated_reviews(corrections.client, corrections.reviews_index)
            print(f"{len(rated)} star-rated reviews from the index", file=sys.stderr)
            rows = rows + rated
    # A text labelled twice counts once: the team's correction first, then the data given.
    unique: dict[str, object] = {}
    for row in learned + rows:
        unique.setdefault(row.text, row)
    rows = list(unique.values())
    categorised = [c for c in stored if c.get("text") and "categories" in c]
    if not rows and not categorised:
        fail("nothing to train on: no corrections stored and no --data given")
    if categorised:
        _train_categories(classifier, config, categorised)
    if not rows:
        return

    def log(message: str) -> None:
        print(message, file=sys.stderr)
    try:
        if args.fine_tune:
            summary = fine_tune(classifier, rows, args.layers, args.epochs, log=log)
        else:
            summary = train_head(classifier, rows, log=log)
    except TrainingError as exc:
        fail(str(exc))
    print(f"held-out accuracy ({summary['held_out']} examples): before {summary['accuracy_before']:.3f} "
          f"({summary['model_before']}), after {summary['accuracy_after']:.3f} ({summary['model_after']})")
    if args.fine_tune:
        print(f"fine-tuned the top {summary['layers']} encoder layers for {summary['epochs']} epochs on "
              f"{summary['trained_on']} examples in {summary['seconds']:.0f} s ({summary['device']})")
    if not summary["switched"]:
        print("the new model is worse on held-out data; the current model stays in use")
    elif config.get("model", "default") == "default":
        print(f"switched the default model to {summary['model_after']} ({summary['directory']})")
    else:
        print(f"new head written to {summary['directory']}; set sentiment.model to it to use it")


def _train_categories(classifier, config: dict, stored: list[dict]) -> None:
    from sentiment.categories import CategoryError
    from sentiment.training import TrainingError, train_categories
    try:
        summary = train_categories(classifier, config.get("categories"), stored,
                                   log=lambda m: print(m, file=sys.stderr))
    except (TrainingError, CategoryError) as exc:
        fail(str(exc))
    print(f"category heads: {summary['trained_on']} category corrections learnt, {summary['held_out']} held out; "
          f"{summary['version_before']} -> {summary['version_after']}")
    for name, (before, after) in summary["micro_f1"].items():
        print(f"  category micro-F1 on {name}: before {before:.3f}, after {after:.3f}")


def _correct(args) -> None:
    """Relabel one review now; if the new label makes it alert-worthy, alert now."""
    from alerts.dispatch import utc_now
    from sentiment.corrections import CorrectionError
    monitor = load_monitor(args.config)
    corrections = team_corrections(monitor.elasticsearch)
    try:
        correction, review = corrections.record(args.doc_id, args.label, utc_now(), args.by, args.note)
    except CorrectionError as exc:
        fail(str(exc))
    print(f"{args.doc_id}: {correction['model_label']} -> {args.label}")
    if monitor.alerts.get("rules"):
        new, counts = alert_dispatcher(monitor).alert_now(review)
        print(f"{new} new alerts; delivered {counts['delivered']}, failed {counts['failed']}")
