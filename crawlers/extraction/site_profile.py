"""Site profiles: CSS/XPath rules in YAML for pages whose reviews carry no structured data.

A profile names the review block and, inside it, where each field is; loaded without code changes
(`crawlers/profiles/<name>.yaml` ships with kuchikomi, any other path works too) and tried on a page
with `kuchikomi extract PAGE --profile NAME`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urljoin, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jsonschema
import yaml
from cssselect import SelectorError
from lxml.etree import XPathError
from parsel import Selector

from crawlers.extraction.dates import parse_date
from crawlers.items import ReviewItem
from pipelines.clean import clean_text

PROFILES = Path(__file__).parent / "profiles"
_RULE = {"type": "object", "additionalProperties": False, "minProperties": 1,
         "properties": {"css": {"type": "string"}, "xpath": {"type": "string"},
                        "attribute": {"type": "string"}, "regex": {"type": "string"}}}
FIELDS = ("review_id", "author", "author_id", "rating", "date", "title", "body", "review_url", "votes", "parent_id")
_BLOCK = {
    "review": {"type": "string", "description": "CSS selector of one review block (xpath: prefix for XPath)"},
    "kind": {"enum": ["review", "post"], "description": "what a block is: a rated review, or a post/comment/answer"},
    "fields": {"type": "object", "additionalProperties": False, "required": ["body"],
               "properties": {name: _RULE for name in FIELDS}},
    "required": {"type": "array", "items": {"enum": list(FIELDS)},
                 "description": "fields a block must have, else it is not a review (an ad, a placeholder)"},
}
SCHEMA = {
    "type": "object", "additionalProperties": False, "required": ["name", "review", "fields"],
    "properties": {
        "name": {"type": "string"},
        **_BLOCK,
        "more_blocks": {"type": "array", "description": "other kinds of blocks on the same pages (replies, reviews "
                                                        "beside short comments), each with its own fields",
                        "items": {"type": "object", "additionalProperties": False, "required": ["review", "fields"],
                                  "properties": _BLOCK}},
        "urls": {"type": "array", "items": {"type": "string", "pattern": "^[^/]+(/.*)?$"},
                 "description": "host/path globs of the pages this profile reads (tabelog.com/*/dtlrvwlst/*): "
                                "`kuchikomi extract` picks the profile by them"},
        "timezone": {"type": "string", "description": "the site's IANA zone, for dates printed without one"},
        "rating_scale": {"type": "object", "additionalProperties": False,
                         "properties": {"best": {"type": "number"}, "worst": {"type": "number"},
                                        "per_star": {"type": "number", "exclusiveMinimum": 0,
                                                     "description": "what the page writes for one star "
                                                                    "(10: allstar50 is 5 stars)"}}},
        "uncomment": {"type": "boolean", "description": "read markup the page keeps inside HTML comments too"},
        "pinned_reviews": {"type": "boolean",
                           "description": "the site repeats some reviews on several list pages: a review is one "
                                          "document by its own URL (review_url), not by the page it was found on"},
        "item_name": _RULE,
        "thread_title": {**_RULE, "description": "the page's thread or question title, for blocks without a title"},
        "next_page": _RULE,
    },
}
_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")
_COMMENT = re.compile(r"<!--(.*?)-->", re.S)


class ProfileError(ValueError):
    pass


@dataclass
class Profile:
    name: str
    rules: dict

    def _select(self, node: Selector, rule: dict) -> str | None:
        found = node.xpath(rule["xpath"]) if "xpath" in rule else node.css(rule["css"]) if "css" in rule else [node]
        for match in found:
            # Text keeps CJK runs split by inline tags whole (多谢<b>你</b>) and paragraphs on their own lines.
            value = match.attrib.get(rule["attribute"]) if "attribute" in rule else clean_text(match.get())
            if value:
                if "regex" in rule:
                    matched = re.search(rule["regex"], value)
                    if not matched:
                        continue
                    value = matched.group(1) if matched.groups() else matched.group(0)
                return value.strip() or None
        return None

    def _blocks(self, page: Selector):
        """(the block's rules, the block) for every kind of block the profile names, in that order."""
        for rules in [self.rules, *self.rules.get("more_blocks", [])]:
            selector = rules["review"]
            for block in page.xpath(selector[6:]) if selector.startswith("xpath:") else page.css(selector):
                yield rules, block

    def _rating(self, text: str | None) -> dict | None:
        number = _NUMBER.search(text or "")
        if not number:
            return None
        scale = self.rules.get("rating_scale", {})
        best, worst = float(scale.get("best", 5)), float(scale.get("worst", 1))
        value = float(number.group(0).replace(",", ".")) / scale.get("per_star", 1)
        normalized = min(max((value - worst) / (best - worst), 0.0), 1.0) if best > worst else None
        return {"value": value, "best": best, "worst": worst,
                "normalized": None if normalized is None else round(normalized, 4)}

    def reviews(self, html: str, url: str, source: str = "default"):
        if self.rules.get("uncomment"):
            html = _COMMENT.sub(r"\1", html)
        page = Selector(text=html)
        fetched = datetime.now(timezone.utc)
        item_name = self._select(page, self.rules["item_name"]) if "item_name" in self.rules else None
        thread_title = self._select(page, self.rules["thread_title"]) if "thread_title" in self.rules else None
        for rules, block in self._blocks(page):
            field = {name: self._select(block, rule) for name, rule in rules["fields"].items()}
            if not field.get("body") and not field.get("title") or \
                    not all(field.get(name) for name in rules.get("required", [])):
                continue
            review_url = field.get("review_url") and urljoin(url, field["review_url"])
            votes = _NUMBER.search((field.get("votes") or "").replace(",", ""))
            date = parse_date(field.get("date"), fetched, self.rules.get("timezone"))
            item = ReviewItem(
                kind=rules.get("kind", self.rules.get("kind", "review")), source=source,
                source_url=review_url if self.rules.get("pinned_reviews") and review_url else url,
                site=urlsplit(url).hostname, review_id=field.get("review_id"), review_url=review_url,
                author=field.get("author"), rating=self._rating(field.get("rating")),
                title=field.get("title") or thread_title, votes=int(float(votes.group(0))) if votes else None,
                body=field.get("body"), published_at=date and date.iso,
                item_name=item_name, fetched_at=fetched.isoformat(timespec="milliseconds"))
            # Set only when known: the index holds these fields for the items that have them.
            for name, value in (("date_precision", date and date.precision), ("parent_id", field.get("parent_id")),
                                ("author_id", field.get("author_id"))):
                if value:
                    item[name] = value
            yield item

    def next_page(self, html: str, url: str) -> str | None:
        if "next_page" not in self.rules:
            return None
        link = self._select(Selector(text=html), self.rules["next_page"])
        return urljoin(url, link) if link else None


def load_profile(name_or_path: str) -> Profile:
    """A shipped profile by name (amazon), or a YAML file; any problem is a ProfileError saying where."""
    path = Path(name_or_path)
    if not path.suffix and not path.exists():
        path = PROFILES / f"{name_or_path}.yaml"
    try:
        rules = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        shipped = ", ".join(sorted(p.stem for p in PROFILES.glob("*.yaml")))
        raise ProfileError(f"{name_or_path}: no such profile file (shipped profiles: {shipped})") from exc
    except yaml.YAMLError as exc:
        raise ProfileError(f"{path}: not valid YAML: {exc}") from exc
    errors = sorted(jsonschema.Draft202012Validator(SCHEMA).iter_errors(rules), key=lambda e: list(e.path))
    if errors:
        where = ".".join(str(p) for p in errors[0].absolute_path) or "(top level)"
        raise ProfileError(f"{path}: {where}: {errors[0].message} (the shipped profiles in {PROFILES} show the form)")
    # Every selector and regex is compiled now, so a typo is an error naming its field, not a silent miss later.
    blocks = [("", rules), *((f"more_blocks[{i}].", block) for i, block in enumerate(rules.get("more_blocks", [])))]
    named_rules = []
    for prefix, block in blocks:
        review = block["review"]
        _compile(path, f"{prefix}review", "xpath" if review.startswith("xpath:") else "css",
                 review.removeprefix("xpath:"))
        named_rules += [(f"{prefix}fields.{name}", rule) for name, rule in block["fields"].items()]
    named_rules += [(name, rules[name]) for name in ("item_name", "thread_title", "next_page") if name in rules]
    for where, rule in named_rules:
        for kind in ("css", "xpath", "regex"):
            if kind in rule:
                _compile(path, f"{where}.{kind}", kind, rule[kind])
    try:
        if "timezone" in rules:
            ZoneInfo(rules["timezone"])
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ProfileError(f"{path}: timezone: {rules['timezone']!r} is no IANA zone (e.g. Asia/Tokyo)") from exc
    return Profile(rules["name"], rules)


_FIXES = {"css": ("CSS selector", "write a CSS selector such as div.review p.body"),
          "xpath": ("XPath", "write an XPath such as //div[@class='review']"),
          "regex": ("regular expression", "write a Python regular expression; escape ( [ { with a backslash")}


def _compile(path: Path, where: str, kind: str, text: str) -> None:
    probe = Selector(text="<html></html>")
    try:
        probe.css(text) if kind == "css" else probe.xpath(text) if kind == "xpath" else re.compile(text)
    except (SelectorError, XPathError, ValueError, re.error) as exc:
        what, fix = _FIXES[kind]
        raise ProfileError(f"{path}: {where}: invalid {what} {text!r} ({exc}): {fix}") from exc
