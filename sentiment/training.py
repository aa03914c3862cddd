"""Refit the linear head on the team's corrections and labelled data; switch only if it is not worse.

One example in five (by a hash of its text) is held out. The current head and the new one are
scored on the same held-out embeddings, so the comparison is like for like.
"""
from __future__ import annotations

import hashlib
from datetime import datetime, timezone

from sentiment.datasets import Row
from sentiment.default_model import embed_all, fit_head, read_labelled
from sentiment.model import LABELS, HeadClassifier
from sentiment.model_store import CURRENT_POINTER, SEED_DATA, save_head, trained_models_dir

HOLDOUT_SHARE = 5
MIN_HELDOUT = 10


class TrainingError(ValueError):
    pass


def is_held_out(text: str) -> bool:
    return int(hashlib.sha1(f"holdout:{text}".encode("utf-8")).hexdigest()[:8], 16) % HOLDOUT_SHARE == 0


def accuracy(embeddings, targets: list[int], weight, bias) -> float:
    predicted = (embeddings @ weight.T + bias).argmax(-1).tolist()
    return round(sum(p == t for p, t in zip(predicted, targets)) / len(targets), 4)


def train_head(classifier, rows: list[Row], log=print) -> dict:
    """Fit a head on the seed examples plus rows (minus the held-out share); a summary dict."""
    if not isinstance(classifier, HeadClassifier):
        raise TrainingError(f"`sentiment train` refits the linear head of an encoder+head model; "
                            f"{classifier.name!r} is a sequence-classification model (fine-tune it with "
                            "transformers instead)")
    held_out = [row for row in rows if is_held_out(row.text)]
    training = [row for row in rows if not is_held_out(row.text)]
    if len(held_out) < MIN_HELDOUT:
        raise TrainingError(f"{len(rows)} labelled examples give {len(held_out)} held out; at least "
                            f"{MIN_HELDOUT} are needed to tell whether a new head is better "
                            f"(about {MIN_HELDOUT * HOLDOUT_SHARE} examples: corrections plus --data)")
    seed_texts, seed_targets = read_labelled(SEED_DATA)
    texts = seed_texts + [row.text for row in training]
    targets = seed_targets + [LABELS.index(row.label) for row in training]
    log(f"embedding {len(texts)} training and {len(held_out)} held-out examples...")
    held_embeddings = embed_all(classifier, [row.text for row in held_out])
    held_targets = [LABELS.index(row.label) for row in held_out]
    weight, bias = fit_head(embed_all(classifier, texts), targets)
    before = accuracy(held_embeddings, held_targets, classifier.weight.cpu(), classifier.bias.cpu())
    after = accuracy(held_embeddings, held_targets, weight, bias)
    digest = hashlib.sha1(classifier.version.encode())
    for text, target in zip(texts, targets):
        digest.update(f"{target}\x1f{text}\x1e".encode("utf-8"))
    version = digest.hexdigest()[:10]
    summary = {"examples": len(rows), "trained_on": len(texts), "held_out": len(held_out),
               "accuracy_before": before, "accuracy_after": after, "model_before": classifier.version,
               "model_after": version, "switched": after >= before}
    if summary["switched"]:
        meta = {**classifier.meta, "version": version, "trained_at": datetime.now(timezone.utc).isoformat(),
                "trained_on": f"{SEED_DATA.name} plus {len(training)} corrections and team-labelled examples",
                "held_out_accuracy": after, "previous_version": classifier.version}
        directory = save_head(trained_models_dir() / f"{meta['name']}-{version}", meta, weight, bias)
        (trained_models_dir() / CURRENT_POINTER).write_text(directory.name)
        summary["directory"] = str(directory)
    return summary
