"""Searching the reviews alias: the search box query plus filters, sorted, paged with search_after."""
from __future__ import annotations

import base64
import json
import math
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Iterator

from elasticsearch import Elasticsearch

from index.research.query import SENTIMENTS, BrandNames, QuerySyntaxError, category_name, parse_query, \
    stars_to_normalized

SHOWN_FIELDS = ["doc_id", "site", "item_name", "title", "body", "rating", "sentiment", "brands", "author",
                "language", "published_at", "fetched_at", "date", "review_url", "source_url", "categories", "aspects"]
# doc_id breaks ties so that search_after pages neither skip nor repeat a review.
SORTS = {
    "relevance": ["_score", {"date": {"order": "desc"}}, {"doc_id": "asc"}],
    "newest": [{"date": {"order": "desc"}}, {"doc_id": "asc"}],
    "oldest": [{"date": {"order": "asc"}}, {"doc_id": "asc"}],
}
MAX_PAGE = 1000
_RELATIVE = re.compile(r"^(\d+)\s*([hdwmy])$")
_HOURS = {"h": 1, "d": 24, "w": 7 * 24, "m": 30 * 24, "y": 365 * 24}


@dataclass
class Filters:
    query: str = ""
    brands: list[str] = field(default_factory=list)
    sentiments: list[str] = field(default_factory=list)
    languages: list[str] = field(default_factory=list)
    sites: list[str] = field(default_factory=list)
    min_rating: float | None = None
    max_rating: float | None = None
    since: str | None = None
    until: str | None = None
    sources: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)


def _shown(text: str) -> str:
    """The user's text quoted for a one-line message, cut short."""
    return repr(text if len(text) <= 40 else text[:40] + "…")


def parse_when(text: str, end: bool, now: datetime | None = None) -> str:
    """An ISO instant from 2024-05-01, 2024-05, 2024-05-01T10:00:00+09:00 or a relative 30d, 12h, 8w, 6m, 1y.

    A date given without a time covers its whole day (or month) as an end of a range.
    """
    now = now or datetime.now(timezone.utc)
    value = text.strip()
    relative = _RELATIVE.match(value.lower())
    if relative:
        digits = relative[1].lstrip("0") or "0"
        # Ten digits reach back before the year 1 in any unit (and int() refuses 4,300 of them).
        if len(digits) < 10:
            try:
                return (now - timedelta(hours=int(digits) * _HOURS[relative[2]])).isoformat(timespec="seconds")
            except OverflowError:
                pass
        raise QuerySyntaxError(f"{_shown(text)} reaches back before the year 1")
    try:
        if re.fullmatch(r"\d{4}-\d{2}", value):
            year, month = map(int, value.split("-"))
            start = date(year, month, 1)
            if end:
                start = date(year + month // 12, month % 12 + 1, 1)
            return datetime(start.year, start.month, start.day, tzinfo=timezone.utc).isoformat()
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            day = date.fromisoformat(value) + timedelta(days=1 if end else 0)
            return datetime(day.year, day.month, day.day, tzinfo=timezone.utc).isoformat()
        instant = datetime.fromisoformat(value)
    except ValueError:
        instant = None
    except OverflowError:  # the day after 9999-12-31
        raise QuerySyntaxError(f"{_shown(text)} is past the last date there is (9999-12-31)") from None
    if instant is None:
        raise QuerySyntaxError(f"{_shown(text)} is not a date: use 2024-05-01, 2024-05, an ISO time, "
                               f"or 30d/12h/8w/6m/1y ago")
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=timezone.utc)
    return instant.isoformat()


def filter_clauses(filters: Filters, brands: BrandNames) -> list[dict]:
    clauses = []
    if filters.brands:
        clauses.append({"terms": {"brands": [brands.canonical(b) or b for b in filters.brands]}})
    if filters.sentiments:
        unknown = [s for s in filters.sentiments if s not in SENTIMENTS]
        if unknown:
            raise QuerySyntaxError(f"sentiment {unknown[0]!r}: use one of {', '.join(SENTIMENTS)}")
        clauses.append({"terms": {"sentiment.label": filters.sentiments}})
    if filters.languages:
        clauses.append({"terms": {"language": [lang.lower() for lang in filters.languages]}})
    if filters.sites:
        clauses.append({"terms": {"site": [site.lower() for site in filters.sites]}})
    if filters.sources:
        clauses.append({"terms": {"source": filters.sources}})
    if filters.categories:
        clauses.append({"terms": {"categories.name": [category_name(name) for name in filters.categories]}})
    stars = {}
    if filters.min_rating is not None:
        stars["gte"] = stars_to_normalized(filters.min_rating)
    if filters.max_rating is not None:
        stars["lte"] = stars_to_normalized(filters.max_rating)
    if stars:
        clauses.append({"range": {"rating.normalized": stars}})
    dates = {}
    if filters.since:
        dates["gte"] = parse_when(filters.since, end=False)
    if filters.until:
        dates["lt"] = parse_when(filters.until, end=True)
    if dates:
        clauses.append({"range": {"date": dates}})
    return clauses


def build_query(filters: Filters, brands: BrandNames) -> dict:
    return {"bool": {"must": [parse_query(filters.query, brands)], "filter": filter_clauses(filters, brands)}}


def encode_cursor(sort_values: list) -> str:
    return base64.urlsafe_b64encode(json.dumps(sort_values).encode()).decode().rstrip("=")


def _sort_value(value) -> bool:
    """A value Elasticsearch can have sorted on: a string, a long, or a finite double."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return -2 ** 63 <= value < 2 ** 63
    return isinstance(value, str) or isinstance(value, float) and math.isfinite(value)


def decode_cursor(cursor: str, sort: str) -> list:
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, TypeError, RecursionError):  # RecursionError: [[[[... nested past the parser's depth
        values = None
    if not isinstance(values, list) or len(values) != len(SORTS[sort]) or not all(map(_sort_value, values)):
        raise QuerySyntaxError("the paging cursor is not valid for this sort order; start again without it")
    return values


@dataclass
class SearchPage:
    hits: list[dict]
    total: int
    next_cursor: str | None


def search(client: Elasticsearch, alias: str, filters: Filters, brands: BrandNames | None = None,
           size: int = 10, sort: str = "relevance", after: str | None = None) -> SearchPage:
    if sort not in SORTS:
        raise QuerySyntaxError(f"sort {sort!r}: use one of {', '.join(SORTS)}")
    if not 1 <= size <= MAX_PAGE:
        raise QuerySyntaxError(f"size must be between 1 and {MAX_PAGE}")
    body = {"query": build_query(filters, brands or BrandNames()), "_source": SHOWN_FIELDS,
            "sort": SORTS[sort], "size": size, "track_total_hits": True}
    if after:
        body["search_after"] = decode_cursor(after, sort)
    reply = client.search(index=alias, body=body)
    hits = reply["hits"]["hits"]
    next_cursor = encode_cursor(hits[-1]["sort"]) if len(hits) == size else None
    return SearchPage([hit["_source"] for hit in hits], reply["hits"]["total"]["value"], next_cursor)


def iter_documents(client: Elasticsearch, alias: str, filters: Filters, brands: BrandNames | None = None,
                   page_size: int = 500, fields: list[str] | None = None) -> Iterator[dict]:
    """Every matching review, oldest first, one page in memory at a time."""
    body = {"query": build_query(filters, brands or BrandNames()), "_source": fields or True,
            "sort": SORTS["oldest"], "size": page_size}
    while True:
        hits = client.search(index=alias, body=body)["hits"]["hits"]
        for hit in hits:
            yield hit["_source"]
        if len(hits) < page_size:
            return
        body["search_after"] = hits[-1]["sort"]
