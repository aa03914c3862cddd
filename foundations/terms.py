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
                start = end - len(key) + 1
                # Latin aliases must stand as words ("Sony" is not in "Sonya"); CJK has no spaces.
                if _is_word_char(key[0]) and start > 0 and _is_word_char(folded[start - 1]):
                    continue
                if _is_word_char(key[-1]) and end + 1 < len(folded) and _is_word_char(folded[end + 1]):
                    continue
                if name not in brands:
                    brands.append(name)
                if alias not in terms:
                    terms.append(alias)
        return brands, terms
