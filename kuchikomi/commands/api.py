"""`kuchikomi api`: the read-only JSON API over the reviews index."""
from __future__ import annotations

from kuchikomi.commands import fail, load_monitor, server_options


def add_parser(sub, default_config: str):
    api = sub.add_parser("api", help="serve the read-only JSON API (OpenAPI at /openapi.json)")
    api.add_argument("--config", "-c", default=default_config)
    server_options(api, 8000)
    return api


def run(args) -> None:
    import uvicorn

    from index.research.api import create_app, server_config
    monitor = load_monitor(args.config)
    try:
        app = create_app(monitor)
    except ValueError as exc:
        fail(str(exc))
    uvicorn.Server(server_config(app, args.host, args.port, args.log_level.lower())).run()
