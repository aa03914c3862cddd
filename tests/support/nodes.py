"""Elasticsearch nodes of the tests' own: the shipped build in a temporary home outside /root, alone or as a
cluster of several on 127.0.0.1."""
from __future__ import annotations

import contextlib
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Iterator

from foundations.ports import free_port
from index.storage.node import LocalNode, Membership


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


@contextlib.contextmanager
def own_cluster(size: int = 3, timeout: float = 180.0) -> Iterator[list[tuple[LocalNode, str]]]:
    """`size` started nodes forming one cluster (each with its own home, data, HTTP and transport port, every
    one master-eligible), and their URLs; stopped and removed when the block ends."""
    cluster = f"kuchikomi-test-{uuid.uuid4().hex[:8]}"
    members = {f"{cluster}-{number}": free_port() for number in range(1, size + 1)}
    homes = [Path(tempfile.mkdtemp(prefix=f"kuchikomi-test-es-{name}-", dir="/var/tmp")) for name in members]
    nodes = [LocalNode(home) for home in homes]
    try:
        urls = [node.start(port=free_port(), wait=False,
                           membership=Membership(cluster, name, transport_port, members))
                for node, (name, transport_port) in zip(nodes, members.items())]
        for node in nodes:
            node.wait_for(timeout, nodes=size)
        yield list(zip(nodes, urls))
    finally:
        for node in nodes:
            node.stop()
        for home in homes:
            shutil.rmtree(home, ignore_errors=True)
