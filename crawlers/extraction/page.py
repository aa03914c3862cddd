"""`kuchikomi extract`: what the spider and the text stages make of one page, nothing stored."""
from __future__ import annotations

from pathlib import Path

import requests
from itemadapter import ItemAdapter
from scrapy.exceptions import DropItem
from scrapy.http import HtmlResponse

from crawlers import settings
from crawlers.extraction.page_items import page_items
from crawlers.extraction.structured_data import extract_graph, own_aggregate
from crawlers.middlewares.encoding import decoded
from pipelines.clean import CleanTextPipeline
from pipelines.language import LanguagePipeline
from pipelines.normalise import NormalisePipeline, finite_rating

TEXT_STAGES = (NormalisePipeline(), CleanTextPipeline(), LanguagePipeline())


def load_response(source: str, url: str | None = None) -> HtmlResponse:
    """The page as the crawl reads it: decoded as the crawl's encoding middleware decodes it."""
    if source.startswith(("http://", "https://")):
        reply = requests.get(source, headers={"User-Agent": settings.USER_AGENT}, timeout=30)
        reply.raise_for_status()
        return decoded(HtmlResponse(url=url or reply.url, body=reply.content,
                                    headers={"Content-Type": reply.headers.get("Content-Type", "text/html")}))
    path = Path(source)
    body = path.read_bytes()
    if path.suffix == ".gz":
        import gzip
        body = gzip.decompress(body)
    return decoded(HtmlResponse(url=url or path.resolve().as_uri(), body=body))


def extract_page(source: str, url: str | None = None, profile=None,
                 platform: str | None = None) -> tuple[list[dict], dict | None]:
    """(the page's reviews as the pipelines' text stages leave them, the page's own aggregate)."""
    response = load_response(source, url)
    nodes = extract_graph(response.text, response.url, response.selector.root)  # once: its warnings once
    items = []
    found = page_items(response, "extract", profile, platform, nodes)
    for item in found:
        try:
            for stage in TEXT_STAGES:
                item = stage.process_item(item)
        except DropItem:
            continue
        items.append(ItemAdapter(item).asdict())
    aggregate = own_aggregate(None, nodes)
    return items, aggregate if aggregate and finite_rating(aggregate) else None
