"""Reviews from schema.org markup (JSON-LD, microdata, RDFa) and microformats (h-review), found by extruct.

Every syntax is brought to one JSON-LD-like shape, then the graph is walked: each `Review`
becomes one item, tied to the entity it sits in (Product, Recipe, ...) or names in
`itemReviewed`, and that entity's own AggregateRating (never a shop-wide one beside it).
"""
from __future__ import annotations

import logging
import math
import re
from collections import deque
from typing import Any, Iterator

import extruct
import lxml.html
from extruct.jsonld import JsonLdExtractor
from extruct.utils import parse_html, parse_xmldom_html
from lxml import etree

logger = logging.getLogger(__name__)

# Attributes without which a page holds no markup of a syntax: checked on the text first, because the
# parsers (RDFa above all) cost more than the rest of a page's processing. Each pattern only runs on a
# page whose lowered text has one of its words: a substring test is ten times cheaper than the pattern.
SYNTAX_MARKERS = {"json-ld": (("ld+json",), re.compile(r"application/ld\+json", re.I)),
                  "microdata": (("itemscope",), re.compile(r"\bitemscope\b", re.I)),
                  "rdfa": (("typeof", "property", "vocab"), re.compile(r"\b(?:typeof|property|vocab)\s*=", re.I)),
                  "microformat": (("hreview", "h-review"),
                                  re.compile(r"class\s*=\s*[\"'][^\"']*\bh-?review", re.I))}
SYNTAX_NAMES = {"microdata": "microdata", "rdfa": "RDFa", "microformat": "microformats"}
# Deeper data is no review markup but a parser trap (hostile pages nest 100,000 levels): skipped, and said.
MAX_NESTING = 64
MAX_ITEM_NESTING = 32
# microformats (h-review, h-review-aggregate and their v1 forms) -> schema.org: property names as data.
# An h-card reviewed is a place or business, not the site itself (Organization is treated as site-wide).
MF_ENTITY_TYPES = {"h-event": "Event", "h-card": "LocalBusiness", "h-product": "Product", "h-item": "Thing"}
SCHEMA_PREFIX = re.compile(r"^https?://schema\.org/")
REVIEW_TYPES = {"Review", "UserReview", "CriticReview", "EmployerReview", "ClaimReview"}
# Community writing: forum posts and their replies, Q&A answers. Each with a text becomes a post.
POST_TYPES = {"DiscussionForumPosting", "SocialMediaPosting", "Comment", "Answer", "Question"}
# interactionStatistic types that count approval (likes, upvotes), as a post's `votes`.
VOTE_ACTIONS = {"LikeAction", "VoteAction", "AgreeAction"}
# Entities whose aggregate describes a whole shop or site, not the reviewed item.
SITE_WIDE_TYPES = {"Organization", "WebSite", "WebPage", "Corporation", "OnlineStore", "Brand"}
DEFAULT_BEST, DEFAULT_WORST = 5.0, 1.0


def extract_graph(html: str | bytes, url: str, tree=None, stats=None) -> list[dict]:
    """All top-level schema.org nodes on the page, in one shape whatever the syntax.

    `tree`: the page already parsed by lxml (a Scrapy response's selector root); JSON-LD alone is
    then read from it rather than from a second parse of the page. A broken block (bad JSON, nesting
    too deep) is logged in one line, counted in `stats` and skipped; the page's other blocks are kept."""
    text = html if isinstance(html, str) else html.decode("utf-8", "replace")
    lowered = text.lower()
    syntaxes = [syntax for syntax, (words, pattern) in SYNTAX_MARKERS.items()
                if any(word in lowered for word in words) and pattern.search(text)]
    if not syntaxes:
        return []

    def skip(block: str, problem: str) -> None:
        logger.warning("invalid %s on %s: %s", block, url, problem)
        if stats is not None:
            stats.inc_value("kuchikomi/skipped/invalid_structured_data")

    if tree is None or syntaxes != ["json-ld"]:
        try:  # as extruct parses: RDFa needs its XML-DOM flavour of the tree
            tree = (parse_xmldom_html if "rdfa" in syntaxes else parse_html)(html, encoding="UTF-8")
        except (ValueError, etree.LxmlError) as exc:
            skip("HTML", _problem(exc))
            return []
    nodes: list[dict] = []
    if "json-ld" in syntaxes:
        for node in _json_ld(tree, skip):
            nodes.extend(_unwrap_graph(node))
    if "microdata" in syntaxes:
        _drop_deep_items(tree, skip)
    data: dict[str, list] = {}
    for syntax in ("microdata", "rdfa", "microformat"):
        if syntax in syntaxes:
            # The microformats parser takes text: the tree written out, so it reads what the others read
            # (lxml keeps 256 levels of elements; the parser's own reading of deeper ones overflows the stack).
            source = lxml.html.tostring(tree, encoding="unicode") if syntax == "microformat" else tree
            try:
                data.update(extruct.extract(source, base_url=url, syntaxes=[syntax], uniform=True))
            except Exception as exc:  # noqa: BLE001 - any parser failure skips this syntax, not the page
                skip(SYNTAX_NAMES[syntax], _problem(exc))
    nodes.extend(data.get("microdata", []))
    rdfa = [_from_rdfa(node) for node in data.get("rdfa", [])]
    nodes.extend(n for n in rdfa if n.get("@type"))
    nodes.extend(n for n in (_from_microformat(item) for item in data.get("microformat", [])) if n)
    # Untyped RDFa nodes are no entities of their own, but references may name them (an author "_:b0").
    return _link(nodes, [n for n in rdfa if not n.get("@type")])


def _json_ld(tree, skip) -> Iterator[Any]:
    """Each JSON-LD block's data, read by extruct's own block parser (JSON, then JSON with comments);
    its extract_items would lose every block of the page to one bad block."""
    reader = JsonLdExtractor()
    for number, script in enumerate(reader._xp_jsonld(tree), 1):
        try:
            items = list(reader._extract_items(script))
        except (ValueError, RecursionError) as exc:
            skip(f"JSON-LD block {number}", _problem(exc))
            continue
        if any(_depth(item) > MAX_NESTING for item in items):
            skip(f"JSON-LD block {number}", f"nested deeper than {MAX_NESTING} levels")
            continue
        yield from items


def _problem(exc: BaseException) -> str:
    """What is wrong with a block, in one line a user can act on."""
    if isinstance(exc, RecursionError):
        return "nested too deep to read"
    if "integer string conversion" in str(exc):  # Python refuses to read integers over 4,300 digits
        return "a number is longer than 4,300 digits"
    return " ".join(str(exc).split())[:300] or type(exc).__name__


def _depth(value: Any) -> int:
    """How deep lists and objects nest in parsed JSON (iteratively: the data may be deeper than the stack)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, (dict, list)):
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in (value.values() if isinstance(value, dict) else value))
    return deepest


def _drop_deep_items(tree, skip) -> None:
    """Cut microdata items nested deeper than MAX_ITEM_NESTING out of the tree (the items around them
    stay): extruct reads items recursively, and its time grows with the cube of the depth."""
    depth, deep = 0, []
    for event, element in etree.iterwalk(tree, events=("start", "end")):
        if isinstance(element.tag, str) and element.get("itemscope") is not None:
            depth += 1 if event == "start" else -1
            if event == "start" and depth == MAX_ITEM_NESTING + 1:
                deep.append(element)
    if deep:
        skip("microdata", f"{len(deep)} items nested deeper than {MAX_ITEM_NESTING} levels, dropped")
        for element in deep:
            element.drop_tree()


def _mf_first(properties: dict, *names: str) -> Any:
    for name in names:
        values = properties.get(name) or []
        if values:
            return values[0] if isinstance(values, list) else values
    return None


def _mf_text(value: Any) -> str | None:
    """Text of a microformat value: a string, an embedded item's name, or e-* content's value."""
    if isinstance(value, dict):
        return _mf_text(_mf_first(value, "name")) or _mf_text(value.get("value"))
    return (value.strip() or None) if isinstance(value, str) else None


def _mf_entity(value: Any) -> dict | None:
    # extruct's uniform shape: {"@type": ["h-item"], "name": [...], "url": [...], "value": ...}
    if isinstance(value, dict) and "@type" in value:
        kind = next((MF_ENTITY_TYPES[t] for t in value["@type"] if t in MF_ENTITY_TYPES), "Thing")
        return {"@type": kind, "name": _mf_text(value), "url": _mf_first(value, "url")}
    text = _mf_text(value)
    return {"@type": "Thing", "name": text} if text else None


def _mf_item(properties: dict) -> Any:
    """The reviewed item; v1 markup may come back as several partial items: the first that has a name."""
    items = properties.get("item") or []
    named = [i for i in items if isinstance(i, dict) and _mf_text(_mf_first(i, "name"))]
    return (named or items or [None])[0]


def _from_microformat(item: dict) -> dict | None:
    """An h-review as a schema.org Review; an h-review-aggregate as its item with an AggregateRating."""
    types, properties = item.get("@type", []), item
    rating = {"@type": "Rating", "ratingValue": _mf_first(properties, "rating", "average"),
              "bestRating": _mf_first(properties, "best") or DEFAULT_BEST,
              "worstRating": _mf_first(properties, "worst") or DEFAULT_WORST}
    if "h-review-aggregate" in types:
        entity = _mf_entity(_mf_item(properties)) or \
            _mf_entity(next(iter(item.get("children", [])), None)) or {"@type": "Thing",
                                                                       "name": _mf_text(_mf_first(properties, "name"))}
        entity["aggregateRating"] = {**rating, "@type": "AggregateRating",
                                     "ratingCount": _mf_first(properties, "count", "votes")}
        return entity
    if "h-review" not in types:
        return None
    author = _mf_first(properties, "author", "reviewer")
    return {"@type": "Review",
            "name": _mf_text(_mf_first(properties, "name", "summary")),
            "reviewBody": _mf_text(_mf_first(properties, "content", "description")),
            "author": _mf_text(author),
            "datePublished": _mf_text(_mf_first(properties, "published", "reviewed")),
            "url": _mf_first(properties, "url"),
            "reviewRating": rating if rating["ratingValue"] is not None else None,
            "itemReviewed": _mf_entity(_mf_item(properties))}


def _link(nodes: list[dict], unlisted: list[dict] = ()) -> list[dict]:
    """Replace {"@id": ...} references anywhere in the graph by the node they name (RDFa always, JSON-LD
    graphs often); `unlisted` nodes may be named but are not returned. An author still a bare reference
    then names no one and is dropped; blank node ids (`_:b0`, new on every parse) go once linked."""
    every, seen, queue = [], set(), deque([*nodes, *unlisted])
    while queue:  # breadth first, so a top-level node wins over a partial copy of it nested somewhere
        value = queue.popleft()
        if isinstance(value, list):
            queue.extend(value)
        elif isinstance(value, dict) and id(value) not in seen:
            seen.add(id(value))
            every.append(value)
            queue.extend(v for k, v in value.items() if not k.startswith("@"))
    by_id: dict[str, dict] = {}
    for node in every:
        if isinstance(node.get("@id"), str) and len(node) > 1:
            by_id.setdefault(node["@id"], node)

    def resolve(value: Any) -> Any:
        if isinstance(value, list):
            return [resolve(v) for v in value]
        if isinstance(value, dict) and set(value) == {"@id"}:
            return by_id.get(value["@id"], value)
        return value

    for node in every:
        for key, value in list(node.items()):
            if not key.startswith("@"):
                node[key] = resolve(value)
        if "author" in node:
            node["author"] = _named(node["author"])
    for node in every:
        if str(node.get("@id", "")).startswith("_:"):
            del node["@id"]
    return nodes


def _named(value: Any) -> Any:
    """An author that names someone; a node whose only text is its `@id` (`_:b0`, `#person1`) does not."""
    if isinstance(value, list):
        return [v for v in map(_named, value) if v is not None] or None
    if isinstance(value, dict) and text_of({k: v for k, v in value.items() if k != "@id"}) is None:
        return None
    return value


def _unwrap_graph(node: Any) -> list[dict]:
    if isinstance(node, list):
        return [n for item in node for n in _unwrap_graph(item)]
    if not isinstance(node, dict):
        return []
    if "@graph" in node:
        return _unwrap_graph(node["@graph"])
    return [node]


def _from_rdfa(node: dict) -> dict:
    """RDFa triples as {"@type": "Review", "author": ...}, schema.org IRIs shortened."""
    out: dict = {}
    for key, value in node.items():
        if key == "@type":
            out["@type"] = [SCHEMA_PREFIX.sub("", t) for t in value] if isinstance(value, list) else \
                SCHEMA_PREFIX.sub("", value)
        elif key == "@id":
            out["@id"] = value
        elif SCHEMA_PREFIX.match(key):
            values = [v.get("@value", v) if isinstance(v, dict) else v for v in value]
            out[SCHEMA_PREFIX.sub("", key)] = values[0] if len(values) == 1 else values
    return out


def types_of(node: dict) -> set[str]:
    value = node.get("@type", [])
    values = value if isinstance(value, list) else [value]
    # Most types are bare names already: the prefix pattern only runs on those with a host.
    return {SCHEMA_PREFIX.sub("", v) if "schema.org" in v else v for v in map(str, values)}


def text_of(value: Any) -> str | None:
    """A plain string from a schema.org value that may be a string, a list or a Thing."""
    if value is None:
        return None
    if isinstance(value, list):
        parts = [t for t in (text_of(v) for v in value) if t]
        return ", ".join(parts) if parts else None
    if isinstance(value, dict):
        for key in ("name", "@value", "text", "alternateName", "url", "@id"):
            if value.get(key):
                return text_of(value[key])
        return None
    text = str(value).strip()
    return text or None


def number_of(value: Any) -> float | None:
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, dict):
        value = value.get("@value", value.get("value"))
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    match = re.search(r"-?\d+(?:[.,]\d+)?", str(value))
    return float(match.group().replace(",", ".")) if match else None


def rating_of(node: Any) -> dict | None:
    """{"value", "best", "worst", "normalized"} from a Rating or AggregateRating node. Numbers are taken
    as written, Infinity too: the normalise stage rejects and counts ratings that are not finite."""
    if not isinstance(node, dict):
        value = number_of(node)
        node = {"ratingValue": value} if value is not None else None
    if not node:
        return None
    value = number_of(node.get("ratingValue"))
    if value is None:
        return None
    best = number_of(node.get("bestRating"))
    worst = number_of(node.get("worstRating"))
    best = best if best is not None else max(DEFAULT_BEST, value)
    worst = worst if worst is not None else min(DEFAULT_WORST, value)
    normalized = (value - worst) / (best - worst) if best > worst else None
    rating = {"value": value, "best": best, "worst": worst,
              "normalized": round(min(max(normalized, 0.0), 1.0), 4) if normalized is not None else None}
    for key in ("reviewCount", "ratingCount"):
        count = count_of(node.get(key))
        if count is not None:
            rating["count"] = count
            break
    return rating


def count_of(value: Any) -> int | None:
    """A whole count; an infinite one (1e99999) is no count."""
    number = number_of(value)
    return int(number) if number is not None and math.isfinite(number) else None


def iter_reviews(nodes: list[dict]) -> Iterator[tuple[dict, dict | None]]:
    """(review node, the entity it reviews) for every Review anywhere in the graph."""
    seen: set[int] = set()

    def walk(node: Any, parent: dict | None) -> Iterator[tuple[dict, dict | None]]:
        if isinstance(node, list):
            for item in node:
                yield from walk(item, parent)
            return
        if not isinstance(node, dict) or id(node) in seen:
            return
        seen.add(id(node))
        types = types_of(node)
        if types & REVIEW_TYPES:
            reviewed = node.get("itemReviewed")
            yield node, reviewed if isinstance(reviewed, dict) else parent
            return
        owner = parent if types & SITE_WIDE_TYPES else node
        for key, value in node.items():
            if not key.startswith("@"):
                yield from walk(value, owner)

    # Containers first, so a review that is also a top-level node is reached through its item.
    for top in sorted(nodes, key=lambda n: bool(types_of(n) & REVIEW_TYPES)):
        yield from walk(top, None)


def iter_posts(nodes: list[dict]) -> Iterator[tuple[dict, dict | None]]:
    """(post node, the thread it replies to) for every forum post, comment or answer with a text."""
    seen: set[int] = set()

    def walk(node: Any, thread: dict | None) -> Iterator[tuple[dict, dict | None]]:
        if isinstance(node, list):
            for item in node:
                yield from walk(item, thread)
            return
        if not isinstance(node, dict) or id(node) in seen:
            return
        seen.add(id(node))
        is_post = bool(types_of(node) & POST_TYPES)
        if is_post and post_text(node):
            yield node, thread
        for key, value in node.items():
            if not key.startswith("@") and key != "author":
                yield from walk(value, node if is_post and thread is None else thread)

    for top in nodes:
        yield from walk(top, None)


def post_text(node: dict) -> str | None:
    return text_of(node.get("articleBody")) or text_of(node.get("text")) or text_of(node.get("description"))


def votes_of(node: dict) -> int | None:
    """Likes or upvotes: schema.org upvoteCount, or an InteractionCounter of a like/vote action."""
    if node.get("upvoteCount") is not None:
        return count_of(node["upvoteCount"])
    counters = node.get("interactionStatistic") or []
    for counter in counters if isinstance(counters, list) else [counters]:
        if isinstance(counter, dict):
            action = counter.get("interactionType")
            action = action.get("@type") if isinstance(action, dict) else action
            if str(action or "").rstrip("/").split("/")[-1] in VOTE_ACTIONS:
                return count_of(counter.get("userInteractionCount"))
    return None


def own_aggregate(entity: dict | None, nodes: list[dict]) -> dict | None:
    """The reviewed entity's aggregate; failing that, the one aggregate not owned by the site."""
    if entity and entity.get("aggregateRating"):
        return rating_of(entity["aggregateRating"])
    candidates = [n.get("aggregateRating") for n in nodes
                  if n.get("aggregateRating") and not types_of(n) & SITE_WIDE_TYPES]
    candidates += [n for n in nodes if types_of(n) == {"AggregateRating"}]
    return rating_of(candidates[0]) if len(candidates) == 1 else None
