"""A stable id per review, so re-crawls overwrite instead of duplicating."""
from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from itemadapter import ItemAdapter
from scrapy.exceptions import DropItem
from w3lib.url import canonicalize_url


@lru_cache(maxsize=1)
def _tracking_parameters() -> tuple[frozenset[str], tuple[str, ...]]:
    lines = (Path(__file__).parent / "tracking_parameters.txt").read_text(encoding="utf-8").splitlines()
    names = [line.strip().lower() for line in lines if line.strip() and not line.startswith("#")]
    return (frozenset(n for n in names if not n.endswith("*")),
            tuple(n[:-1] for n in names if n.endswith("*")))


def canonical_url(url: str) -> str:
    """The URL without tracking parameters, in w3lib's canonical form (sorted query, no fragment)."""
    exact, prefixes = _tracking_parameters()
    parts = urlsplit(url)
    query = [(name, value) for name, value in parse_qsl(parts.query, keep_blank_values=True)
             if name.lower() not in exact and not name.lower().startswith(prefixes)]
    return canonicalize_url(urlunsplit(parts._replace(query=urlencode(query))))


def document_id(item) -> str:
    """Canonical page URL plus the site's review id; without an id, author + date + text.

    The second form leaves the URL out on purpose: the same review shown on two URLs is one.
    """
    adapter = ItemAdapter(item)
    review_key = adapter.get("review_id") or adapter.get("review_url")
    if review_key:
        key = f"{canonical_url(adapter['source_url'])}\x1f{review_key}"
    else:
        text = " ".join((adapter.get("body") or adapter.get("title") or "").split())
        key = f"{adapter.get('author') or ''}\x1f{adapter.get('published_at') or ''}\x1f{text}"
    return hashlib.sha1(key.encode("utf-8")).hexdigest()


class DedupPipeline:
    def __init__(self, stats=None):
        self.stats = stats
        self.seen: set[str] = set()

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler.stats)

    def process_item(self, item):
        adapter = ItemAdapter(item)
        adapter["doc_id"] = document_id(item)
        if adapter["doc_id"] in self.seen:
            if self.stats is not None:
                self.stats.inc_value("kuchikomi/dropped/duplicate")
            raise DropItem(f"duplicate of review {adapter['doc_id']} ({adapter['source_url']})")
        self.seen.add(adapter["doc_id"])
        return item
