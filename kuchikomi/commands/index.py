"""`kuchikomi index status|migrate|rollover|maintain`: the reviews index's versions and upkeep."""
from __future__ import annotations

import sys
import time

from kuchikomi.commands import connect_elasticsearch, fail, load_monitor, maintain_index, table


def add_parser(sub, default_config: str):
    index = sub.add_parser("index", help="the reviews index: status, migrate, rollover, maintain")
    index.add_argument("action", choices=["status", "migrate", "rollover", "maintain"])
    index.add_argument("--config", "-c", default=default_config)
    index.add_argument("--keep-old", action="store_true", help="migrate: keep the old indices")
    index.add_argument("--force", action="store_true", help="rollover: even if no condition is met")
    index.add_argument("--every", type=float, help="maintain: repeat every N seconds")
    return index


def run(args) -> None:
    from index.storage.client import index_prefix
    from index.storage.schema import SchemaError, describe, migrate, rollover
    monitor = load_monitor(args.config)
    client = connect_elasticsearch(monitor.elasticsearch, write=False)
    prefix = index_prefix(monitor.elasticsearch)
    try:
        if args.action == "migrate":
            migrate(client, prefix, keep_old=args.keep_old, log=lambda m: print(m, file=sys.stderr))
        elif args.action == "rollover":
            new_index = rollover(client, prefix, monitor.elasticsearch.get("rollover"), force=args.force)
            print(f"rolled over to {new_index}" if new_index else
                  "no rollover condition is met (configure elasticsearch.rollover, or use --force)")
        elif args.action == "maintain":
            while True:
                for line in maintain_index(client, monitor) or ["nothing to do"]:
                    print(line, flush=True)
                if not args.every:
                    break
                time.sleep(args.every)
        else:
            rows = describe(client, prefix)
            print(table(["index", "schema_version", "write", "documents", "size_bytes"], rows) if rows
                  else f"no reviews index yet (prefix {prefix})")
    except SchemaError as exc:
        fail(str(exc))
