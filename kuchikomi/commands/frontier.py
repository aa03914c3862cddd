"""`kuchikomi frontier status|clear`: the shared Redis frontier of the monitor's sources."""
from __future__ import annotations

from kuchikomi.commands import fail, load_monitor, table


def add_parser(sub, default_config: str):
    frontier = sub.add_parser("frontier", help="show or reset the shared crawl frontier (crawl.frontier, Redis)")
    frontier.add_argument("action", choices=["status", "clear"])
    frontier.add_argument("--config", "-c", default=default_config, help="monitor config (YAML)")
    return frontier


def run(args) -> None:
    import redis

    from crawlers.frontier.redis_frontier import frontier_keys
    monitor = load_monitor(args.config)
    url = monitor.crawl.get("frontier")
    if not url:
        fail(f"{args.config} has no crawl.frontier: its crawls keep their queue in a local journal")
    server = redis.Redis.from_url(url, socket_connect_timeout=5)
    rows = []
    try:
        for source in monitor.sources:
            keys = frontier_keys(source["name"])
            if args.action == "clear":
                server.delete(*keys.values())
            rows.append({"source": source["name"], "queued": server.zcard(keys["queue"]),
                         "seen": server.zcard(keys["seen"]), "leased": server.zcard(keys["leases"])})
    except redis.RedisError as exc:
        fail(f"the frontier (crawl.frontier) did not answer: {exc}", 1)
    print(table(["source", "queued", "seen", "leased"], rows))
