"""Apps (the JSON API, the workspace) served by uvicorn on 127.0.0.1 in a background thread, as `kuchikomi api` serves it."""
from __future__ import annotations

import contextlib
import threading
import time
from pathlib import Path
from typing import Iterator

import uvicorn

from foundations.ports import free_port
from index.research.api import create_app, server_config
from kuchikomi.config import load_monitor


@contextlib.contextmanager
def running_api(config: Path) -> Iterator[str]:
    """The API for this monitor config; yields its base URL."""
    with served(server_config(create_app(load_monitor(config)), "127.0.0.1", free_port(), "warning")) as url:
        yield url


@contextlib.contextmanager
def served(config: uvicorn.Config) -> Iterator[str]:
    """An app served by uvicorn in a background thread until the block ends; yields its base URL."""
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{server.config.port}"
    finally:
        server.should_exit = True
        thread.join(10)
