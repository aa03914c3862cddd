"""Accuracy, macro-F1 and confusion matrices per language, and the floors CI holds them to.

Three classes where the data has them (stars 1-2 negative, 3 neutral, 4-5 positive); binary
always, on the rows that are not neutral, deciding by the larger of the negative and positive
scores; on star-rated data, the share of 1-star reviews labelled negative. The labels are the
calibrated ones the model gives; the same scores without the per-language calibration are
reported beside them.
"""
from __future__ import annotations

from sentiment.calibration import describe
from sentiment.datasets import Row, has_neutral
from sentiment.model import LABELS

BINARY = ("negative", "positive")
ONE_STAR = "one_star_negative_recall"


def metrics(gold: list[str], predicted: list[str], labels: tuple[str, ...]) -> dict:
    confusion = [[sum(1 for g, p in zip(gold, predicted) if g == row and p == column) for column in labels]
                 for row in labels]
    f1s = []
    for i, _ in enumerate(labels):
        true_positive = confusion[i][i]
        predicted_count = sum(confusion[r][i] for r in range(len(labels)))
        gold_count = sum(confusion[i])
        precision = true_positive / predicted_count if predicted_count else 0.0
        recall = true_positive / gold_count if gold_count else 0.0
        f1s.append(2 * precision * recall / (precision + recall) if precision + recall else 0.0)
    return {"n": len(gold), "accuracy": round(sum(g == p for g, p in zip(gold, predicted)) / max(1, len(gold)), 4),
            "macro_f1": round(sum(f1s) / len(f1s), 4), "labels": list(labels), "confusion": confusion}


def evaluate(classifier, rows: list[Row]) -> dict[str, dict]:
    """{language: {"three_class": metrics or None, "binary": metrics, "one_star": {n, negative_recall} or None,
    "uncalibrated": the same three without the calibration, "calibration": its numbers or None}} for one data set."""
    raw = classifier.classify([row.text for row in rows], calibrated=False)
    calibration = classifier.calibration
    three_class = has_neutral(rows)
    report = {}
    for language in sorted({row.language or "unknown" for row in rows}):
        picked = [(row, result["scores"]) for row, result in zip(rows, raw) if (row.language or "unknown") == language]
        calibrated = [(row, dict(zip(LABELS, calibration.apply([scores[label] for label in LABELS], LABELS,
                                                                 row.language))))
                      for row, scores in picked]
        report[language] = {**_scores(calibrated, three_class), "uncalibrated": _scores(picked, three_class),
                            "calibration": calibration.by_language.get(language)}
    return report


def _scores(picked: list[tuple[Row, dict]], three_class: bool) -> dict:
    def label(scores: dict) -> str:
        return max(LABELS, key=scores.get)
    entry = {"three_class": metrics([r.label for r, _ in picked], [label(s) for _, s in picked], LABELS)
             if three_class else None}
    polar = [(row, scores) for row, scores in picked if row.label != "neutral"]
    entry["binary"] = metrics(
        [r.label for r, _ in polar],
        ["negative" if s["negative"] > s["positive"] else "positive" for _, s in polar], BINARY)
    one_star = [label(scores) == "negative" for row, scores in picked if row.stars == 1]
    entry["one_star"] = {"n": len(one_star), "negative_recall": round(sum(one_star) / len(one_star), 4)} \
        if one_star else None
    return entry


def format_report(name: str, report: dict[str, dict]) -> str:
    lines = [f"== {name}"]
    for language, entry in report.items():
        for kind in ("three_class", "binary"):
            scores = entry[kind]
            if not scores or not scores["n"]:
                continue
            title = "3-class" if kind == "three_class" else "binary"
            lines.append(f"  {language:<4} {title:<8} n={scores['n']:<5} accuracy {scores['accuracy']:.3f}  "
                         f"macro-F1 {scores['macro_f1']:.3f}")
            width = max(len(label) for label in scores["labels"]) + 2
            lines.append(" " * 18 + "gold \\ predicted  " + "".join(f"{label:>{width}}" for label in scores["labels"]))
            for label, row in zip(scores["labels"], scores["confusion"]):
                lines.append(" " * 18 + f"{label:<18}" + "".join(f"{count:>{width}}" for count in row))
        if entry["one_star"]:
            lines.append(f"  {language:<4} 1-star   n={entry['one_star']['n']:<5} labelled negative "
                         f"{entry['one_star']['negative_recall']:.3f}")
        if entry["calibration"]:
            lines.append(f"  {language:<4} calibration {describe(entry['calibration'])}; without -> with it: "
                         + ", ".join(f"{name} {before:.3f} -> {after:.3f}" for name, before, after in _changes(entry)))
    return "\n".join(lines)


def _changes(entry: dict) -> list[tuple[str, float, float]]:
    """(measure, uncalibrated, calibrated) for the measures this language has."""
    measures = [("3-class macro-F1", "three_class", "macro_f1"), ("3-class accuracy", "three_class", "accuracy"),
                ("binary accuracy", "binary", "accuracy"), ("1-star negative", "one_star", "negative_recall")]
    return [(name, entry["uncalibrated"][kind][key], entry[kind][key]) for name, kind, key in measures
            if entry[kind] and entry[kind].get("n")]


def below_floors(name: str, report: dict[str, dict], floors: dict) -> list[str]:
    """Floors are keyed "<data set>/<language>"; each names minimums for accuracy, macro_f1
    (three classes), binary_accuracy, binary_macro_f1 or one_star_negative_recall."""
    failures = []
    for key, minimums in floors.items():
        dataset, _, language = key.partition("/")
        if dataset != name:
            continue
        entry = report.get(language)
        if entry is None:
            failures.append(f"{key}: no rows in this language")
            continue
        for measure, floor in minimums.items():
            if measure == ONE_STAR:
                kind, metric = "one_star", "negative_recall"
            else:
                kind = "binary" if measure.startswith("binary_") else "three_class"
                metric = measure.removeprefix("binary_")
            scores = entry[kind]
            value = scores[metric] if scores else None
            if value is None or value < floor:
                failures.append(f"{key}: {measure} {value} is below its floor {floor}")
    return failures
