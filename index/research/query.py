"""The search box syntax, parsed into Elasticsearch bool queries.

    word "exact phrase" -excluded -"excluded phrase" a OR b field:value field:"a phrase"

Terms are ANDed; `OR` (or `|`) joins the terms on either side. Fields: title, body, item, author,
brand, site, lang, sentiment, rating (1-5 stars: rating:4, rating:>=4, rating:<3, rating:2..4),
category (category:complaint: the review has that category), aspect (aspect:battery: a sentence of it is
about battery; aspect:battery:negative: one that blames the battery).
Text is matched as a phrase in the analyzed fields, so CJK words (indexed as bigrams) must appear
whole, and width and case never matter. A word that names a configured brand or alias also finds
reviews the brand matcher attributed to that brand (`sony` finds `ソニー` reviews).

Anything a user can type parses to a query or raises QuerySyntaxError with a message for the user;
nothing reaches Elasticsearch that it would reject.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from foundations.text import fold_width

TEXT_FIELDS = ["title^2", "body", "item_name"]
FIELD_TARGETS = {"title": ["title"], "body": ["body"], "item": ["item_name"]}
KEYWORD_FIELDS = {"site": "site", "lang": "language", "language": "language", "author": "author"}
SENTIMENTS = ("negative", "neutral", "positive")
CATEGORY_NAME = r"^[a-z][a-z0-9_]*$"  # as the monitor config names categories
MAX_CLAUSES = 64
_TOKEN = re.compile(r'\s*(?:(?P<neg>-)?(?:(?P<field>[A-Za-z_]+):(?!//))?(?:"(?P<phrase>[^"]*)(?P<closed>")?'
                    r'|(?P<word>[^\s"]+)))', re.UNICODE)
_RATING = re.compile(r"^(?:(?P<op>>=|<=|>|<)?(?P<value>\d+(?:\.\d+)?)|(?P<low>\d+(?:\.\d+)?)\.\.(?P<high>\d+(?:\.\d+)?))$")


class QuerySyntaxError(ValueError):
    pass


@dataclass
class Clause:
    query: dict
    negated: bool


def stars_to_normalized(stars: float) -> float:
    """A 1-5 star value on the 0-1 scale that ratings are stored in (any source scale maps onto it)."""
    if not 1 <= stars <= 5:
        raise QuerySyntaxError(f"rating {stars:g} is outside 1..5 stars")
    return (stars - 1) / 4


def rating_range(text: str) -> dict:
    match = _RATING.match(text)
    if not match:
        raise QuerySyntaxError(f"rating:{text} is not a star rating; use rating:4, rating:>=4, rating:<3 "
                               f"or rating:2..4")
    if match["low"] is not None:
        low, high = float(match["low"]), float(match["high"])
        if low > high:
            raise QuerySyntaxError(f"rating:{text}: the range is empty")
        bounds = {"gte": stars_to_normalized(low), "lte": stars_to_normalized(high)}
    else:
        value = float(match["value"])
        op = {None: None, ">=": "gte", "<=": "lte", ">": "gt", "<": "lt"}[match["op"]]
        if op is None:
            # rating:4 means four stars, i.e. from 4 up to (not including) 5 unless it is 5.
            bounds = {"gte": stars_to_normalized(value)}
            bounds.update({"lt": stars_to_normalized(value + 1)} if value < 5 else {"lte": 1.0})
        else:
            bounds = {op: stars_to_normalized(value)}
    return {"range": {"rating.normalized": bounds}}


def category_name(text: str) -> str:
    """A category as the config names it: `Purchase-Intent` is purchase_intent."""
    name = fold_width(text).replace("-", "_")
    if not re.fullmatch(CATEGORY_NAME, name):
        raise QuerySyntaxError(f"category {text!r}: a category is named with lower-case letters, digits and _ "
                               f"(complaint, purchase_intent, ...)")
    return name


def category_query(text: str) -> dict:
    return {"term": {"categories.name": category_name(text)}}


def aspect_query(text: str) -> dict:
    """aspect:battery, or aspect:battery:negative for the sentences that blame it."""
    category, _, sentiment = text.partition(":")
    clauses = [{"term": {"aspects.category": category_name(category)}}]
    if sentiment:
        if sentiment.lower() not in SENTIMENTS:
            raise QuerySyntaxError(f"aspect:{text}: the sentiment after the category is one of "
                                   f"{', '.join(SENTIMENTS)}")
        clauses.append({"term": {"aspects.sentiment": sentiment.lower()}})
    # ignore_unmapped: indices rolled over before aspects were mapped simply have none.
    return {"nested": {"path": "aspects", "query": {"bool": {"filter": clauses}}, "ignore_unmapped": True}}


class BrandNames:
    """Configured brands by folded name and alias, for `brand:` and for expanding plain words."""

    def __init__(self, brands: list[dict] | None = None):
        self.by_folded: dict[str, str] = {}
        for brand in brands or []:
            for name in [brand["name"], *brand.get("aliases", [])]:
                self.by_folded.setdefault(fold_width(name), brand["name"])

    def canonical(self, text: str) -> str | None:
        return self.by_folded.get(fold_width(text))


def _text_query(text: str, fields: list[str]) -> dict:
    return {"multi_match": {"query": text, "type": "phrase", "fields": fields}}


def _field_query(field: str, value: str, brands: BrandNames) -> dict:
    name = field.lower()
    if name in FIELD_TARGETS:
        return _text_query(value, FIELD_TARGETS[name])
    if name == "brand":
        return {"term": {"brands": brands.canonical(value) or value}}
    if name == "sentiment":
        if value.lower() not in SENTIMENTS:
            raise QuerySyntaxError(f"sentiment:{value}: use one of {', '.join(SENTIMENTS)}")
        return {"term": {"sentiment.label": value.lower()}}
    if name == "rating":
        return rating_range(value)
    if name == "category":
        return category_query(value)
    if name == "aspect":
        return aspect_query(value)
    if name in KEYWORD_FIELDS:
        target = KEYWORD_FIELDS[name]
        # match, not term: author's keyword normalizer folds the value the way it folded the index.
        return {"match": {"author": value}} if target == "author" else {"term": {target: value.lower()}}
    known = sorted({*FIELD_TARGETS, *KEYWORD_FIELDS, "brand", "sentiment", "rating", "category", "aspect"})
    raise QuerySyntaxError(f"unknown field {field!r} in {field}:{value}; fields: {', '.join(known)}")


def _searchable(text: str) -> bool:
    return any(ch.isalnum() for ch in text)


def parse_query(text: str, brands: BrandNames | None = None) -> dict:
    """The bool query for a search box string; match_all for an empty one."""
    brands = brands or BrandNames()
    groups: list[list[Clause]] = []
    join_next = False
    position = 0
    text = text.strip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if not match or match.end() == position:
            raise QuerySyntaxError(f"cannot read the query at {text[position:position + 20]!r}")
        position = match.end()
        if match["phrase"] is not None and match["closed"] is None:
            raise QuerySyntaxError('a quoted phrase is not closed: add the closing "')
        value = match["phrase"] if match["phrase"] is not None else match["word"]
        if match["field"] is None and match["neg"] is None and match["phrase"] is None and value in ("OR", "|"):
            if not groups or join_next:
                raise QuerySyntaxError("OR needs a term on each side")
            join_next = True
            continue
        if match["field"] is not None:
            if not value:
                raise QuerySyntaxError(f"{match['field']}: needs a value")
            query = _field_query(match["field"], value, brands)
        elif not _searchable(value):
            continue  # punctuation alone matches nothing and restricts nothing
        else:
            query = _text_query(value, TEXT_FIELDS)
            brand = brands.canonical(value) if match["phrase"] is None else None
            if brand:
                query = {"bool": {"should": [query, {"term": {"brands": brand}}], "minimum_should_match": 1}}
        clause = Clause(query, match["neg"] is not None)
        if join_next:
            groups[-1].append(clause)
            join_next = False
        else:
            groups.append([clause])
        if sum(len(g) for g in groups) > MAX_CLAUSES:
            raise QuerySyntaxError(f"the query has more than {MAX_CLAUSES} terms")
    if join_next:
        raise QuerySyntaxError("OR needs a term on each side")
    must, must_not = [], []
    for group in groups:
        if len(group) == 1:
            (must_not if group[0].negated else must).append(group[0].query)
        else:
            must.append({"bool": {"should": [_clause_query(c) for c in group], "minimum_should_match": 1}})
    if not must and not must_not:
        return {"match_all": {}}
    if not must:
        must = [{"match_all": {}}]
    return {"bool": {"must": must, "must_not": must_not}}


def _clause_query(clause: Clause) -> dict:
    return {"bool": {"must_not": [clause.query]}} if clause.negated else clause.query
