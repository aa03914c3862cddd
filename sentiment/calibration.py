"""Per-language calibration of the three-way decision: a temperature and a logit offset per class.

A linear head on a frozen encoder, trained on a few written examples, leans differently in each
language (a clear 1-star Japanese review often came out neutral). The numbers are fitted on
out-of-fold predictions of the written set, each example scored by a head that did not see it,
so they come from the project's own data only. They are applied to a text's class probabilities
by its language: softmax(log p / T + offset) is softmax(logits / T + offset) for one chunk's
probabilities. Languages without numbers are left as they are.
"""
from __future__ import annotations

import hashlib
import math

FOLDS = 5
# A language needs this many written examples (with every class among them) to be calibrated.
MIN_EXAMPLES = 30
# Pulls offsets towards 0 and the temperature towards 1 as strongly as this many examples would: the
# written set per language is small.
PRIOR_EXAMPLES = 3


class Calibration:
    """{language: {"temperature": T, "offsets": {label: offset}}}, as stored in head.json."""

    def __init__(self, by_language: dict | None = None):
        self.by_language = by_language or {}

    def __bool__(self) -> bool:
        return bool(self.by_language)

    def apply(self, probabilities: list[float], labels: list[str], language: str | None) -> list[float]:
        numbers = self.by_language.get(language or "")
        if not numbers:
            return probabilities
        temperature, offsets = numbers["temperature"], numbers["offsets"]
        logits = [math.log(max(p, 1e-12)) / temperature + offsets.get(label, 0.0)
                  for p, label in zip(probabilities, labels)]
        top = max(logits)
        exps = [math.exp(logit - top) for logit in logits]
        return [e / sum(exps) for e in exps]

    def describe(self, language: str) -> str:
        return describe(self.by_language.get(language))


def describe(numbers: dict | None) -> str:
    """One language's calibration in words."""
    if not numbers:
        return "none (not calibrated in this language)"
    offsets = " ".join(f"{label} {value:+.2f}" for label, value in numbers["offsets"].items())
    return f"temperature {numbers['temperature']:.2f}, offsets {offsets}"


def fold_of(text: str, folds: int = FOLDS) -> int:
    return int(hashlib.sha1(f"fold:{text}".encode("utf-8")).hexdigest()[:8], 16) % folds


def out_of_fold_logits(embeddings, targets: list[int], texts: list[str], fit, folds: int = FOLDS):
    """Each example's logits from a head `fit(embeddings, targets) -> (weight, bias)` trained on the other folds."""
    import torch
    logits = torch.zeros(len(texts), int(max(targets)) + 1)
    assigned = torch.tensor([fold_of(text, folds) for text in texts])
    for fold in range(folds):
        held = assigned == fold
        if not held.any():
            continue
        weight, bias = fit(embeddings[~held], [t for t, h in zip(targets, held.tolist()) if not h])
        logits[held] = embeddings[held] @ weight.T + bias
    return logits


def fit_calibration(logits, targets: list[int], languages: list[str | None], labels: list[str]) -> Calibration:
    """Per language, the temperature and offsets (neutral's fixed at 0) that minimise the cross-entropy of its
    out-of-fold logits. (Weighting the classes alike was tried: neutral, the hardest class in the written set, then
    gained everywhere, and 1- and 2-star reviews were called neutral more often, the opposite of the aim.)

    The temperature is 1 or more: the written examples are cleaner than crawled text, so they may soften the
    head's scores but not sharpen them (alert rules compare the scores with min_sentiment_score)."""
    import torch
    log_probabilities = torch.log_softmax(logits.float(), dim=-1)
    by_language = {}
    for language in sorted({language for language in languages if language}):
        picked = [i for i, lang in enumerate(languages) if lang == language]
        y = torch.tensor([targets[i] for i in picked])
        counts = torch.bincount(y, minlength=len(labels)).float()
        if len(picked) < MIN_EXAMPLES or (counts == 0).any():
            continue
        x = log_probabilities[picked]
        free = [k for k, label in enumerate(labels) if label != "neutral"]
        softening = torch.full((1,), 0.5, requires_grad=True)  # temperature = 1 + softening²
        free_offsets = torch.zeros(len(free), requires_grad=True)
        optimiser = torch.optim.LBFGS([softening, free_offsets], lr=0.5, max_iter=200, line_search_fn="strong_wolfe")

        def loss_fn():
            optimiser.zero_grad()
            offsets = torch.zeros(len(labels)).index_put((torch.tensor(free),), free_offsets)
            loss = torch.nn.functional.cross_entropy(x / (1 + softening ** 2) + offsets, y) \
                + PRIOR_EXAMPLES / len(picked) * ((free_offsets ** 2).sum() + (softening ** 2).sum())
            loss.backward()
            return loss

        optimiser.step(loss_fn)
        offsets = dict.fromkeys(labels, 0.0)
        for k, value in zip(free, free_offsets.tolist()):
            offsets[labels[k]] = round(value, 4)
        by_language[language] = {"temperature": round(1 + softening.item() ** 2, 4), "offsets": offsets,
                                 "examples": len(picked)}
    return Calibration(by_language)
