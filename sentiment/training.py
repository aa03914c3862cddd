"""Refit the linear head on the team's corrections and labelled data; switch only if it is not worse.

One example in five (by a hash of its text) is held out. The current head and the new one are
scored on the same held-out embeddings, each with its own per-language calibration (the new head's
fitted like the default's, on out-of-fold logits), so the comparison is of the labels users get. The
category heads are refitted on the team's category corrections the same way (they are the team's word:
always used, the held-out comparison is reported).
"""
from __future__ import annotations

import hashlib
from datetime import datetime, timezone

from foundations.language import detect_language
from sentiment.calibration import Calibration
from sentiment.categories import CategoryRow, embed_cached, encoder_digest, keep_team_rows, load_heads, scores, \
    shipped_rows
from sentiment.datasets import Row
from sentiment.default_model import embed_all, fit_calibrated_head, read_labelled
from sentiment.model import LABELS, HeadClassifier
from sentiment.model_store import CURRENT_POINTER, save_head, trained_models_dir, written_data

HOLDOUT_SHARE = 5
MIN_HELDOUT = 10


class TrainingError(ValueError):
    pass


def is_held_out(text: str) -> bool:
    return int(hashlib.sha1(f"holdout:{text}".encode("utf-8")).hexdigest()[:8], 16) % HOLDOUT_SHARE == 0


def split_held_out(rows: list[Row]) -> tuple[list[Row], list[Row]]:
    """(training, held out); too few held out to judge a new model by is a TrainingError."""
    held_out = [row for row in rows if is_held_out(row.text)]
    if len(held_out) < MIN_HELDOUT:
        raise TrainingError(f"{len(rows)} labelled examples give {len(held_out)} held out; at least "
                            f"{MIN_HELDOUT} are needed to tell whether a new model is better "
                            f"(about {MIN_HELDOUT * HOLDOUT_SHARE} examples: corrections plus --data)")
    return [row for row in rows if not is_held_out(row.text)], held_out


def row_languages(rows: list[Row]) -> list[str | None]:
    return [row.language or detect_language(row.text) for row in rows]


def accuracy(logits, targets: list[int], calibration: Calibration, languages: list[str | None]) -> float:
    """Share of `targets` the calibrated labels of `logits` get right."""
    import torch
    probabilities = torch.softmax(logits.float(), dim=-1).tolist()
    predicted = [max(range(len(LABELS)), key=calibrated.__getitem__)
                 for calibrated in (calibration.apply(p, list(LABELS), language)
                                    for p, language in zip(probabilities, languages))]
    return round(sum(p == t for p, t in zip(predicted, targets)) / len(targets), 4)


def training_set(rows: list[Row], written_limit: int | None = None) -> tuple[list[str], list[int], list[str | None]]:
    """The written examples (at most `written_limit` of them, a fixed sample) plus `rows`: texts, label indices,
    languages."""
    written = list(zip(*read_labelled(written_data())))
    if written_limit is not None:
        written = sorted(written, key=lambda example: hashlib.sha1(example[0].encode("utf-8")).digest())
        written = written[:written_limit]
    return ([text for text, _, _ in written] + [row.text for row in rows],
            [target for _, target, _ in written] + [LABELS.index(row.label) for row in rows],
            [language for _, _, language in written] + row_languages(rows))


def new_version(previous: str, texts: list[str], targets: list[int], recipe: str = "") -> str:
    digest = hashlib.sha1(f"{previous}{recipe}".encode())
    for text, target in zip(texts, targets):
        digest.update(f"{target}\x1f{text}\x1e".encode("utf-8"))
    return digest.hexdigest()[:10]


def switch_to(directory) -> None:
    (trained_models_dir() / CURRENT_POINTER).write_text(directory.name)


def train_head(classifier, rows: list[Row], log=print) -> dict:
    """Fit a head on the written examples plus rows (minus the held-out share); a summary dict."""
    if not isinstance(classifier, HeadClassifier):
        raise TrainingError(f"`sentiment train` refits the linear head of an encoder+head model; "
                            f"{classifier.name!r} is a sequence-classification model (fine-tune it with "
                            "transformers instead)")
    training, held_out = split_held_out(rows)
    texts, targets, languages = training_set(training)
    log(f"embedding {len(texts)} training and {len(held_out)} held-out examples...")
    held_embeddings = embed_all(classifier, [row.text for row in held_out])
    held_targets = [LABELS.index(row.label) for row in held_out]
    held_languages = row_languages(held_out)
    weight, bias, calibration = fit_calibrated_head(embed_all(classifier, texts), targets, texts, languages)
    before = accuracy(held_embeddings @ classifier.weight.cpu().T + classifier.bias.cpu(), held_targets,
                      classifier.calibration, held_languages)
    after = accuracy(held_embeddings @ weight.T + bias, held_targets, calibration, held_languages)
    version = new_version(classifier.version, texts, targets)
    summary = {"examples": len(rows), "trained_on": len(texts), "held_out": len(held_out),
               "accuracy_before": before, "accuracy_after": after, "model_before": classifier.version,
               "model_after": version, "switched": after >= before}
    if summary["switched"]:
        meta = {**classifier.meta, "version": version, "trained_at": datetime.now(timezone.utc).isoformat(),
                "trained_on": f"the written examples plus {len(training)} corrections and team-labelled examples",
                "held_out_accuracy": after, "previous_version": classifier.version,
                "calibration": calibration.by_language}
        files = {}
        if classifier.meta.get("tuned_layers"):  # a refit head keeps the fine-tuned encoder it was fitted on
            from safetensors.torch import load_file
            name = classifier.meta["tuned_layers"]["file"]
            files[name] = load_file(str(classifier.directory / name))
        directory = save_head(trained_models_dir() / f"{meta['name']}-{version}", meta, weight, bias, files)
        switch_to(directory)
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
