"""`kuchikomi crawl --loop`: each source crawled again when its `every` has passed since its last start.

Every round runs the due sources in a fresh `kuchikomi crawl` process (Scrapy's reactor runs once
per process); their last start times live in KUCHIKOMI_HOME, so a restarted loop keeps the schedule.
"""
from __future__ import annotations

import subprocess
import sys
import time
from datetime import datetime, timezone

from crawlers import source_state
from foundations.durations import parse_duration

DEFAULT_EVERY = "1h"


def due_in(source: dict, default_every: str, now: float) -> float:
    """Seconds until the source is due (0 or less: now)."""
    last = source_state.load(source["name"]).get("last_started")
    if not last:
        return 0.0
    started = datetime.fromisoformat(last).timestamp()
    return started + parse_duration(source.get("every", default_every)) - now


def run_loop(monitor, config_path: str, options: list[str], rounds: int | None = None,
             only: list[str] | None = None, log=print) -> None:
    default_every = monitor.crawl.get("every", DEFAULT_EVERY)
    sources = [s for s in monitor.sources if not only or s["name"] in only]
    done = 0
    while rounds is None or done < rounds:
        now = time.time()
        due = [s["name"] for s in sources if due_in(s, default_every, now) <= 0]
        if due:
            started = datetime.now(timezone.utc).isoformat()
            for name in due:
                source_state.save(name, last_started=started)
            log(f"[{started[:19]}] crawling {', '.join(due)}")
            command = [sys.executable, "-m", "kuchikomi.cli", "crawl", "-c", config_path, *options]
            for name in due:
                command += ["--source", name]
            subprocess.run(command, check=False)
            done += 1
            continue
        wait = min(due_in(s, default_every, time.time()) for s in sources)
        time.sleep(max(0.5, wait))
