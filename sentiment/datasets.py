"""Labelled sentiment data in the shapes teams and public sets come in, and a fixed dev/train split.

Accepted: CSV or TSV with a header naming a text column (text, review, content, body) and a label
column (label or sentiment: negative/neutral/positive, -1/0/1, or 0/1 for binary sets; stars or
rating: 1-5, where 1-2 is negative, 3 neutral, 4-5 positive), optionally language and split; and
the JRTE sentence files (id, label, text, judges, split; no header). A file without a language column is taken to be in
one language, the one most of its rows are detected in. Rows of star-rated files keep their stars. Star-rated
reviews already in the index are read the same way (`rated_reviews`).
"""
from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from pathlib import Path

from foundations.language import detect_language
from sentiment.model import LABELS

TEXT_COLUMNS = ("text", "review", "content", "body")
LABEL_NAMES = {"-1": "negative", "0": "neutral", "1": "positive", **{label: label for label in LABELS}}
DEV_SHARE = 10  # without a split column, one text in ten (by hash) is development data


class DatasetError(ValueError):
    pass


@dataclass
class Row:
    text: str
    label: str
    language: str | None
    split: str
    stars: float | None = None


def stars_label(stars: str) -> str:
    value = float(stars)
    return "negative" if value <= 2 else "neutral" if value < 4 else "positive"


def hash_split(text: str) -> str:
    return "dev" if _digest(text) % DEV_SHARE == 0 else "train"


def read_rows(path: str | Path, split: str = "all", limit: int | None = None) -> list[Row]:
    """Rows of one file, in file order; `split` dev/train/all, `limit` rows after the split."""
    path = Path(path)
    if not path.exists():
        raise DatasetError(f"{path}: no such file")
    with open(path, encoding="utf-8-sig", newline="") as handle:
        sample = handle.read(4096)
        handle.seek(0)
        delimiter = "\t" if sample.count("\t") > sample.count(",") else ","
        records = list(csv.reader(handle, delimiter=delimiter))
    if not records:
        raise DatasetError(f"{path}: empty")
    header = [name.strip().lower() for name in records[0]]
    if len(header) == 5 and header[4] in ("train", "dev"):
        rows = [_jrte_row(record) for record in records]
    else:
        rows = _header_rows(path, header, records[1:])
    rows = [row for row in rows if row.text.strip() and (split == "all" or row.split == split)]
    if limit and len(rows) > limit:
        # A fixed sample from the whole file: public sets are often sorted by label.
        rows = sorted(rows, key=lambda row: _digest(f"sample:{row.text}"))[:limit]
    if not any(row.language for row in rows):
        # Without a language column a file is one language: its rows' most common one.
        detected = [detect_language(row.text) for row in rows]
        common = max(set(detected), key=detected.count) if detected else None
        for row in rows:
            row.language = common
    return rows


def _digest(text: str) -> int:
    return int(hashlib.sha1(text.encode("utf-8")).hexdigest()[:8], 16)


def _jrte_row(record: list[str]) -> Row:
    return Row(record[2], LABEL_NAMES[record[1]], None, record[4])


def _header_rows(path: Path, header: list[str], records: list[list[str]]) -> list[Row]:
    text_column = next((header.index(name) for name in TEXT_COLUMNS if name in header), None)
    label_column = next((header.index(name) for name in ("label", "sentiment", "stars", "rating")
                         if name in header), None)
    if text_column is None or label_column is None:
        raise DatasetError(f"{path}: needs a text column ({', '.join(TEXT_COLUMNS)}) and a label column "
                           f"(label, sentiment, stars or rating); found {', '.join(header)}")
    stars = header[label_column] in ("stars", "rating")
    values = {record[label_column].strip().lower() for record in records if len(record) > label_column}
    binary = not stars and values <= {"0", "1"}
    language = header.index("language") if "language" in header else None
    split = header.index("split") if "split" in header else None
    rows = []
    for number, record in enumerate(records, start=2):
        if len(record) <= max(text_column, label_column):
            continue
        raw = record[label_column].strip().lower()
        try:
            label = stars_label(raw) if stars else ("positive" if raw == "1" else "negative") if binary \
                else LABEL_NAMES[raw]
        except (KeyError, ValueError):
            raise DatasetError(f"{path}:{number}: label {raw!r} is not negative/neutral/positive, "
                               "-1/0/1, 0/1 or 1-5 stars") from None
        text = record[text_column]
        rows.append(Row(text, label,
                        record[language] if language is not None else None,
                        record[split] if split is not None else hash_split(text), float(raw) if stars else None))
    return rows


def rated_reviews(client, index: str, limit: int | None = None) -> list[Row]:
    """Reviews in the index with a rating, labelled by it: the rating on a 1-5 scale (from its normalised value)
    is 1-2 negative, 3 neutral, 4-5 positive."""
    from elasticsearch import helpers

    from foundations.review_text import review_text
    rows = []
    query = {"query": {"exists": {"field": "rating.normalized"}}, "_source": ["title", "body", "language", "rating"]}
    for hit in helpers.scan(client, index=index, query=query):
        review = hit["_source"]
        text = review_text(review)
        if text.strip():
            stars = round(1 + 4 * review["rating"]["normalized"], 1)
            rows.append(Row(text, stars_label(str(stars)), review.get("language"), hash_split(text), stars))
            if limit and len(rows) >= limit:
                break
    return rows


def has_neutral(rows: list[Row]) -> bool:
    return any(row.label == "neutral" for row in rows)
