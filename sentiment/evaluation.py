"""Accuracy, macro-F1 and confusion matrices per language, and the floors CI holds them to.

Three classes where the data has them (stars 1-2 negative, 3 neutral, 4-5 positive); binary
always, on the rows that are not neutral, deciding by the larger of the negative and positive
scores.
"""
from __future__ import annotations

from sentiment.datasets import Row, has_neutral
from sentiment.model import LABELS

BINARY = ("negative", "positive")


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
    """{language: {"three_class": metrics or None, "binary": metrics}} for one data set."""
    results = classifier.classify([row.text for row in rows])
    three_class = has_neutral(rows)
    report = {}
    for language in sorted({row.language or "unknown" for row in rows}):
        picked = [(row, result) for row, result in zip(rows, results) if (row.language or "unknown") == language]
        entry = {"three_class": metrics([r.label for r, _ in picked], [p["label"] for _, p in picked], LABELS)
                 if three_class else None}
        polar = [(row, result) for row, result in picked if row.label != "neutral"]
        entry["binary"] = metrics(
            [r.label for r, _ in polar],
            ["negative" if p["scores"]["negative"] > p["scores"]["positive"] else "positive" for _, p in polar],
            BINARY)
        report[language] = entry
    return report


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
    return "\n".join(lines)


def below_floors(name: str, report: dict[str, dict], floors: dict) -> list[str]:
    """Floors are keyed "<data set>/<language>"; each names minimums for accuracy, macro_f1
    (three classes), binary_accuracy or binary_macro_f1."""
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
            kind = "binary" if measure.startswith("binary_") else "three_class"
            metric = measure.removeprefix("binary_")
            scores = entry[kind]
            value = scores[metric] if scores else None
            if value is None or value < floor:
                failures.append(f"{key}: {measure} {value} is below its floor {floor}")
    return failures
