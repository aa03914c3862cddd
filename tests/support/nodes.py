"""Elasticsearch nodes of the tests' own: the shipped build in a temporary home outside /root."""
from __future__ import annotations

import contextlib
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

from foundations.ports import free_port
from index.storage.node import LocalNode


@contextlib.contextmanager
def own_node(name: str) -> Iterator[tuple[LocalNode, str]]:
    """A started node and its URL, stopped and removed when the block ends."""
    home = Path(tempfile.mkdtemp(prefix=f"kuchikomi-test-es-{name}-", dir="/var/tmp"))
    node = LocalNode(home)
    try:
        yield node, node.start(port=free_port())
    finally:
        node.stop()
        shutil.rmtree(home, ignore_errors=True)
