"""The language of each review, from its own text; the page's declaration only as a fallback."""
from __future__ import annotations

import re

import py3langid
from itemadapter import ItemAdapter

# Kana only occur in Japanese, which a character-statistics model can mistake for Chinese
# when a review is mostly kanji.
KANA = re.compile(r"[\u3040-\u30ff\uff66-\uff9f]")
HANGUL = re.compile(r"[\uac00-\ud7af]")
SHORT_TEXT = 12  # characters; below this the declared page language is more reliable


def detect_language(text: str, declared: str | None = None) -> str | None:
    declared = declared.split("-")[0].split("_")[0].lower() if declared else None
    stripped = "".join(text.split())
    if not stripped:
        return declared
    if KANA.search(stripped):
        return "ja"
    if HANGUL.search(stripped):
        return "ko"
    if len(stripped) < SHORT_TEXT and declared:
        return declared
    return py3langid.classify(text)[0]


class LanguagePipeline:
    def process_item(self, item):
        adapter = ItemAdapter(item)
        text = "\n".join(filter(None, [adapter.get("title"), adapter.get("body")]))
        adapter["language"] = detect_language(text, adapter.get("page_language"))
        return item
