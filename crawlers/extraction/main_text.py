"""The main text of an article or post page (trafilatura): navigation, boilerplate and comment widgets removed."""
from __future__ import annotations

from dataclasses import dataclass

import trafilatura

# Quality is held by tests/test_main_text.py: mean token F1 on the article-extraction-benchmark
# must stay at or above this floor (measured 0.956 with trafilatura 1.12.2).
F1_FLOOR = 0.935


@dataclass
class MainText:
    title: str | None
    text: str | None
    author: str | None
    date: str | None


def main_text(html: str, url: str | None = None) -> MainText:
    found = trafilatura.bare_extraction(html, url=url, include_comments=False, with_metadata=True,
                                        include_tables=True) or {}
    text = " ".join((found.get("text") or "").split()) or None
    return MainText(found.get("title"), text, found.get("author"), found.get("date"))
