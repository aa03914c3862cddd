"""Exports of matching reviews as JSON lines, CSV or Parquet, streamed one page at a time."""
from __future__ import annotations

import csv
import json
from typing import IO, Iterable, Iterator

FORMATS = ("jsonl", "csv", "parquet")
# The flat columns of CSV and Parquet; JSON lines keep the whole stored document.
COLUMNS = ["doc_id", "date", "published_at", "fetched_at", "site", "brands", "language", "sentiment",
           "sentiment_score", "stars", "item_name", "title", "body", "author", "review_url", "source_url",
           "categories", "aspects"]
# Lists: `|`-joined in CSV, lists of strings in Parquet. An aspect is "category:sentiment" (battery:negative).
LIST_COLUMNS = ("brands", "categories", "aspects")


def flatten(doc: dict) -> dict:
    sentiment = doc.get("sentiment") or {}
    rating = doc.get("rating") or {}
    normalized = rating.get("normalized")
    return {
        **{name: doc.get(name) for name in ("doc_id", "date", "published_at", "fetched_at", "site", "language",
                                            "item_name", "title", "body", "author", "review_url", "source_url")},
        "brands": list(doc.get("brands") or []),
        "sentiment": sentiment.get("label"),
        "sentiment_score": sentiment.get("score"),
        "stars": None if normalized is None else round(1 + 4 * normalized, 3),
        "categories": [category["name"] for category in doc.get("categories") or []],
        "aspects": [f"{aspect['category']}:{aspect['sentiment']}" for aspect in doc.get("aspects") or []],
    }


def write_jsonl(docs: Iterable[dict], handle: IO[str]) -> int:
    count = 0
    for count, doc in enumerate(docs, 1):
        handle.write(json.dumps(doc, ensure_ascii=False) + "\n")
    return count


def write_csv(docs: Iterable[dict], handle: IO[str]) -> int:
    writer = csv.DictWriter(handle, fieldnames=COLUMNS)
    writer.writeheader()
    count = 0
    for count, doc in enumerate(docs, 1):
        row = flatten(doc)
        for name in LIST_COLUMNS:
            row[name] = "|".join(row[name])
        writer.writerow(row)
    return count


def _chunks(docs: Iterable[dict], size: int) -> Iterator[list[dict]]:
    chunk = []
    for doc in docs:
        chunk.append(flatten(doc))
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def write_parquet(docs: Iterable[dict], path: str, row_group: int = 5000) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq
    schema = pa.schema([(name, pa.list_(pa.string()) if name in LIST_COLUMNS else
                         pa.float64() if name in ("sentiment_score", "stars") else pa.string())
                        for name in COLUMNS])
    count = 0
    with pq.ParquetWriter(path, schema, compression="zstd") as writer:
        for chunk in _chunks(docs, row_group):
            writer.write_table(pa.Table.from_pylist(chunk, schema=schema))
            count += len(chunk)
        if not count:
            writer.write_table(schema.empty_table())
    return count
