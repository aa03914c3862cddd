"""`kuchikomi es start|stop|status`: the local Elasticsearch node."""
from __future__ import annotations

import sys

from kuchikomi.commands import fail


def add_parser(sub, default_config: str):
    es = sub.add_parser("es", help="manage the local Elasticsearch node")
    es.add_argument("action", choices=["start", "stop", "status"])
    es.add_argument("--port", type=int, help="HTTP port (default 9200, or a free one)")
    return es


def run(args) -> None:
    from index.storage.node import LocalNode, NodeError
    node = LocalNode.default()
    if args.action == "start":
        try:
            print(f"starting Elasticsearch {node.home} ...", file=sys.stderr)
            print(node.start(port=args.port))
        except NodeError as exc:
            fail(str(exc), 1)
    elif args.action == "stop":
        print("stopped" if node.stop() else "not running")
    elif node.is_running():
        print(f"running at {node.url} (home {node.home})")
    else:
        print(f"not running (home {node.home})")
        sys.exit(3)
