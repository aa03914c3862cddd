"""What each source's last complete crawl was, kept in KUCHIKOMI_HOME, for incremental re-crawls."""
from __future__ import annotations

import json
import os
from pathlib import Path

from foundations import paths


def _path() -> Path:
    return paths.home() / "state" / "sources.json"


def load(source: str) -> dict:
    try:
        return json.loads(_path().read_text(encoding="utf-8")).get(source, {})
    except (OSError, ValueError):
        return {}


def save(source: str, **values) -> None:
    path = _path()
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        everything = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        everything = {}
    everything[source] = {**everything.get(source, {}), **values}
    partial = path.with_suffix(".tmp")
    partial.write_text(json.dumps(everything, indent=2), encoding="utf-8")
    os.replace(partial, path)  # a crash mid-write leaves the old state, never half a file
