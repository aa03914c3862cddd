"""Raw Elasticsearch DSL for research keys: what a search body may hold, as data, and the check.

A body passes only when every key in it is on the allow-list below: search keys, query types and aggregation
types, each with its parameters and their bounds. So nothing reaches another index (terms lookups,
more_like_this documents with an _index, indices_boost), nothing runs a script, and the work one request asks
of the node is bounded: page sizes, buckets (no empty histogram buckets, whose number the request alone does
not bound: a 1ms date_histogram with min_doc_count 0 takes a node down), nesting depth, documents from
top_hits. Anything else raises DSLRejected naming the path of the offending key, e.g.
`aggs.h.date_histogram.min_doc_count`.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Callable

from index.research.search import MAX_PAGE
from index.storage.client import DEFAULT_PREFIX
from index.storage.schema import template_body

MAX_RESULT_WINDOW = 10_000    # from + size; the node's own index.max_result_window
MAX_BUCKETS_PER_AGGREGATION = 1000
MAX_BUCKETS = 10_000          # buckets all aggregations may make together (the node's search.max_buckets: 65,535)
MAX_AGGREGATION_DEPTH = 3
MAX_AGGREGATIONS = 30
MAX_TOP_HITS = MAX_PAGE       # documents all top_hits together may return
MAX_QUERY_DEPTH = 10
MAX_CLAUSES = 100             # queries in one bool clause, dis_max, filters aggregation
MAX_TEXT = 10_000
LARGEST_NUMBER = 2 ** 53      # beyond it JSON numbers lose precision
SCRIPTS_REFUSED = "scripts are not run here"
OTHER_INDICES_REFUSED = "only the reviews can be searched"
# Why some keys that people send are not on the allow-list (for the message; the allow-list decides).
REFUSED_BECAUSE = {
    "script": SCRIPTS_REFUSED, "_script": SCRIPTS_REFUSED, "script_score": SCRIPTS_REFUSED,
    "scripted_metric": SCRIPTS_REFUSED, "script_fields": SCRIPTS_REFUSED, "runtime_mappings": SCRIPTS_REFUSED,
    "bucket_script": SCRIPTS_REFUSED, "bucket_selector": SCRIPTS_REFUSED, "moving_fn": SCRIPTS_REFUSED,
    "script_heuristic": SCRIPTS_REFUSED,
    "index": OTHER_INDICES_REFUSED, "_index": OTHER_INDICES_REFUSED, "indices_boost": OTHER_INDICES_REFUSED,
    "routing": OTHER_INDICES_REFUSED, "percolate": OTHER_INDICES_REFUSED, "geo_shape": OTHER_INDICES_REFUSED,
    "terms_set": SCRIPTS_REFUSED, "wrapper": "an encoded query cannot be checked: send the query itself",
    "timeout": "the API sets the search timeout", "terminate_after": "the API bounds the search itself",
    "extended_bounds": "it only adds empty buckets, which are not served (min_doc_count is at least 1)",
    "hard_bounds": "it only bounds empty buckets, which are not served (min_doc_count is at least 1)",
}


class DSLRejected(ValueError):
    """A search body (or a part of it, at `path`) that the API does not send to Elasticsearch."""

    def __init__(self, path: str, reason: str):
        super().__init__(f"{path}: {reason}" if path else reason)
        self.path = path


def _join(path: str, key: Any) -> str:
    key = str(key)
    if len(key) > 50 or not key.isprintable():
        key = _shown(key)
    return f"{path}.{key}" if path else key


def _shown(value: Any) -> str:
    """A value from the body for a message, cut short."""
    text = repr(value)
    return text if len(text) <= 50 else text[:50] + "…"


def _type_name(value: Any) -> str:
    return {bool: "true/false", int: "a number", float: "a number", str: "a string", list: "a list",
            dict: "an object", type(None): "null"}.get(type(value), type(value).__name__)


# Kinds of values: each checks a value found at a path and returns it (with defaults filled in).

class Kind:
    json_types: tuple[type, ...] = ()
    description = "a value"

    def check(self, value: Any, at: str, checker: "Checker") -> Any:
        raise NotImplementedError

    def expect(self, value: Any, at: str) -> None:
        if not isinstance(value, self.json_types) or (isinstance(value, bool) and bool not in self.json_types):
            raise DSLRejected(at, f"expected {self.description}, not {_type_name(value)}")


@dataclass(frozen=True)
class Integer(Kind):
    low: int
    high: int
    why: str = ""
    json_types = (int,)

    @property
    def description(self) -> str:
        return f"a whole number from {self.low} to {self.high}"

    def check(self, value, at, checker):
        self.expect(value, at)
        if not self.low <= value <= self.high:
            why = f" ({self.why})" if self.why else ""
            raise DSLRejected(at, f"{_shown(value)} is not allowed: {self.description}{why}")
        return value


@dataclass(frozen=True)
class Number(Kind):
    low: float = -LARGEST_NUMBER
    high: float = LARGEST_NUMBER
    json_types = (int, float)

    @property
    def description(self) -> str:
        return f"a number from {self.low:g} to {self.high:g}"

    def check(self, value, at, checker):
        self.expect(value, at)
        # Python's JSON reads 1e400 as inf; an integer of 400 digits has no float (isfinite would overflow).
        if isinstance(value, float) and not math.isfinite(value) or not self.low <= value <= self.high:
            raise DSLRejected(at, f"{_shown(value)} is not allowed: {self.description}")
        return value


class Boolean(Kind):
    json_types = (bool,)
    description = "true or false"

    def check(self, value, at, checker):
        self.expect(value, at)
        return value


class Null(Kind):
    json_types = (type(None),)
    description = "null"

    def check(self, value, at, checker):
        self.expect(value, at)
        return value


@dataclass(frozen=True)
class Text(Kind):
    max_length: int = 1000
    pattern: str | None = None
    what: str = "a string"
    json_types = (str,)

    @property
    def description(self) -> str:
        return self.what

    def check(self, value, at, checker):
        self.expect(value, at)
        if len(value) > self.max_length:
            raise DSLRejected(at, f"longer than {self.max_length} characters")
        if self.pattern is not None and not re.fullmatch(self.pattern, value):
            raise DSLRejected(at, f"{_shown(value)} is not {self.what}")
        return value


@dataclass(frozen=True)
class FieldName(Text):
    """A field of the reviews (wildcards allowed where Elasticsearch takes them)."""
    max_length: int = 200
    pattern: str = r"[A-Za-z0-9_@.*\-]+"
    what: str = "a field name"

    def check(self, value, at, checker):
        self.expect(value, at)
        if value in REFUSED_BECAUSE:
            raise DSLRejected(at, f"not allowed: {REFUSED_BECAUSE[value]}")
        return super().check(value, at, checker)


@lru_cache(maxsize=1)
def mapped_types() -> dict[str, str]:
    """Field path -> its type in the reviews mapping (which is strict: no other fields get indexed)."""
    def walk(properties: dict, prefix: str):
        for name, spec in properties.items():
            if "properties" in spec:
                yield from walk(spec["properties"], f"{prefix}{name}.")
            else:
                yield f"{prefix}{name}", spec.get("type", "object")
    return dict(walk(template_body(DEFAULT_PREFIX)["mappings"]["properties"], ""))


@dataclass(frozen=True)
class TypedField(FieldName):
    """A field of the reviews mapping of one of these types, where another type fails the search on the node."""
    types: tuple[str, ...] = ()

    def check(self, value, at, checker):
        super().check(value, at, checker)
        if mapped_types().get(value) not in self.types:
            fitting = sorted(name for name, kind in mapped_types().items() if kind in self.types)
            raise DSLRejected(at, f"{_shown(value)} is not a {' or '.join(self.types)} field of the reviews "
                                  f"(these are: {', '.join(fitting)})")
        return value


@dataclass(frozen=True)
class OneOf(Kind):
    values: tuple
    json_types = (str,)

    @property
    def description(self) -> str:
        return "one of " + ", ".join(map(str, self.values))

    def check(self, value, at, checker):
        self.expect(value, at)
        if value not in self.values:
            raise DSLRejected(at, f"{_shown(value)} is not allowed: {self.description}")
        return value


@dataclass(frozen=True)
class ListOf(Kind):
    item: Kind
    max_items: int
    min_items: int = 0
    json_types = (list,)

    @property
    def description(self) -> str:
        return f"a list of {self.item.description}"

    def check(self, value, at, checker):
        self.expect(value, at)
        if len(value) > self.max_items:
            raise DSLRejected(at, f"more than {self.max_items} items")
        if len(value) < self.min_items:
            raise DSLRejected(at, f"needs at least {self.min_items} item{'s' * (self.min_items > 1)}")
        return [self.item.check(item, _join(at, i), checker) for i, item in enumerate(value)]


class Either(Kind):
    """The first kind that takes this JSON type: a string or a list of strings, a number or a string..."""

    def __init__(self, *kinds: Kind):
        self.kinds = kinds
        self.json_types = tuple(t for kind in kinds for t in kind.json_types)
        self.description = " or ".join(kind.description for kind in kinds)

    def check(self, value, at, checker):
        for kind in self.kinds:
            if isinstance(value, kind.json_types) and (bool in kind.json_types or not isinstance(value, bool)):
                return kind.check(value, at, checker)
        raise DSLRejected(at, f"expected {self.description}, not {_type_name(value)}")


def _refuse_key(at: str, key: str, allowed) -> DSLRejected:
    if key in REFUSED_BECAUSE:
        return DSLRejected(at, f"not allowed: {REFUSED_BECAUSE[key]}")
    return DSLRejected(at, f"not allowed here (allowed: {', '.join(sorted(allowed)) or 'nothing'})")


class Params(Kind):
    """An object with only these keys, and at least the `required` ones."""
    json_types = (dict,)

    def __init__(self, allowed: dict[str, Kind], description: str = "an object", required: tuple[str, ...] = ()):
        self.allowed = allowed
        self.description = description
        self.required = required

    def check(self, value, at, checker):
        self.expect(value, at)
        checked = {}
        for key, item in value.items():
            if key not in self.allowed:
                raise _refuse_key(_join(at, key), key, self.allowed)
            checked[key] = self.allowed[key].check(item, _join(at, key), checker)
        missing = [key for key in self.required if key not in value]
        if missing:
            raise DSLRejected(at, f"needs {', '.join(missing)}")
        return checked


@dataclass(frozen=True)
class DictOf(Kind):
    """An object whose keys are names (of filters, composite sources, sort fields ...)."""
    key: Kind
    value: Kind
    max_items: int
    json_types = (dict,)
    description = "an object"

    def check(self, value, at, checker):
        self.expect(value, at)
        if len(value) > self.max_items:
            raise DSLRejected(at, f"more than {self.max_items} entries")
        return {self.key.check(k, _join(at, k), checker): self.value.check(v, _join(at, k), checker)
                for k, v in value.items()}


class OneKey(Kind):
    """{"<type>": {...}} with exactly one type from `types` (a query, a composite source, a heuristic)."""
    json_types = (dict,)

    def __init__(self, types: dict[str, Kind], what: str):
        self.types = types
        self.description = what

    def check(self, value, at, checker):
        self.expect(value, at)
        for key in value:
            if key not in self.types:
                if key in REFUSED_BECAUSE:
                    raise DSLRejected(_join(at, key), f"not allowed: {REFUSED_BECAUSE[key]}")
                raise DSLRejected(_join(at, key), f"not an allowed {self.description} "
                                                  f"(allowed: {', '.join(sorted(self.types))})")
        if len(value) != 1:
            raise DSLRejected(at, f"give exactly one {self.description}")
        (key, body), = value.items()
        return {key: self.types[key].check(body, _join(at, key), checker)}


class PerField(Kind):
    """{"<field>": <short form> or {params}}, as match, term, range ...; `beside` keys may sit next to the field."""
    json_types = (dict,)
    description = "an object naming one field"

    def __init__(self, short: Kind | None, params: dict[str, Kind] | None, beside: dict[str, Kind] | None = None):
        self.short = short
        self.params = Params(params) if params is not None else None
        self.beside = beside or {}

    def check(self, value, at, checker):
        self.expect(value, at)
        fields = [key for key in value if key not in self.beside]
        if len(fields) != 1:
            raise DSLRejected(at, f"name exactly one field, not {len(fields)}")
        checked = {}
        for key, item in value.items():
            where = _join(at, key)
            if key in self.beside:
                checked[key] = self.beside[key].check(item, where, checker)
                continue
            FieldName().check(key, where, checker)
            if isinstance(item, dict) and self.params is not None:
                checked[key] = self.params.check(item, where, checker)
            elif isinstance(item, dict):
                refused = [k for k in item if k in REFUSED_BECAUSE]
                if refused:
                    raise DSLRejected(_join(where, refused[0]), f"not allowed: {REFUSED_BECAUSE[refused[0]]}")
                raise DSLRejected(where, f"expected {self.short.description}, not an object")
            elif self.short is not None:
                checked[key] = self.short.check(item, where, checker)
            else:
                raise DSLRejected(where, "expected an object of parameters")
        return checked


class Query(Kind):
    """A query: one of QUERIES, nested no deeper than MAX_QUERY_DEPTH."""
    json_types = (dict,)
    description = "a query"

    def check(self, value, at, checker):
        return checker.query(value, at)


class Aggregations(Kind):
    json_types = (dict,)
    description = "aggregations by name"

    def check(self, value, at, checker):
        return checker.aggregations(value, at)


# The vocabulary.

BOOL = Boolean()
QUERY = Query()
QUERIES = Either(QUERY, ListOf(QUERY, MAX_CLAUSES))
FIELD = FieldName()
FIELDS = ListOf(FieldName(pattern=r"[A-Za-z0-9_@.*\-]+(\^[0-9]+(\.[0-9]+)?)?", what="a field name (^boost)"), 50)
SCALAR = Either(Text(MAX_TEXT), Number(), BOOL)
BOUND = Either(Text(100), Number(), Null())
BOOST = Number(0, 1000)
NAMED = {"boost": BOOST, "_name": Text(100)}
ANALYZER = Text(100, r"[A-Za-z0-9_\-]+", "an analyzer name")
MINIMUM_SHOULD_MATCH = Either(Integer(-MAX_CLAUSES, MAX_CLAUSES), Text(50, r"[0-9<>%\- ]+", "like 2, 75% or 3<90%"))
FUZZINESS = Either(Integer(0, 2), Text(20, r"AUTO(:[0-9]+,[0-9]+)?|[0-2]", "0, 1, 2 or AUTO"))
OPERATOR = OneOf(("and", "or", "AND", "OR"))
MATCH_OPTIONS = {"operator": OPERATOR, "minimum_should_match": MINIMUM_SHOULD_MATCH, "fuzziness": FUZZINESS,
                 "prefix_length": Integer(0, 10), "max_expansions": Integer(1, 50), "fuzzy_transpositions": BOOL,
                 "lenient": BOOL, "zero_terms_query": OneOf(("none", "all")), "analyzer": ANALYZER,
                 "auto_generate_synonyms_phrase_query": BOOL, **NAMED}
PHRASE_OPTIONS = {"query": SCALAR, "slop": Integer(0, 100), "analyzer": ANALYZER,
                  "zero_terms_query": OneOf(("none", "all")), **NAMED}
PATTERN = Text(200)
ORDER = OneOf(("asc", "desc"))
SORT_ITEM = Either(FIELD, PerField(ORDER, {
    "order": ORDER, "mode": OneOf(("min", "max", "sum", "avg", "median")), "missing": SCALAR,
    "unmapped_type": OneOf(("keyword", "long", "double", "date", "boolean", "float", "integer")),
    "numeric_type": OneOf(("double", "long", "date", "date_nanos"))}))
SORT = Either(SORT_ITEM, ListOf(SORT_ITEM, 10))
SOURCE_FIELDS = Either(FIELD, ListOf(FIELD, 100))
SOURCE = Either(BOOL, FIELD, ListOf(FIELD, 100), Params({"includes": SOURCE_FIELDS, "excludes": SOURCE_FIELDS}))
MLT_ITEM = Either(Text(MAX_TEXT), Params({"_id": Text(512)}, "a review by _id"))
MLT_LIKE = Either(MLT_ITEM, ListOf(MLT_ITEM, 20))

QUERY_TYPES: dict[str, Kind] = {
    "match_all": Params(NAMED),
    "match_none": Params({"_name": Text(100)}),
    "match": PerField(SCALAR, {"query": SCALAR, **MATCH_OPTIONS}),
    "match_phrase": PerField(SCALAR, PHRASE_OPTIONS),
    "match_phrase_prefix": PerField(SCALAR, {**PHRASE_OPTIONS, "max_expansions": Integer(1, 50)}),
    "multi_match": Params({
        "query": SCALAR, "fields": FIELDS, "slop": Integer(0, 100), "tie_breaker": Number(0, 1),
        "type": OneOf(("best_fields", "most_fields", "cross_fields", "phrase", "phrase_prefix", "bool_prefix")),
        **MATCH_OPTIONS}),
    "simple_query_string": Params({
        "query": Text(MAX_TEXT), "fields": FIELDS, "default_operator": OPERATOR, "analyzer": ANALYZER,
        "flags": Text(200, r"[A-Z_|]+", "flags like AND|OR|PREFIX"), "fuzzy_max_expansions": Integer(1, 50),
        "fuzzy_prefix_length": Integer(0, 10), "fuzzy_transpositions": BOOL, "lenient": BOOL,
        "minimum_should_match": MINIMUM_SHOULD_MATCH, "quote_field_suffix": Text(50), "analyze_wildcard": BOOL,
        "auto_generate_synonyms_phrase_query": BOOL, **NAMED}),
    "term": PerField(SCALAR, {"value": SCALAR, "case_insensitive": BOOL, **NAMED}),
    # A list only: an object here would be a lookup of the terms in another document, of any index.
    "terms": PerField(ListOf(SCALAR, 1000), None, beside=NAMED),
    "range": PerField(None, {"gte": BOUND, "gt": BOUND, "lte": BOUND, "lt": BOUND, "from": BOUND, "to": BOUND,
                             "include_lower": BOOL, "include_upper": BOOL, "format": Text(100),
                             "time_zone": Text(50), "relation": OneOf(("INTERSECTS", "CONTAINS", "WITHIN")),
                             **NAMED}),
    "exists": Params({"field": FIELD, **NAMED}, required=("field",)),
    "prefix": PerField(PATTERN, {"value": PATTERN, "case_insensitive": BOOL, **NAMED}),
    "wildcard": PerField(PATTERN, {"value": PATTERN, "wildcard": PATTERN, "case_insensitive": BOOL, **NAMED}),
    "ids": Params({"values": ListOf(Text(512), 1000), **NAMED}),
    "bool": Params({"must": QUERIES, "filter": QUERIES, "should": QUERIES, "must_not": QUERIES,
                    "minimum_should_match": MINIMUM_SHOULD_MATCH, **NAMED}),
    "boosting": Params({"positive": QUERY, "negative": QUERY, "negative_boost": Number(0, 1), **NAMED}),
    "constant_score": Params({"filter": QUERY, **NAMED}),
    "dis_max": Params({"queries": ListOf(QUERY, MAX_CLAUSES), "tie_breaker": Number(0, 1), **NAMED}),
    "function_score": Params({
        "query": QUERY, "weight": Number(0, 1000), "score_mode": OneOf(("multiply", "sum", "avg", "first", "max",
                                                                        "min")),
        "boost_mode": OneOf(("multiply", "replace", "sum", "avg", "max", "min")), "max_boost": Number(0, 1e6),
        "min_score": Number(), **NAMED,
        "functions": ListOf(Params({
            "filter": QUERY, "weight": Number(0, 1000),
            "field_value_factor": Params({"field": FIELD, "factor": Number(-1000, 1000), "missing": Number(),
                                          "modifier": OneOf(("none", "log", "log1p", "log2p", "ln", "ln1p", "ln2p",
                                                             "square", "sqrt", "reciprocal"))}),
            "random_score": Params({"seed": Either(Integer(0, LARGEST_NUMBER), Text(100)), "field": FIELD})}), 20)}),
    "more_like_this": Params({
        "fields": FIELDS, "like": MLT_LIKE, "unlike": MLT_LIKE, "min_term_freq": Integer(1, 1000),
        "max_query_terms": Integer(1, 100), "min_doc_freq": Integer(1, 1_000_000),
        "max_doc_freq": Integer(1, 2 ** 31 - 1), "min_word_length": Integer(0, 100),
        "max_word_length": Integer(0, 1000), "stop_words": ListOf(Text(100), 1000), "analyzer": ANALYZER,
        "minimum_should_match": MINIMUM_SHOULD_MATCH, "boost_terms": Number(0, 1000), "include": BOOL,
        "fail_on_unsupported_field": BOOL, **NAMED}),
}

HIGHLIGHT_OPTIONS = {
    # An empty list of tags fails the search on the node (a 500).
    "pre_tags": ListOf(Text(100), 10, min_items=1), "post_tags": ListOf(Text(100), 10, min_items=1),
    "fragment_size": Integer(1, 10_000), "number_of_fragments": Integer(0, 100), "no_match_size": Integer(0, 10_000),
    "order": OneOf(("score", "none")), "require_field_match": BOOL, "type": OneOf(("unified", "plain", "fvh")),
    "encoder": OneOf(("default", "html")), "highlight_query": QUERY,
    "boundary_scanner": OneOf(("chars", "sentence", "word")), "fragmenter": OneOf(("simple", "span")),
    "max_analyzed_offset": Integer(1, 1_000_000)}
HIGHLIGHT_FIELDS = DictOf(FIELD, Params(HIGHLIGHT_OPTIONS), 20)
HIGHLIGHT = Params({**HIGHLIGHT_OPTIONS, "tags_schema": OneOf(("styled",)),
                    "fields": Either(HIGHLIGHT_FIELDS, ListOf(HIGHLIGHT_FIELDS, 20))})


@dataclass(frozen=True)
class Aggregation:
    """An aggregation type: its parameters and, for a bucket aggregation, how many buckets it makes at most."""
    params: Kind
    buckets: Callable[[Any], int] | None = None    # None: a metric or pipeline, with no sub-aggregations
    # Buckets only for values that matching reviews hold: the request does not bound their number, the node
    # does (search.max_buckets); top_hits under them would not be bounded at all.
    data_dependent: bool = False
    hits: Callable[[dict], int] | None = None      # top_hits: documents per bucket it sits in
    defaults: dict = field(default_factory=dict)
    # Where the node would fail the search (a 500) otherwise: needs sub-aggregations, takes none, or goes only
    # under these aggregations (None: at the top).
    needs_subaggregations: bool = False
    takes_subaggregations: bool = True
    under: frozenset[str | None] | None = None


def _size(default: int) -> Callable[[dict], int]:
    return lambda params: params.get("size", default)


def _count(key: str, extra: int = 0) -> Callable[[dict], int]:
    return lambda params: len(params.get(key, ())) + extra


def _one(params) -> int:
    return 1


BUCKET_SIZE = Integer(1, MAX_BUCKETS_PER_AGGREGATION)
SHARD_SIZE = Integer(1, 5 * MAX_BUCKETS_PER_AGGREGATION)
# No `format` on numbers: with one, a `missing` the format cannot parse fails the search on the node (a 500).
VALUES_OF = {"field": FIELD, "missing": SCALAR}
# Date aggregations on another field fail the search on the node (a 500) or answer nonsense.
DATE_FIELD = TypedField(types=("date",))
DATES_OF = {"field": DATE_FIELD, "missing": Text(100), "format": Text(100)}
METRIC = Params(VALUES_OF, required=("field",))
TDIGEST = Params({"compression": Number(1, 1000)})
TERMS_ORDER_ITEM = DictOf(Text(200), ORDER, 1)
TERMS_ORDER = Either(TERMS_ORDER_ITEM, ListOf(TERMS_ORDER_ITEM, 5))
INCLUDE = Either(Text(1000), ListOf(SCALAR, 1000),
                 Params({"partition": Integer(0, 1000), "num_partitions": Integer(1, 1000)}))
EXCLUDE = Either(Text(1000), ListOf(SCALAR, 1000))
MIN_DOC_COUNT = Integer(1, 2 ** 31 - 1, why="empty buckets are not served: the request alone does not bound "
                                             "how many there would be")
CALENDAR_INTERVAL = OneOf(("minute", "1m", "hour", "1h", "day", "1d", "week", "1w", "month", "1M", "quarter", "1q",
                           "year", "1y"))
FIXED_INTERVAL = Text(20, r"[1-9][0-9]{0,8}(ms|s|m|h|d)", "an interval like 30m, 12h or 7d")
HISTOGRAM_INTERVAL = Number(1e-9, LARGEST_NUMBER)
SIGNIFICANCE = {"size": BUCKET_SIZE, "shard_size": SHARD_SIZE, "min_doc_count": MIN_DOC_COUNT,
                "shard_min_doc_count": Integer(1, 2 ** 31 - 1), "background_filter": QUERY, "include": INCLUDE,
                "exclude": EXCLUDE, "jlh": Params({}), "percentage": Params({}),
                "mutual_information": Params({"include_negatives": BOOL, "background_is_superset": BOOL}),
                "chi_square": Params({"include_negatives": BOOL, "background_is_superset": BOOL}),
                "gnd": Params({"background_is_superset": BOOL})}
RANGES = ListOf(Params({"from": BOUND, "to": BOUND, "key": Text(100)}), 100)
COMPOSITE_SOURCE = OneKey({
    "terms": Params({"field": FIELD, "missing_bucket": BOOL, "order": ORDER}, required=("field",)),
    "histogram": Params({"field": FIELD, "interval": HISTOGRAM_INTERVAL, "missing_bucket": BOOL, "order": ORDER},
                        required=("field", "interval")),
    "date_histogram": Params({"field": DATE_FIELD, "calendar_interval": CALENDAR_INTERVAL,
                              "fixed_interval": FIXED_INTERVAL, "time_zone": Text(50), "format": Text(100),
                              "missing_bucket": BOOL, "order": ORDER}, required=("field",)),
}, "composite source")
BUCKETS_PATH = Either(Text(200), DictOf(Text(100), Text(200), 10))
BUCKET_METRIC = Params({"buckets_path": BUCKETS_PATH, "gap_policy": OneOf(("skip", "insert_zeros")),
                        "format": Text(100)})

AGGREGATION_TYPES: dict[str, Aggregation] = {
    **{name: Aggregation(METRIC) for name in ("avg", "sum", "min", "max", "value_count", "stats")},
    "extended_stats": Aggregation(Params({**VALUES_OF, "sigma": Number(0, 10)}, required=("field",))),
    "cardinality": Aggregation(Params({**VALUES_OF, "precision_threshold": Integer(0, 3000)}, required=("field",))),
    "percentiles": Aggregation(Params({**VALUES_OF, "percents": ListOf(Number(0, 100), 20), "keyed": BOOL,
                                       "tdigest": TDIGEST}, required=("field",))),
    "percentile_ranks": Aggregation(Params({**VALUES_OF, "values": ListOf(Number(), 20), "keyed": BOOL,
                                            "tdigest": TDIGEST}, required=("field", "values"))),
    "median_absolute_deviation": Aggregation(Params({**VALUES_OF, "compression": Number(1, 1000)},
                                                    required=("field",))),
    "top_hits": Aggregation(Params({"size": Integer(0, 100), "from": Integer(0, 100), "sort": SORT,
                                    "_source": SOURCE, "track_scores": BOOL, "version": BOOL}),
                            hits=lambda params: params.get("from", 0) + params.get("size", 3)),
    "terms": Aggregation(Params({
        **VALUES_OF, "size": BUCKET_SIZE, "shard_size": SHARD_SIZE, "min_doc_count": Integer(0, 2 ** 31 - 1),
        "shard_min_doc_count": Integer(0, 2 ** 31 - 1), "order": TERMS_ORDER, "include": INCLUDE,
        "exclude": EXCLUDE, "execution_hint": OneOf(("map", "global_ordinals")),
        "collect_mode": OneOf(("breadth_first", "depth_first")), "show_term_doc_count_error": BOOL},
        required=("field",)), buckets=_size(10)),
    # On a float field significant_terms fails the search on the node (a 500).
    "significant_terms": Aggregation(Params({"field": TypedField(types=("keyword", "long", "integer")),
                                             **SIGNIFICANCE}, required=("field",)), buckets=_size(10)),
    "significant_text": Aggregation(Params({"field": TypedField(types=("text",)), "filter_duplicate_text": BOOL,
                                            "source_fields": ListOf(FIELD, 10), **SIGNIFICANCE}, required=("field",)),
                                    buckets=_size(10), takes_subaggregations=False),
    "histogram": Aggregation(Params({**VALUES_OF, "interval": HISTOGRAM_INTERVAL, "offset": Number(),
                                     "min_doc_count": MIN_DOC_COUNT, "order": TERMS_ORDER, "keyed": BOOL},
                                    required=("field", "interval")),
                             buckets=_one, data_dependent=True, defaults={"min_doc_count": 1}),
    "date_histogram": Aggregation(Params({
        **DATES_OF, "calendar_interval": CALENDAR_INTERVAL, "fixed_interval": FIXED_INTERVAL,
        "time_zone": Text(50), "offset": Text(20, r"[+-]?[0-9]{1,9}(ms|s|m|h|d)", "an offset like +6h"),
        "min_doc_count": MIN_DOC_COUNT, "order": TERMS_ORDER, "keyed": BOOL}, required=("field",)),
        buckets=_one, data_dependent=True, defaults={"min_doc_count": 1}),
    "auto_date_histogram": Aggregation(Params({
        **DATES_OF, "buckets": BUCKET_SIZE, "time_zone": Text(50),
        "minimum_interval": OneOf(("second", "minute", "hour", "day", "month", "year"))}, required=("field",)),
        buckets=lambda params: params.get("buckets", 10)),
    "range": Aggregation(Params({**VALUES_OF, "ranges": RANGES, "keyed": BOOL}, required=("field", "ranges")),
                         buckets=_count("ranges")),
    "date_range": Aggregation(Params({**DATES_OF, "ranges": RANGES, "keyed": BOOL, "time_zone": Text(50)},
                                     required=("field", "ranges")), buckets=_count("ranges")),
    "filter": Aggregation(QUERY, buckets=_one),
    "filters": Aggregation(Params({"filters": Either(DictOf(Text(100), QUERY, MAX_CLAUSES),
                                                     ListOf(QUERY, MAX_CLAUSES)),
                                   "other_bucket": BOOL, "other_bucket_key": Text(100)}),
                           buckets=_count("filters", extra=1)),
    "missing": Aggregation(Params({"field": FIELD}, required=("field",)), buckets=_one),
    "global": Aggregation(Params({}), buckets=_one, under=frozenset({None})),
    "sampler": Aggregation(Params({"shard_size": SHARD_SIZE}), buckets=_one, needs_subaggregations=True),
    "composite": Aggregation(Params({"size": BUCKET_SIZE, "sources": ListOf(DictOf(Text(100), COMPOSITE_SOURCE, 1), 5),
                                     "after": DictOf(Text(100), BOUND, 5)}), buckets=_size(10)),
    **{name: Aggregation(BUCKET_METRIC) for name in ("avg_bucket", "sum_bucket", "min_bucket", "max_bucket",
                                                     "stats_bucket")},
    "bucket_sort": Aggregation(Params({"sort": SORT, "from": Integer(0, MAX_BUCKETS_PER_AGGREGATION),
                                       "size": BUCKET_SIZE, "gap_policy": OneOf(("skip", "insert_zeros"))}),
                               under=frozenset({"terms", "significant_terms", "significant_text", "histogram",
                                                "date_histogram", "auto_date_histogram", "range", "date_range",
                                                "filters", "composite"})),
}
AGGREGATION_NAME = Text(100, r"[^\[\]>]+", "an aggregation name (no [, ] or >)")

SEARCH = Params({
    "query": QUERY, "post_filter": QUERY, "aggs": Aggregations(), "aggregations": Aggregations(),
    "size": Integer(0, MAX_PAGE), "from": Integer(0, MAX_RESULT_WINDOW), "sort": SORT, "_source": SOURCE,
    "search_after": ListOf(Either(Text(1000), Number(), BOOL), 10),  # a null fails the search (a 500)
    "track_total_hits": Either(BOOL, Integer(0, 2 ** 31 - 1)), "track_scores": BOOL, "min_score": Number(),
    "highlight": HIGHLIGHT,
}, "a search body")


class Checker:
    """One body's check: where it is in the query and aggregation trees, and what the buckets add up to."""

    def __init__(self):
        self.query_depth = 0
        self.aggregation_depth = 0
        self.aggregation_count = 0
        self.enclosing_buckets = 1       # the product of the bounded bucket counts above this point
        self.parent: str | None = None   # the type of the aggregation these sub-aggregations are under
        self.under_data_dependent = False
        self.bucket_total = 0
        self.top_hits_total = 0

    def query(self, value: Any, at: str) -> dict:
        if self.query_depth >= MAX_QUERY_DEPTH:
            raise DSLRejected(at, f"queries nest deeper than {MAX_QUERY_DEPTH} levels")
        self.query_depth += 1
        try:
            return OneKey(QUERY_TYPES, "query type").check(value, at, self)
        finally:
            self.query_depth -= 1

    def aggregations(self, value: Any, at: str) -> dict:
        if not isinstance(value, dict):
            raise DSLRejected(at, f"expected aggregations by name, not {_type_name(value)}")
        if self.aggregation_depth >= MAX_AGGREGATION_DEPTH:
            raise DSLRejected(at, f"aggregations nest deeper than {MAX_AGGREGATION_DEPTH} levels")
        self.aggregation_depth += 1
        try:
            return {AGGREGATION_NAME.check(name, _join(at, name), self): self.aggregation(body, _join(at, name))
                    for name, body in value.items()}
        finally:
            self.aggregation_depth -= 1

    def aggregation(self, body: Any, at: str) -> dict:
        if not isinstance(body, dict):
            raise DSLRejected(at, f"expected an aggregation like {{\"terms\": {{...}}}}, not {_type_name(body)}")
        subs = [key for key in body if key in ("aggs", "aggregations")]
        types = [key for key in body if key not in subs]
        for key in types:
            if key not in AGGREGATION_TYPES:
                raise _refuse_key(_join(at, key), key, [*AGGREGATION_TYPES, "aggs"])
        if len(types) != 1 or len(subs) > 1:
            raise DSLRejected(at, "give exactly one aggregation type (and at most one aggs)")
        self.aggregation_count += 1
        if self.aggregation_count > MAX_AGGREGATIONS:
            raise DSLRejected(at, f"more than {MAX_AGGREGATIONS} aggregations")
        kind = types[0]
        spec = AGGREGATION_TYPES[kind]
        where = _join(at, kind)
        if spec.under is not None and self.parent not in spec.under:
            places = ", ".join(sorted(parent or "the top level" for parent in spec.under))
            raise DSLRejected(where, f"a {kind} aggregation goes only under {places}")
        params = spec.params.check(body[kind], where, self)
        if isinstance(params, dict) and spec.defaults:
            params = {**spec.defaults, **params}
        checked = {kind: params}
        if spec.hits:
            self._count_hits(spec.hits(params), where)
        if subs and (spec.buckets is None or not spec.takes_subaggregations):
            raise DSLRejected(_join(at, subs[0]), f"a {kind} aggregation takes no sub-aggregations")
        if spec.needs_subaggregations and not (subs and body[subs[0]]):
            raise DSLRejected(where, f"a {kind} aggregation needs sub-aggregations (aggs) to run on its buckets")
        if spec.buckets is None:
            return checked
        buckets = self.enclosing_buckets * spec.buckets(params)
        self.bucket_total += buckets
        if self.bucket_total > MAX_BUCKETS:
            raise DSLRejected(where, f"the aggregations could make {self.bucket_total} buckets, more than "
                                     f"{MAX_BUCKETS}: use smaller sizes or fewer levels")
        if subs:
            saved = self.enclosing_buckets, self.under_data_dependent, self.parent
            self.enclosing_buckets, self.parent = buckets, kind
            self.under_data_dependent = self.under_data_dependent or spec.data_dependent
            try:
                checked[subs[0]] = self.aggregations(body[subs[0]], _join(at, subs[0]))
            finally:
                self.enclosing_buckets, self.under_data_dependent, self.parent = saved
        return checked

    def _count_hits(self, per_bucket: int, at: str) -> None:
        if self.under_data_dependent:
            raise DSLRejected(at, "top_hits under a histogram is not bounded (one set of hits per value "
                                  "found): put it under terms, filters or ranges")
        self.top_hits_total += per_bucket * self.enclosing_buckets
        if self.top_hits_total > MAX_TOP_HITS:
            raise DSLRejected(at, f"top_hits could return {self.top_hits_total} documents, more than "
                                  f"{MAX_TOP_HITS}: use a smaller size or fewer buckets")


def validate_dsl(body: Any) -> dict:
    """The body as it may be sent to the reviews alias (histograms get min_doc_count 1), or DSLRejected."""
    checked = SEARCH.check(body, "", Checker())
    if checked.get("from", 0) + checked.get("size", 10) > MAX_RESULT_WINDOW:
        raise DSLRejected("from", f"from + size may be at most {MAX_RESULT_WINDOW}; page on with search_after")
    if checked.get("search_after") is not None and checked.get("from", 0):
        raise DSLRejected("from", "must be 0 with search_after (which says where the page starts)")
    return checked
