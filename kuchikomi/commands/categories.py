"""`kuchikomi categories list|eval|correct`: the categories and intents scored beside sentiment."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from kuchikomi.commands import alert_dispatcher, fail, load_classifier, load_monitor, model_config, model_options, \
    table, team_corrections


def add_parser(sub, default_config: str):
    categories = sub.add_parser("categories", help="categories and intents (complaint, question, ...)")
    actions = categories.add_subparsers(dest="action", required=True)
    model = model_options()
    actions.add_parser("list", parents=[model], help="the categories in use: languages, examples, thresholds")
    evaluation = actions.add_parser(
        "eval", parents=[model], help="precision, recall and F1 per category and language on labelled data")
    evaluation.add_argument("--data", action="append",
                            help="TSV with the columns categories and text (repeatable; default: the shipped "
                                 "held-out sentiment/data/categories/eval_*.tsv)")
    evaluation.add_argument("--floors", help="JSON of minimum scores; exit 1 when one is not reached")
    evaluation.add_argument("--json", help="also write the scores to this JSON file")
    correct = actions.add_parser("correct", help="add or remove a review's categories by hand (used at once)")
    correct.add_argument("doc_id", help="the review's id (doc_id in `kuchikomi search --json`)")
    correct.add_argument("--add", action="append", default=[], metavar="NAME", help="a category it has")
    correct.add_argument("--remove", action="append", default=[], metavar="NAME", help="a category it has not")
    correct.add_argument("--config", "-c", default=default_config)
    correct.add_argument("--by", help="who made the correction")
    return categories


def run(args) -> None:
    if args.action == "correct":
        _correct(args)
        return
    config = model_config(args)
    if args.action == "eval":
        # Bad floors or data are told at once, before the model takes seconds to load.
        floors = _floors(args.floors) if args.floors else {}
        _readable(args.data or [])
    classifier = _categorising(load_classifier(config))
    if args.action == "list":
        _list(classifier)
    else:
        _evaluate(classifier, args.data, floors, args.json)


def _categorising(classifier):
    if getattr(classifier, "categories", None) is None:
        fail(f"the sentiment model {classifier.name!r} scores no categories: categories need the encoder+head "
             "model (sentiment.model: default, or a directory with head.json) and at least one category "
             "(categories.defaults, or categories.custom)")
    return classifier


def _list(classifier) -> None:
    heads = classifier.categories
    rows = []
    for k, category in enumerate(heads.categories):
        written = sum(len(texts) for texts in category.examples.values())
        trained = heads.meta["positives"].get(category.name, {})
        rows.append({"category": category.name, "languages": ", ".join(category.languages or ["all"]),
                     "examples": written, "training rows": ", ".join(f"{language} {count}" for language, count
                                                                     in sorted(trained.items())),
                     "keywords": sum(len(words) for words in category.keywords.values()),
                     "threshold": f"{heads.thresholds[k]:.2f} ({heads.meta['threshold_sources'][category.name]})",
                     "description": category.description})
    print(table(["category", "languages", "examples", "training rows", "keywords", "threshold", "description"],
                rows))
    print(f"\ncategory heads {heads.version} on model {classifier.name}", file=sys.stderr)


def _readable(paths: list[str]) -> None:
    for path in paths:
        if not Path(path).is_file():
            fail(f"{path}: no such file")


def _evaluate(classifier, paths: list[str] | None, floors: dict, json_path: str | None) -> None:
    from sentiment.categories import CATEGORY_DATA, CategoryError, below_floors, evaluate, format_report, \
        read_category_file
    paths = paths or [str(path) for path in sorted(CATEGORY_DATA.glob("eval_*.tsv"))]
    if not paths:
        fail(f"no --data given and no held-out files in {CATEGORY_DATA} (eval_<language>.tsv)")
    try:
        rows = [row for path in paths for row in read_category_file(path, set(classifier.categories.names))]
    except CategoryError as exc:
        fail(str(exc))
    report = evaluate(classifier, rows)
    print(format_report(f"{', '.join(Path(p).name for p in paths)} ({len(rows)} rows, model {classifier.name} "
                        f"{classifier.version})", report), flush=True)
    if json_path:
        Path(json_path).write_text(json.dumps(report, indent=2))
    failures = below_floors(report, floors)
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
        fail(f'{path}: floors must map a language (or "all") to {{"micro_f1": 0.6, "complaint_f1": 0.5, ...}}')
    return floors


def _correct(args) -> None:
    """Set a review's categories now; if that makes it alert-worthy, alert now."""
    from alerts.dispatch import utc_now
    from sentiment.categories import definitions
    from sentiment.corrections import CorrectionError
    if not args.add and not args.remove:
        fail("say what to change: --add NAME and/or --remove NAME")
    monitor = load_monitor(args.config)
    known = [category.name for category in definitions(monitor.sentiment.get("categories"))]
    corrections = team_corrections(monitor.elasticsearch)
    try:
        before, review = corrections.record_categories(args.doc_id, args.add, args.remove, known, utc_now(), args.by)
    except CorrectionError as exc:
        fail(str(exc))
    after = [entry["name"] for entry in review["categories"]]
    print(f"{args.doc_id}: {', '.join(before) or '(none)'} -> {', '.join(after) or '(none)'}")
    if monitor.alerts.get("rules"):
        new, counts = alert_dispatcher(monitor).alert_now(review)
        print(f"{new} new alerts; delivered {counts['delivered']}, failed {counts['failed']}")
