"""RSS, Atom and JSON Feed entries as posts (feedparser decodes, whatever the feed's encoding)."""
from __future__ import annotations

import calendar
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import urljoin

import feedparser

from pipelines.clean import clean_text


@dataclass
class FeedEntry:
    title: str | None
    link: str | None
    entry_id: str | None
    author: str | None
    published_at: str | None
    text: str | None


@dataclass
class ParsedFeed:
    title: str | None
    encoding: str | None
    bozo: bool
    entries: list[FeedEntry]


def html_to_text(markup: str | None) -> str | None:
    """Visible text of an HTML fragment: paragraphs on their own lines, inline tags joined as shown."""
    if not markup or not markup.strip():
        return None
    return clean_text(markup)


def _timestamp(entry) -> str | None:
    for name in ("published", "updated", "created"):
        raw = entry.get(name)
        try:
            # Atom's ISO form keeps its fractions and zone; feedparser's time tuples drop them.
            instant = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
            if instant.tzinfo is not None:
                return instant.isoformat()
        except (AttributeError, ValueError):
            pass
        parsed = entry.get(f"{name}_parsed")
        if parsed:
            return datetime.fromtimestamp(calendar.timegm(parsed), timezone.utc).isoformat()
    return None


def _link(entry, base: str | None) -> str | None:
    """The entry's web page: its alternate link, else any http(s) link; never a urn: id."""
    candidates = [link.get("href") for link in entry.get("links") or [] if link.get("rel") == "alternate"]
    candidates += [entry.get("link")] + [link.get("href") for link in entry.get("links") or []]
    for candidate in candidates:
        absolute = urljoin(base or "", candidate or "")
        if absolute.startswith(("http://", "https://")) and candidate:
            return absolute
    return None


def _content(entry) -> str | None:
    for part in entry.get("content") or []:
        if part.get("value"):
            return part["value"]
    return entry.get("summary")


def _json_feed(body: bytes) -> ParsedFeed | None:
    """A JSON Feed (jsonfeed.org, 1.0 and 1.1), which feedparser 6.0 does not read; None if it is not one."""
    if not body.lstrip()[:1] == b"{":
        return None
    try:
        document = json.loads(body)
    except ValueError:
        return None
    if not isinstance(document, dict) or "jsonfeed.org" not in str(document.get("version", "")):
        return None
    entries = []
    for item in document.get("items") or []:
        if not isinstance(item, dict):
            continue
        authors = item.get("authors") or ([item["author"]] if isinstance(item.get("author"), dict) else [])
        names = [a.get("name") for a in authors if isinstance(a, dict) and a.get("name")]
        published = item.get("date_published") or item.get("date_modified")
        try:
            published = datetime.fromisoformat(published.replace("Z", "+00:00")).isoformat()
        except (AttributeError, ValueError):
            published = None
        text = html_to_text(item.get("content_html")) or " ".join(str(item.get("content_text") or "").split())
        entries.append(FeedEntry(title=(item.get("title") or "").strip() or None,
                                 link=item.get("url") or item.get("external_url"),
                                 entry_id=str(item["id"]) if item.get("id") is not None else None,
                                 author=", ".join(names) or None, published_at=published,
                                 text=text or html_to_text(item.get("summary"))))
    return ParsedFeed(document.get("title"), "utf-8", False, entries)


def parse_feed(body: bytes, content_type: str | None = None, url: str | None = None) -> ParsedFeed:
    """Entries of a feed; the HTTP Content-Type is passed on, since its charset outranks the XML's own."""
    json_feed = _json_feed(body)
    if json_feed is not None:
        return json_feed
    headers = {"content-type": content_type} if content_type else {}
    if url:
        headers["content-location"] = url
    parsed = feedparser.parse(body, response_headers=headers)
    entries = [FeedEntry(title=(entry.get("title") or "").strip() or None, link=_link(entry, url),
                         entry_id=entry.get("id"), author=entry.get("author"), published_at=_timestamp(entry),
                         text=html_to_text(_content(entry)))
               for entry in parsed.entries]
    return ParsedFeed(parsed.feed.get("title"), parsed.get("encoding"), bool(parsed.bozo), entries)
