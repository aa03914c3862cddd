"""Plain text from review bodies that may carry HTML, entities and odd whitespace."""
from __future__ import annotations

import re

from bs4 import BeautifulSoup
from itemadapter import ItemAdapter

CLEANED_FIELDS = ("title", "body", "author", "item_name")
BLOCK_TAGS = ["p", "br", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote"]
_MARKUP = re.compile(r"<[a-zA-Z/!]|&[#a-zA-Z0-9]+;")
_INVISIBLE = re.compile(r"[\u200b\u200c\u200d\u2060\ufeff\u00ad]")
_SPACES = re.compile(r"[ \t\r\f\v\u00a0\u3000]+")
_BLANK_LINES = re.compile(r"\n\s*\n+")
_LATIN_END = re.compile(r"[A-Za-z0-9\u00c0-\u024f]$")
_LATIN_START = re.compile(r"^[A-Za-z0-9\u00c0-\u024f]")


def _joined_text(soup: BeautifulSoup) -> str:
    """Text nodes joined as a browser shows them: CJK split by inline tags stays whole (多谢<b>你</b>), while
    two Latin words that only a tag separates (<span>By</span><a>Ann</a>) keep a space between them."""
    parts: list[str] = []
    for text in soup.strings:  # comments and doctypes are not text
        if not text:
            continue
        if parts and _LATIN_END.search(parts[-1]) and _LATIN_START.match(text):
            parts.append(" ")
        parts.append(text)
    return "".join(parts)


def clean_text(value: str | None) -> str | None:
    if not value:
        return value
    if _MARKUP.search(value):
        soup = BeautifulSoup(value, "lxml")
        for tag in soup(["script", "style", "noscript", "template"]):
            tag.decompose()
        for tag in soup.find_all(BLOCK_TAGS):
            tag.insert_before("\n")
            tag.insert_after("\n")
        value = _joined_text(soup)
    value = _INVISIBLE.sub("", value)
    lines = [_SPACES.sub(" ", line).strip() for line in value.split("\n")]
    value = _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()
    return value or None


class CleanTextPipeline:
    def process_item(self, item):
        adapter = ItemAdapter(item)
        for name in CLEANED_FIELDS:
            if adapter.get(name):
                adapter[name] = clean_text(adapter[name])
        return item
