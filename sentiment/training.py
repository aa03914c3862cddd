"""Refit the linear head on the team's corrections and labelled data; switch only if it is not worse.

One example in five (by a hash of its text) is held out. The current head and the new one are
scored on the same held-out embeddings, so the comparison is like for like. The category heads are
refitted on the team's category corrections the same way (they are the team's word: always used,
the held-out comparison is reported).
"""
from __future__ import annotations

import hashlib
from datetime import datetime, timezone

from sentiment.categories import CategoryRow, embed_cached, encoder_digest, keep_team_rows, load_heads, scores, \
    shipped_rows
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


def train_categories(classifier, section: dict | None, stored: list[dict], log=print) -> dict:
    """Refit the category heads on the team's category corrections (minus the held-out share), keep those rows for
    later loads, and compare old and new heads on the held-out corrections and the written eval set."""
    if not isinstance(classifier, HeadClassifier) or classifier.categories is None:
        raise TrainingError("category heads need the encoder+head model (sentiment.model: default or a head "
                            "directory) and at least one category")
    rows = [CategoryRow(c["text"], c.get("language"), set(c["categories"])) for c in stored]
    held_out = [row for row in rows if is_held_out(row.text)]
    training = [row for row in rows if not is_held_out(row.text)]
    before = classifier.categories
    after = load_heads(classifier, section, training, log)
    keep_team_rows(training)
    micro_f1 = {}
    encoder = encoder_digest(classifier)
    for name, picked in (("held-out corrections", held_out), ("the written eval set", shipped_rows("eval"))):
        if picked:
            texts = [row.text for row in picked]
            embeddings = embed_cached(classifier, texts, encoder)
            micro_f1[f"{name} ({len(picked)})"] = tuple(
                scores([row.names for row in picked],
                       heads.predict(heads.probabilities(embeddings, texts), [row.language for row in picked]),
                       heads.names)["micro"]["f1"] for heads in (before, after))
    classifier.attach_categories(after)
    return {"trained_on": len(training), "held_out": len(held_out), "version_before": before.version,
            "version_after": after.version, "micro_f1": micro_f1}
