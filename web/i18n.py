"""The interface's words in English and Japanese, as data (web/i18n/{en,ja}.json)."""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

LANGUAGES = ("en", "ja")
DEFAULT = "en"
HERE = Path(__file__).parent / "i18n"


@lru_cache(maxsize=None)
def messages(language: str) -> dict[str, str]:
    return json.loads((HERE / f"{language}.json").read_text(encoding="utf-8"))


def negotiate(accept_language: str | None, chosen: str | None) -> str:
    """The language the user switched to (cookie), else the first supported one the browser asks for."""
    if chosen in LANGUAGES:
        return chosen
    ranked = []
    for position, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        ranked.append((-quality, position, tag.split("-")[0].lower()))
    for _, _, language in sorted(ranked):
        if language in LANGUAGES:
            return language
    return DEFAULT


class Translator:
    def __init__(self, language: str):
        self.language = language
        self.table = messages(language)

    def __call__(self, key: str, **values) -> str:
        text = self.table.get(key) or messages(DEFAULT).get(key, key)
        return text.format(**values) if values else text

    def category(self, name: str) -> str:
        """A shipped category in this language; a team's own category as it is named in the config."""
        key = f"category_{name}"
        return self.table.get(key) or messages(DEFAULT).get(key) or name
