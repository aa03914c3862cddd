"""Where kuchikomi keeps local state (crawl journals, spools, the local node, trained heads) and its cache."""
from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    """$KUCHIKOMI_HOME, else /var/lib/kuchikomi as root, else the user's data folder."""
    if os.environ.get("KUCHIKOMI_HOME"):
        return Path(os.environ["KUCHIKOMI_HOME"])
    if os.geteuid() == 0:
        return Path("/var/lib/kuchikomi")
    import platformdirs
    return Path(platformdirs.user_data_dir("kuchikomi"))


def cache() -> Path:
    """$KUCHIKOMI_CACHE, else the user's cache folder (built models: rebuilt if lost)."""
    if os.environ.get("KUCHIKOMI_CACHE"):
        return Path(os.environ["KUCHIKOMI_CACHE"])
    import platformdirs
    return Path(platformdirs.user_cache_dir("kuchikomi"))
