"""A stable id per review, so re-crawls overwrite instead of duplicating."""
from __future__ import annotations

import hashlib

from itemadapter import ItemAdapter
from scrapy.exceptions import DropItem
from w3lib.url import canonicalize_url


def document_id(item) -> str:
    """Canonical page URL plus the site's review id; without an id, author + date + text.

    The second form leaves the URL out on purpose: the same review shown on two URLs is one.
    """
    adapter = ItemAdapter(item)
    review_key = adapter.get("review_id") or adapter.get("review_url")
    if review_key:
        key = f"{canonicalize_url(adapter['source_url'])}\x1f{review_key}"
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
