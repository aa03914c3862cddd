"""bench/web: server time of the workspace's overview and inbox on a large index, against the same
Elasticsearch requests issued bare in the same run.

    .venv/bin/python bench/web.py [--docs 1000000] [--repeats 40] [--heap 2g]

The reviews of bench/index.py (ja/zh/en, 2023-2024) are bulk-loaded into one index (request cache off,
so every query is computed). The workspace is served by uvicorn on 127.0.0.1 and signed in to once.
Each run picks a 90-day window in 2024 and a filter (none, a brand, a language, or a search), loads the
page, and reads its server time (Server-Timing: everything from the session check to the rendered
HTML, Elasticsearch included). Every Elasticsearch request the page made is recorded and then issued
again bare through the same client (requests the page made concurrently, concurrently again): the
floor that the page's own work sits on. Figures: p50/p95 ms of both, per page.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import random
import re
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections import defaultdict
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402
import uvicorn  # noqa: E402
import yaml  # noqa: E402
from elasticsearch import Elasticsearch  # noqa: E402

from foundations.ports import free_port  # noqa: E402
from index.storage.node import LocalNode  # noqa: E402
from kuchikomi.config import load_monitor  # noqa: E402
from tests.support.api import served  # noqa: E402
from web.app import create_workspace  # noqa: E402
from web.indices import workspace_index  # noqa: E402
from web.users import Users  # noqa: E402

# bench/index.py's generator and loader (imported by path: its module name would shadow the index package).
_spec = importlib.util.spec_from_file_location("bench_index", ROOT / "bench" / "index.py")
bench_index = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench_index)
PASSWORD = "bench-password-0123"


class Recorder:
    """Every request a client sends while recording, with the thread it came from."""

    def __init__(self, client: Elasticsearch):
        self.transport = client.transport
        self.send = client.transport.perform_request
        self.calls: list[tuple[int, str, str, dict, object]] = []
        self.recording = False
        client.transport.perform_request = self._perform

    def _perform(self, method, url, headers=None, params=None, body=None):
        if self.recording:
            self.calls.append((threading.get_ident(), method, url, dict(params or {}), body))
        return self.send(method, url, headers=headers, params=params, body=body)

    def replay(self) -> float:
        """The recorded requests again, each thread's in order, the threads side by side: wall ms."""
        by_thread = defaultdict(list)
        for ident, method, url, params, body in self.calls:
            by_thread[ident].append((method, url, params, body))

        def run(calls):
            for method, url, params, body in calls:
                self.send(method, url, params=params, body=body)

        started = time.perf_counter()
        threads = [threading.Thread(target=run, args=(calls,)) for calls in by_thread.values()]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return (time.perf_counter() - started) * 1000


def views(rng: random.Random) -> dict:
    start = date(2024, 1, 1) + timedelta(days=rng.randrange(270))
    params = {"since": start.isoformat(), "until": (start + timedelta(days=89)).isoformat()}
    choice = rng.randrange(4)
    if choice == 1:
        params["brand"] = rng.choice(bench_index.BRANDS)["name"]
    elif choice == 2:
        params["language"] = rng.choice(["ja", "zh", "en"])
    elif choice == 3:
        params["q"] = rng.choice(["壊れた", "退货", "refund -slow", "充電器 返品"])
    return params


def measure(session: requests.Session, url: str, path: str, recorder: Recorder, repeats: int) -> tuple[list, list]:
    rng = random.Random(11)
    server, bare = [], []
    for run in range(repeats + 1):
        recorder.calls, recorder.recording = [], True
        reply = session.get(f"{url}{path}", params=views(rng))
        recorder.recording = False
        assert reply.status_code == 200 and 'class="error"' not in reply.text, reply.text[:2000]
        replayed = recorder.replay()
        if run:  # the first of each page warms its caches and field data
            server.append(float(re.search(r"app;dur=([\d.]+)", reply.headers["server-timing"])[1]))
            bare.append(replayed)
    return server, bare


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, int(0.95 * len(ordered)) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=1_000_000, help="generated reviews in the index")
    parser.add_argument("--repeats", type=int, default=40)
    parser.add_argument("--heap", default="2g", help="the benchmark node's JVM heap")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="kuchikomi-bench-web-", dir="/var/tmp"))
    os.environ["KUCHIKOMI_HOME"] = str(home / "state")
    os.environ["KUCHIKOMI_ES_HEAP"] = args.heap
    node = LocalNode(home / "elasticsearch")
    try:
        es_url = node.start(port=free_port())
        client = Elasticsearch([es_url], timeout=120)
        bench_index.load_large(client, args.docs)  # prefix bench-large
        config = home / "monitor.yaml"
        config.write_text(yaml.safe_dump({"elasticsearch": {"url": es_url, "index_prefix": "bench-large"},
                                          "brands": bench_index.BRANDS,
                                          "sources": [{"name": "bench", "start_urls": ["http://127.0.0.1:9/"]}]},
                                         allow_unicode=True))
        monitor = load_monitor(config)
        Users(client, workspace_index(monitor.elasticsearch, "users")).add("bench", "viewer", PASSWORD)
        app = create_workspace(monitor)
        recorder = Recorder(app.workspace.state.workspace.client)
        with served(uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning")) as url:
            session = requests.Session()
            token = re.search(r'name="csrf" value="([^"]+)"', session.get(f"{url}/login").text)[1]
            session.post(f"{url}/login", data={"name": "bench", "password": PASSWORD, "csrf": token})
            print(f"workspace pages on {client.count(index='bench-large-reviews')['count']:,} reviews "
                  f"({args.repeats} runs each, a different 90-day window and filter each run, request cache off):")
            print(f"  {'page':<10} {'server p50':>11} {'server p95':>11} {'bare ES p50':>12} {'bare ES p95':>12}")
            for name, path in (("overview", "/"), ("inbox", "/inbox")):
                times, bare = measure(session, url, path, recorder, args.repeats)
                print(f"  {name:<10} {statistics.median(times):8.1f} ms {p95(times):8.1f} ms "
                      f"{statistics.median(bare):9.1f} ms {p95(bare):9.1f} ms", flush=True)
    finally:
        node.stop()
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
