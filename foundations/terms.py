"""Finding names (brands and their aliases, alert keywords) in text: case-, width- and
kana-insensitive, no spaces needed, Latin names only as whole words."""
from __future__ import annotations

import ahocorasick

from foundations.text import fold_width_and_kana


def _is_word_char(char: str) -> bool:
    return char.isascii() and char.isalnum()


class TermMatcher:
    """Brand names with their aliases, or an alert rule's keywords, as {"name", "aliases"} entries."""

    def __init__(self, brands: list[dict]):
        self.automaton = ahocorasick.Automaton()
        for brand in brands:
            for alias in {brand["name"], *brand.get("aliases", [])}:
                key = fold_width_and_kana(alias)
                entries = self.automaton.get(key, []) if key in self.automaton else []
                self.automaton.add_word(key, entries + [(brand["name"], alias, key)])
        self.empty = not brands
        if not self.empty:
            self.automaton.make_automaton()

    def match(self, text: str) -> tuple[list[str], list[str]]:
        """(brand names, aliases found) in order of first mention."""
        if self.empty or not text:
            return [], []
        folded = fold_width_and_kana(text)
        brands, terms = [], []
        for end, entries in self.automaton.iter(folded):
            for name, alias, key in entries:
                if not _whole_word(folded, end - len(key) + 1, end + 1, key):
                    continue
                if name not in brands:
                    brands.append(name)
                if alias not in terms:
                    terms.append(alias)
        return brands, terms

    def spans(self, text: str) -> list[tuple[int, int, str]]:
        """(start, end, name) of each mention in `text` itself, longest first where two overlap, for
        highlighting. Characters are folded one by one here so that positions map back to the text."""
        if self.empty or not text:
            return []
        folded, starts, ends = "", [], []
        position = 0
        while position < len(text):
            # A half-width (semi-)voiced sound mark folds together with the kana before it: ﾊﾟ is パ.
            width = 2 if text[position + 1:position + 2] in ("\uff9e", "\uff9f") else 1
            piece = fold_width_and_kana(text[position:position + width])
            folded += piece
            starts += [position] * len(piece)
            ends += [position + width] * len(piece)
            position += width
        found = []
        for end, entries in self.automaton.iter(folded):
            for name, alias, key in entries:
                start = end - len(key) + 1
                if _whole_word(folded, start, end + 1, key):
                    found.append((starts[start], ends[end], name))
        found.sort(key=lambda span: (span[0], span[0] - span[1]))
        spans = []
        for span in found:
            if not spans or span[0] >= spans[-1][1]:
                spans.append(span)
        return spans


def _whole_word(folded: str, start: int, end: int, key: str) -> bool:
    """Latin aliases must stand as words ("Sony" is not in "Sonya"); CJK has no spaces."""
    if _is_word_char(key[0]) and start > 0 and _is_word_char(folded[start - 1]):
        return False
    return not (_is_word_char(key[-1]) and end < len(folded) and _is_word_char(folded[end]))
