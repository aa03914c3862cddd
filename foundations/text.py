"""Folding text for comparison: the same words written in full or half width, upper or lower case."""
from __future__ import annotations

import unicodedata

import jaconv


def fold_width(text: str) -> str:
    """NFKC (half-width katakana and full-width Latin to their usual forms) and case folding, as the
    index's analyzers fold what they store."""
    return unicodedata.normalize("NFKC", text).casefold()


def fold_width_and_kana(text: str) -> str:
    """fold_width, then katakana as hiragana: ソニー, ｿﾆｰ and そにー compare equal."""
    return jaconv.kata2hira(fold_width(text))
