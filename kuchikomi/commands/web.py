"""`kuchikomi web`: the web workspace and the JSON API (/v1) in one process."""
from __future__ import annotations

import sys

from kuchikomi.commands import connect_elasticsearch, fail, load_monitor, server_options


def add_parser(sub, default_config: str):
    web = sub.add_parser("web", help="serve the web workspace (and the /v1 JSON API) for the team")
    web.add_argument("--config", "-c", default=default_config)
    server_options(web, 8080)
    return web


def run(args) -> None:
    import uvicorn

    from web.app import create_workspace
    monitor = load_monitor(args.config)
    connect_elasticsearch(monitor.elasticsearch)  # checked, and the reviews index exists for the pages
    try:
        app = create_workspace(monitor)
    except ValueError as exc:
        fail(str(exc))
    print(f"kuchikomi workspace: http://{args.host}:{args.port}/ (Ctrl-C stops it)", file=sys.stderr, flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level.lower(), proxy_headers=True)
