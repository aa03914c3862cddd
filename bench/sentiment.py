"""Sentiment (and categories and aspects) throughput on this machine's CPU cores, against the naive transformers
pipeline.

    python bench/sentiment.py [--per-language 150] [--shared ../shared]

Texts: the development split of the MARC review samples in ../shared (real review lengths),
ja, zh and en mixed. The baseline runs in the same process: a transformers feature-extraction
pipeline, batch size 1, fp32, with the same heads (sentiment and categories). Each configuration of the
offline default is timed over the same texts and reports texts/second, the ratio to the baseline, binary
and 3-class accuracy against the stars, and agreement with fp32 labels. The offline default scores
categories and aspects; "sentiment only" is the same model with its category heads detached.
"""
from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sentiment.datasets import read_rows  # noqa: E402
from sentiment.model import LABELS, load_classifier  # noqa: E402


def baseline_labels(classifier, texts: list[str]) -> list[dict]:
    """What a first attempt looks like: one text at a time through a transformers pipeline."""
    import torch
    from transformers import pipeline
    extractor = pipeline("feature-extraction", model=classifier.encoder.float(), tokenizer=classifier.tokenizer,
                         device="cpu", tokenize_kwargs={"truncation": True, "max_length": 512})
    results = []
    for text in texts:
        hidden = torch.tensor(extractor(classifier.prefix + text, batch_size=1)[0])
        pooled = torch.nn.functional.normalize(hidden.mean(0), dim=-1)
        scores = torch.softmax(pooled @ classifier.weight.T + classifier.bias, dim=-1).tolist()
        label = max(range(len(LABELS)), key=scores.__getitem__)
        categories = classifier.categories.predict(classifier.categories.probabilities(pooled[None], [text]), [None])
        results.append({"label": classifier.labels[label], "scores": dict(zip(classifier.labels, scores)),
                        "categories": sorted(categories[0])})
    return results


def without_categories(classifier):
    classifier.attach_categories(None)
    classifier.name += " (sentiment only)"
    return classifier


def int8_classifier():
    import torch
    classifier = load_classifier({"precision": "fp32"})
    classifier.encoder = torch.ao.quantization.quantize_dynamic(classifier.encoder, {torch.nn.Linear},
                                                                dtype=torch.qint8)
    classifier.name += " int8"
    return classifier


def accuracy(rows, results) -> tuple[float, float]:
    three = sum(r.label == p["label"] for r, p in zip(rows, results)) / len(rows)
    polar = [(r, p) for r, p in zip(rows, results) if r.label != "neutral"]
    binary = sum((p["scores"]["negative"] > p["scores"]["positive"]) == (r.label == "negative")
                 for r, p in polar) / len(polar)
    return binary, three


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-language", type=int, default=150)
    parser.add_argument("--shared", default=str(Path(__file__).resolve().parents[2] / "shared"))
    parser.add_argument("--rounds", type=int, default=1,
                        help="time every configuration this many times, in turn, and keep each one's best "
                             "(on a machine others use too)")
    args = parser.parse_args()
    rows = []
    for language in ("ja", "zh", "en"):
        path = Path(args.shared) / "data" / "sentiment" / "marc" / f"trainpool_{language}.csv"
        rows += read_rows(path, split="dev", limit=args.per_language)
    random.Random(0).shuffle(rows)
    texts = [row.text for row in rows]
    fp32 = load_classifier({"precision": "fp32"})
    lengths = sorted(len(fp32.tokenizer(text)["input_ids"]) for text in texts)
    print(f"{len(texts)} reviews (ja/zh/en), tokens p50 {lengths[len(lengths) // 2]}, "
          f"p90 {lengths[int(len(lengths) * 0.9)]}, max {lengths[-1]}; {os.cpu_count()} CPU cores")

    def timed(name, run):
        run(texts[:16])  # first call pays one-off set-up costs
        start = time.perf_counter()
        results = run(texts)
        return [name, len(texts) / (time.perf_counter() - start), results, run]

    runs = [timed("baseline: pipeline, batch 1, fp32", lambda t: baseline_labels(fp32, t)),
            timed("kuchikomi fp32 + categories, aspects", fp32.classify),
            timed("kuchikomi fp32, sentiment only",
                  without_categories(load_classifier({"precision": "fp32"})).classify)]
    bf16 = load_classifier({"precision": "bf16"})
    runs.append(timed("kuchikomi bf16 + categories, aspects", bf16.classify))
    auto = load_classifier({})
    runs.append(timed(f"kuchikomi default (auto = {str(auto.dtype).split('.')[-1]}) + categories, aspects",
                      auto.classify))
    runs.append(timed("kuchikomi int8 dynamic (not offered: see agreement)", int8_classifier().classify))

    for _ in range(args.rounds - 1):
        for entry in runs:
            start = time.perf_counter()
            entry[3](texts)
            entry[1] = max(entry[1], len(texts) / (time.perf_counter() - start))
    reference = runs[1][2]
    base_rate = runs[0][1]
    print(f"{'configuration':<52} {'texts/s':>8} {'x base':>7} {'binary':>7} {'3-class':>7} {'agree':>6}")
    for name, rate, results, _ in runs:
        binary, three = accuracy(rows, results)
        agree = sum(a["label"] == b["label"] for a, b in zip(results, reference)) / len(results)
        print(f"{name:<52} {rate:>8.1f} {rate / base_rate:>7.2f} {binary:>7.3f} {three:>7.3f} {agree:>6.3f}")
    with_categories, alone = runs[1][1], runs[2][1]
    print(f"classify fp32 with categories and aspects: {with_categories:.1f} texts/s = "
          f"{with_categories / base_rate:.2f}x the baseline ({base_rate:.1f}); sentiment only: {alone:.1f} texts/s = "
          f"{alone / base_rate:.2f}x; categories cost {100 * (1 - with_categories / alone):.0f}% of throughput")
    agree = sum(a.get("categories") == [c["name"] for c in sorted(b["categories"], key=lambda c: c["name"])]
                for a, b in zip(runs[0][2], runs[1][2])) / len(texts)
    print(f"review categories the same as the baseline's (same heads, one text at a time): {agree:.3f}")


if __name__ == "__main__":
    main()
