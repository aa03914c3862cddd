"""Categories and intents of a mention (complaint, question, purchase_intent, ...): definitions, heads, evaluation.

Definitions are the shipped data/categories.yaml merged with a monitor's `categories:` section. Each category is
a one-vs-rest logistic head on the same normalised e5 embedding the sentiment head reads, so scoring costs no
second model run (sentiment.model pools the token states per review and per sentence and calls `probabilities`).

Heads are fitted on data/categories/train_*.tsv, the definitions' examples and the team's category corrections
(the share `kuchikomi sentiment train` keeps for training), and cached on disk under a digest of all of that and
of the encoder's weights: a crawl start loads them, it does not refit.

Thresholds: per category, the one that maximises F1 on 5-fold cross-validated scores of the training rows
(categories with fewer than MIN_TUNING_POSITIVES examples keep DEFAULT_THRESHOLD; a configured one wins).

Keywords: a text containing one of a category's keywords has its score lifted part of the way to 1,
p + (1 - p) * lift, where lift is how often a keyword match meant that category in the labelled rows
((matches with the category + 1) / (matches + 2)): a precise keyword lifts a lot, a vague one little.
"""
from __future__ import annotations

import csv
import hashlib
import json
import logging
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from foundations import paths
from foundations.language import detect_language
from foundations.terms import TermMatcher
from sentiment.linear import fit_linear

logger = logging.getLogger(__name__)

DEFINITIONS = Path(__file__).parent / "data" / "categories.yaml"
CATEGORY_DATA = Path(__file__).parent / "data" / "categories"
NAME = re.compile(r"^[a-z][a-z0-9_]*$")
RECIPE_VERSION = 1  # bump when fitting changes
DEFAULT_THRESHOLD = 0.5
MIN_TUNING_POSITIVES = 8
FOLDS = 5
THRESHOLD_GRID = [round(0.05 * step, 2) for step in range(4, 19)]  # 0.2 .. 0.9
MAX_ASPECTS = 12
MAX_SENTENCE_CHARS = 300
TEAM_CORRECTIONS = "category-corrections.json"


class CategoryError(ValueError):
    pass


@dataclass
class Category:
    name: str
    description: str = ""
    languages: list[str] | None = None  # None: every language
    examples: dict[str, list[str]] = field(default_factory=dict)
    keywords: dict[str, list[str]] = field(default_factory=dict)
    threshold: float | None = None  # configured; else tuned when fitted
    shipped: bool = False


@dataclass
class CategoryRow:
    """A text and the categories it has; `labelled` names the categories its labels speak for (the others are
    unknown, e.g. a definition's example says nothing about the other categories)."""
    text: str
    language: str | None
    names: set[str]
    labelled: set[str] | None = None  # None: every category


def shipped_definitions() -> list[Category]:
    raw = yaml.safe_load(DEFINITIONS.read_text(encoding="utf-8"))
    return [Category(name, entry.get("description", ""), entry.get("languages"), entry.get("examples", {}),
                     entry.get("keywords", {}), entry.get("threshold"), shipped=True)
            for name, entry in raw.items()]


def definitions(section: dict | None) -> list[Category]:
    """The categories in use: the shipped ones (unless `defaults: false`) merged with the config's `custom`.
    A custom entry named like a shipped category adds its examples and keywords (and may set languages and
    threshold); any other needs examples or keywords of its own."""
    section = section or {}
    chosen = {c.name: c for c in shipped_definitions()} if section.get("defaults", True) else {}
    for index, entry in enumerate(section.get("custom", [])):
        where = f"custom[{index}]"
        name = entry["name"]
        if not NAME.match(name):
            raise CategoryError(f"{where}.name: {name!r} must be lower-case letters, digits and _ (e.g. battery)")
        if any(entry is not other and other["name"] == name for other in section["custom"][:index]):
            raise CategoryError(f"{where}.name: {name!r} is defined twice; merge the two entries")
        languages = entry.get("languages")
        for kind in ("examples", "keywords"):
            outside = sorted(set(entry.get(kind, {})) - set(languages)) if languages else []
            if outside:
                raise CategoryError(f"{where}.{kind}: written in {', '.join(outside)}, but the category's "
                                    f"languages are {', '.join(languages)}: add them to languages or drop them")
        category = chosen.get(name)
        if category is None:
            if not any(entry.get("examples", {}).values()) and not any(entry.get("keywords", {}).values()):
                raise CategoryError(f"{where}: {name!r} is not a shipped category, so it needs examples (a few "
                                    "sentences per language) or keywords to be recognised")
            category = chosen[name] = Category(name, entry.get("description", ""))
        category.description = entry.get("description", category.description)
        category.languages = languages or category.languages
        category.threshold = entry.get("threshold", category.threshold)
        for kind in ("examples", "keywords"):
            merged = getattr(category, kind)
            merged = {language: list(values) for language, values in merged.items()}
            for language, values in entry.get(kind, {}).items():
                merged[language] = merged.get(language, []) + [v for v in values if v not in merged.get(language, [])]
            setattr(category, kind, merged)
    return list(chosen.values())


def read_category_file(path: str | Path, known: set[str] | None = None) -> list[CategoryRow]:
    """Rows of a `categories<TAB>text` file (an optional `language` column; else the language in the file's name,
    train_ja.tsv, else each row's detected language)."""
    path = Path(path)
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            records = list(csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
    except OSError as exc:
        raise CategoryError(f"{path}: cannot read it: {exc.strerror}") from None
    header = [name.strip().lower() for name in records[0]] if records else []
    if "categories" not in header or "text" not in header:
        raise CategoryError(f"{path}: needs a header line with the columns categories and text (tab-separated), "
                            f"found {', '.join(header) or 'nothing'}")
    names_at, text_at = header.index("categories"), header.index("text")
    language_at = header.index("language") if "language" in header else None
    named = re.fullmatch(r"[a-z]+_([a-z]{2,3})", path.stem)
    rows = []
    for number, record in enumerate(records[1:], start=2):
        if len(record) <= max(names_at, text_at) or not record[text_at].strip():
            continue
        names = {name.strip() for name in record[names_at].split(",") if name.strip()}
        unknown = sorted(names - known) if known is not None else []
        if unknown:
            raise CategoryError(f"{path}:{number}: unknown category {unknown[0]!r} "
                                f"(defined: {', '.join(sorted(known))})")
        language = record[language_at] if language_at is not None and len(record) > language_at else None
        rows.append(CategoryRow(record[text_at], language or (named.group(1) if named else None), names))
    for row in rows:
        row.language = row.language or detect_language(row.text)
    return rows


def shipped_rows(kind: str = "train") -> list[CategoryRow]:
    """The written rows of data/categories/<kind>_<lang>.tsv, labelled with the shipped categories."""
    shipped = {c.name for c in shipped_definitions()}
    rows = []
    for path in sorted(CATEGORY_DATA.glob(f"{kind}_*.tsv")):
        rows += [CategoryRow(row.text, row.language, row.names, shipped) for row in read_category_file(path, shipped)]
    return rows


def team_corrections_path() -> Path:
    """The team's category corrections kept for training by the last `kuchikomi sentiment train`."""
    return paths.home() / "models" / TEAM_CORRECTIONS


def team_rows() -> list[CategoryRow]:
    path = team_corrections_path()
    if not path.exists():
        return []
    return [CategoryRow(row["text"], row.get("language"), set(row["categories"]))
            for row in json.loads(path.read_text(encoding="utf-8"))]


def keep_team_rows(rows: list[CategoryRow]) -> None:
    path = team_corrections_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([{"text": r.text, "language": r.language, "categories": sorted(r.names)}
                                for r in rows], ensure_ascii=False, indent=1), encoding="utf-8")


def training_rows(categories: list[Category], corrections: list[CategoryRow]) -> list[CategoryRow]:
    """Written rows, the definitions' examples and the team's corrections. A written row is not a counter-example
    of a custom category whose keyword it contains: it was labelled without that category in mind."""
    rows = []
    custom = [(c.name, _matcher([c])) for c in categories if not c.shipped]
    for row in shipped_rows():
        unsure = {name for name, matcher in custom if matcher.match(row.text)[0]}
        rows.append(CategoryRow(row.text, row.language, row.names, {c.name for c in categories} - unsure))
    for category in categories:
        rows += [CategoryRow(text, language, {category.name}, {category.name})
                 for language, texts in category.examples.items() for text in texts]
    return rows + corrections


def _matcher(categories: list[Category]) -> TermMatcher:
    return TermMatcher([{"name": c.name, "aliases": [k for words in c.keywords.values() for k in words]}
                        for c in categories if any(c.keywords.values())])


class CategoryHeads:
    """The fitted heads: weight [K, 384], bias [K], a threshold and a keyword lift per category."""

    def __init__(self, categories: list[Category], weight, bias, meta: dict):
        self.categories = categories
        self.names = [c.name for c in categories]
        self.weight, self.bias = weight, bias
        self.meta = meta
        self.version = meta["version"]
        self.thresholds = [meta["thresholds"][name] for name in self.names]
        self.lifts = [meta["lifts"][name] for name in self.names]
        self.matcher = _matcher(categories)
        self.restricted = any(c.languages for c in categories)

    def to(self, device: str) -> "CategoryHeads":
        self.weight, self.bias = self.weight.to(device), self.bias.to(device)
        return self

    def probabilities(self, embeddings, texts: list[str]):
        """[len(texts), K] scores of normalised embeddings, lifted where a text contains a category's keyword."""
        import torch
        with torch.inference_mode():
            scores = torch.sigmoid(embeddings.float() @ self.weight.T + self.bias).cpu()
        lifts = torch.zeros_like(scores)
        for row, text in enumerate(texts):
            for name in self.matcher.match(text)[0]:
                k = self.names.index(name)
                lifts[row, k] = self.lifts[k]
        return scores + (1 - scores) * lifts

    def applies(self, language: str | None) -> list[bool]:
        """Which categories a text in this language can have (an unknown language excludes none)."""
        return [language is None or not c.languages or language in c.languages for c in self.categories]

    def describe(self, text: str, parts: list[tuple[int, dict]]) -> dict:
        """A review's categories (from its chunks, the best chunk's score) and its aspects (each sentence's
        categories with that sentence's sentiment), from what the encoder pass scored per chunk."""
        applies = self.applies(detect_language(text)) if self.restricted else [True] * len(self.names)
        best = [max(part["scores"][k] for _, part in parts) for k in range(len(self.names))]
        found = sorted(((best[k], name) for k, name in enumerate(self.names)
                        if applies[k] and best[k] >= self.thresholds[k]), reverse=True)
        aspects = []  # (score, position, aspect)
        for start, part in parts:
            for sentence_start, sentence_end, scores, sentiment in part["sentences"]:
                sentence = _shortened(text[start + sentence_start:start + sentence_end].strip())
                aspects += [(scores[k], start + sentence_start, {"category": name, "sentiment": sentiment,
                                                                 "sentence": sentence})
                            for k, name in enumerate(self.names) if applies[k] and scores[k] >= self.thresholds[k]]
        kept = sorted(sorted(aspects, key=lambda a: -a[0])[:MAX_ASPECTS], key=lambda a: (a[1], -a[0]))
        return {"categories": [{"name": name, "score": round(score, 2)} for score, name in found],
                "aspects": [aspect for _, _, aspect in kept]}

    def predict(self, scores, languages: list[str | None]) -> list[set[str]]:
        """Category names passing their thresholds, from `probabilities` rows."""
        return [{name for k, name in enumerate(self.names) if applies[k] and row[k] >= self.thresholds[k]}
                for row, applies in zip(scores.tolist(), (self.applies(language) for language in languages))]


def _shortened(sentence: str) -> str:
    return sentence if len(sentence) <= MAX_SENTENCE_CHARS else sentence[:MAX_SENTENCE_CHARS - 1] + "…"


def encoder_digest(classifier) -> str:
    """What the embedding depends on: the encoder's weights (a fine-tuned layer changes them), its prefix."""
    import torch
    digest = hashlib.sha1(f"{classifier.prefix}\x1f".encode())
    with torch.inference_mode():
        for name, parameter in classifier.encoder.named_parameters():
            # Training changes every value of a tensor it touches, so its first ones tell (and hashing all
            # 118M weights would take a second at each start).
            sample = parameter.detach().flatten()[:4096].to("cpu", torch.bfloat16)
            digest.update(name.encode() + sample.view(torch.int16).numpy().tobytes())
    return digest.hexdigest()[:12]


def _inputs_digest(categories: list[Category], rows: list[CategoryRow], encoder: str) -> str:
    digest = hashlib.sha1(f"{RECIPE_VERSION}\x1f{encoder}\x1e".encode())
    digest.update(json.dumps([c.__dict__ for c in categories], sort_keys=True, ensure_ascii=False).encode())
    for row in rows:
        labelled = sorted(row.labelled) if row.labelled is not None else None
        digest.update(json.dumps([row.text, row.language, sorted(row.names), labelled],
                                 ensure_ascii=False).encode())
    return digest.hexdigest()[:10]


def heads_dir(version: str) -> Path:
    return paths.cache() / "models" / f"kuchikomi-categories-{version}"


def load_heads(classifier, section: dict | None, corrections: list[CategoryRow] | None = None,
               log=logger.info) -> CategoryHeads | None:
    """The heads for these definitions on this classifier's encoder: from the cache, else fitted (once).
    `corrections`: the team's rows to learn from (default: those the last `sentiment train` kept)."""
    categories = definitions(section)
    if not categories:
        return None
    encoder = encoder_digest(classifier)
    rows = training_rows(categories, team_rows() if corrections is None else corrections)
    version = _inputs_digest(categories, rows, encoder)
    directory = heads_dir(version)
    if not (directory / "heads.json").exists():
        log(f"fitting {len(categories)} category heads on {len(rows)} examples (once; cached in {directory})")
        weight, bias, meta = fit_heads(classifier, categories, rows, encoder)
        _save(directory, {**meta, "version": version}, weight, bias)
    from safetensors.torch import load_file
    tensors = load_file(str(directory / "heads.safetensors"))
    meta = json.loads((directory / "heads.json").read_text(encoding="utf-8"))
    return CategoryHeads(categories, tensors["weight"], tensors["bias"], meta).to(classifier.device)


def _save(target: Path, meta: dict, weight, bias) -> None:
    from safetensors.torch import save_file
    staging = target.with_name(f"{target.name}.{os.getpid()}.partial")  # another process may fit them too
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    save_file({"weight": weight.contiguous(), "bias": bias.contiguous()}, str(staging / "heads.safetensors"))
    (staging / "heads.json").write_text(json.dumps(meta, indent=1, ensure_ascii=False), encoding="utf-8")
    shutil.rmtree(target, ignore_errors=True)
    try:
        staging.rename(target)
    except OSError:  # another process put the same heads there first
        shutil.rmtree(staging, ignore_errors=True)


def fit_heads(classifier, categories: list[Category], rows: list[CategoryRow], encoder: str):
    """Weight, bias and meta (thresholds, lifts, counts) of one-vs-rest heads fitted on `rows`."""
    import torch
    names = [c.name for c in categories]
    embeddings = embed_cached(classifier, [row.text for row in rows], encoder)
    targets, known = _targets(rows, names)
    lifts = _lifts(categories, rows, targets, known)
    weight, bias = _fit(embeddings, targets, known)
    # Thresholds from out-of-fold scores: each fold scored by heads that never saw it.
    folds = torch.tensor([_fold(row.text) for row in rows])
    held_out = torch.zeros_like(targets)
    for fold in range(FOLDS):
        inside = folds != fold
        if inside.all() or not inside.any():
            continue
        fold_weight, fold_bias = _fit(embeddings[inside], targets[inside], known[inside])
        held_out[~inside] = torch.sigmoid(embeddings[~inside] @ fold_weight.T + fold_bias)
    held_out = held_out + (1 - held_out) * _keyword_lifts(categories, [row.text for row in rows], lifts)
    thresholds, sources = {}, {}
    for k, category in enumerate(categories):
        positives = int((targets[:, k] * known[:, k]).sum())
        if category.threshold is not None:
            thresholds[category.name], sources[category.name] = category.threshold, "config"
        elif positives >= MIN_TUNING_POSITIVES:
            thresholds[category.name], sources[category.name] = _best_threshold(
                held_out[:, k][known[:, k] > 0], targets[:, k][known[:, k] > 0]), "cross-validated"
        else:
            thresholds[category.name], sources[category.name] = DEFAULT_THRESHOLD, "default"
    counts = {c.name: {} for c in categories}
    for row in rows:
        for name in row.names & set(names):
            counts[name][row.language or "?"] = counts[name].get(row.language or "?", 0) + 1
    meta = {"names": names, "thresholds": thresholds, "threshold_sources": sources,
            "lifts": dict(zip(names, lifts)), "positives": counts, "examples": len(rows), "encoder": encoder,
            "recipe": RECIPE_VERSION}
    return weight, bias, meta


def _fold(text: str) -> int:
    return int(hashlib.sha1(f"fold:{text}".encode("utf-8")).hexdigest()[:8], 16) % FOLDS


def _targets(rows: list[CategoryRow], names: list[str]):
    import torch
    targets = torch.tensor([[float(name in row.names) for name in names] for row in rows])
    known = torch.tensor([[float(row.labelled is None or name in row.labelled) for name in names] for row in rows])
    return targets, known


def _fit(embeddings, targets, known):
    """One sigmoid per category; positives and negatives weigh the same in total (categories are rare)."""
    import torch
    positives = (targets * known).sum(0)
    negatives = ((1 - targets) * known).sum(0)
    weights = known * torch.where(targets > 0, negatives / positives.clamp(min=1), torch.ones_like(targets))
    weights = weights / weights.sum(0).clamp(min=1e-9)

    def loss(logits):
        per_item = torch.nn.functional.binary_cross_entropy_with_logits(logits, targets, reduction="none")
        return (per_item * weights).sum()

    return fit_linear(embeddings, targets.shape[1], loss, l2=1e-3)


def _lifts(categories: list[Category], rows: list[CategoryRow], targets, known) -> list[float]:
    lifts = []
    for k, category in enumerate(categories):
        matcher = _matcher([category])
        matched = [i for i, row in enumerate(rows) if known[i, k] and matcher.match(row.text)[0]]
        hits = sum(int(targets[i, k]) for i in matched)
        lifts.append(round((hits + 1) / (len(matched) + 2), 4) if any(category.keywords.values()) else 0.0)
    return lifts


def _keyword_lifts(categories: list[Category], texts: list[str], lifts: list[float]):
    import torch
    matcher, names = _matcher(categories), [c.name for c in categories]
    found = torch.zeros(len(texts), len(names))
    for row, text in enumerate(texts):
        for name in matcher.match(text)[0]:
            found[row, names.index(name)] = lifts[names.index(name)]
    return found


def _best_threshold(scores, targets) -> float:
    best = (-1.0, DEFAULT_THRESHOLD)
    for threshold in THRESHOLD_GRID:
        predicted = scores >= threshold
        tp = float((predicted & (targets > 0)).sum())
        f1 = 2 * tp / max(1.0, float(predicted.sum()) + float((targets > 0).sum()))
        best = max(best, (round(f1, 4), threshold))
    return best[1]


def embed_cached(classifier, texts: list[str], encoder: str, batch_size: int = 32):
    """Normalised embeddings of texts; those embedded before with the same encoder come from the cache."""
    import torch
    from safetensors import safe_open
    from safetensors.torch import save_file
    path = paths.cache() / "models" / f"category-embeddings-{encoder}.safetensors"
    keys = [hashlib.sha1(text.encode("utf-8")).hexdigest()[:16] for text in texts]
    stored: dict = {}
    if path.exists():
        with safe_open(str(path), framework="pt") as cached:
            stored = dict(zip(json.loads(cached.metadata()["keys"]), cached.get_tensor("embeddings")))
    missing = sorted({(key, text) for key, text in zip(keys, texts) if key not in stored}, key=lambda kt: len(kt[1]))
    for start in range(0, len(missing), batch_size):
        batch = missing[start:start + batch_size]
        for (key, _), vector in zip(batch, classifier.embed([text for _, text in batch]).float().cpu()):
            stored[key] = vector
    if missing:
        path.parent.mkdir(parents=True, exist_ok=True)
        order = list(stored)
        staging = path.with_name(f"{path.name}.{os.getpid()}.partial")  # another process may write it too
        save_file({"embeddings": torch.stack([stored[key] for key in order]).contiguous()}, str(staging),
                  metadata={"keys": json.dumps(order)})
        staging.replace(path)
    return torch.stack([stored[key] for key in keys]) if keys else torch.zeros(0, 384)


def scores(gold: list[set[str]], predicted: list[set[str]], names: list[str]) -> dict:
    """Precision, recall and F1 per category (of those present or predicted), micro over all, macro F1."""
    per, totals = {}, [0, 0, 0]
    for name in names:
        tp = sum(name in g and name in p for g, p in zip(gold, predicted))
        fp = sum(name not in g and name in p for g, p in zip(gold, predicted))
        fn = sum(name in g and name not in p for g, p in zip(gold, predicted))
        totals = [totals[0] + tp, totals[1] + fp, totals[2] + fn]
        if tp + fp + fn:
            per[name] = {"n": tp + fn, **_prf(tp, fp, fn)}
    macro = round(sum(s["f1"] for s in per.values()) / len(per), 4) if per else 0.0
    return {"rows": len(gold), "categories": per, "micro": _prf(*totals), "macro_f1": macro}


def _prf(tp: int, fp: int, fn: int) -> dict:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4)}


def evaluate(classifier, rows: list[CategoryRow]) -> dict[str, dict]:
    """{language (and "all"): scores} of what `classify` finds in the rows' texts."""
    names = classifier.categories.names
    results = classifier.classify([row.text for row in rows])
    predicted = [{entry["name"] for entry in result["categories"]} for result in results]
    languages = sorted({row.language or "unknown" for row in rows})
    report = {}
    for language in languages + ["all"]:
        picked = [i for i, row in enumerate(rows) if language == "all" or (row.language or "unknown") == language]
        report[language] = scores([rows[i].names for i in picked], [predicted[i] for i in picked], names)
    return report


def format_report(title: str, report: dict[str, dict]) -> str:
    lines = [f"== {title}"]
    for language, entry in report.items():
        micro = entry["micro"]
        lines.append(f"  {language}: {entry['rows']} rows   micro precision {micro['precision']:.3f}  recall "
                     f"{micro['recall']:.3f}  F1 {micro['f1']:.3f}   macro F1 {entry['macro_f1']:.3f}")
        for name, values in entry["categories"].items():
            lines.append(f"    {name:<18} n={values['n']:<4} precision {values['precision']:.3f}  "
                         f"recall {values['recall']:.3f}  F1 {values['f1']:.3f}")
    return "\n".join(lines)


def below_floors(report: dict[str, dict], floors: dict) -> list[str]:
    """Floors are keyed by language (or "all"); each names minimums for micro_f1, micro_precision, micro_recall,
    macro_f1 or <category>_f1."""
    failures = []
    for language, minimums in floors.items():
        entry = report.get(language)
        if entry is None:
            failures.append(f"{language}: no rows in this language")
            continue
        for measure, floor in minimums.items():
            if measure == "macro_f1":
                value = entry["macro_f1"]
            elif measure.startswith("micro_"):
                value = entry["micro"].get(measure.removeprefix("micro_"))
            else:
                value = entry["categories"].get(measure.removesuffix("_f1"), {}).get("f1")
            if value is None or value < floor:
                failures.append(f"{language}: {measure} {value} is below its floor {floor}")
    return failures
