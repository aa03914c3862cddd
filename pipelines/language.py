"""The language of each review, from its own text; the page's declaration only as a fallback."""
from __future__ import annotations

from itemadapter import ItemAdapter

from foundations.language import detect_language, identifier
from foundations.review_text import review_text


class LanguagePipeline:
    def open_spider(self):
        identifier()  # the model loads before the first page, not while its reviews wait

    def process_item(self, item):
        adapter = ItemAdapter(item)
        adapter["language"] = detect_language(review_text(adapter), adapter.get("page_language"))
        return item
