"""`kuchikomi alerts list|retry|ack|test|run`: alert delivery, dead letters and scheduled rules."""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

from kuchikomi.commands import alert_dispatcher, fail, load_monitor


def add_parser(sub, default_config: str):
    alerts = sub.add_parser("alerts", help="alert delivery: list, retry, acknowledge, test, run")
    with_config = argparse.ArgumentParser(add_help=False)
    with_config.add_argument("--config", "-c", default=default_config, help="monitor config (YAML)")
    alerts_sub = alerts.add_subparsers(dest="action", required=True)
    listing = alerts_sub.add_parser("list", parents=[with_config], help="recent alerts with their delivery status")
    listing.add_argument("--failed", action="store_true", help="only failed and dead-letter alerts")
    listing.add_argument("--status", choices=["pending", "sending", "delivered", "failed", "dead"])
    listing.add_argument("--rule")
    listing.add_argument("--limit", type=int, default=50)
    listing.add_argument("--json", action="store_true")
    retry = alerts_sub.add_parser("retry", parents=[with_config], help="send failed and dead-letter alerts again")
    retry.add_argument("alert_ids", nargs="*", help="ids or id prefixes (default: all failed)")
    ack = alerts_sub.add_parser("ack", parents=[with_config], help="acknowledge alerts (handled; never sent again)")
    ack.add_argument("alert_ids", nargs="+")
    ack.add_argument("--by", default=os.environ.get("USER", "unknown"))
    test = alerts_sub.add_parser("test", parents=[with_config], help="send a sample alert to a rule's channels")
    test.add_argument("rule_name")
    scheduled = alerts_sub.add_parser("run", parents=[with_config],
                                      help="run scheduled rules (spike, digest) and send due alerts")
    scheduled.add_argument("--every", type=float, help="repeat every N seconds")
    return alerts


def run(args) -> None:
    from alerts.dispatch import utc_now
    from alerts.state import DEAD, FAILED
    dispatcher = alert_dispatcher(load_monitor(args.config))
    state = dispatcher.state
    if args.action == "list":
        statuses = [FAILED, DEAD] if args.failed else ([args.status] if args.status else None)
        records = state.list(statuses, args.rule, args.limit)
        for record in records:
            print(json.dumps(record, ensure_ascii=False) if args.json else _alert_line(record))
        print(f"{len(records)} alerts shown; by status: {state.counts()}", file=sys.stderr)
    elif args.action == "retry":
        ids = [_record(state, alert_id)["alert_id"] for alert_id in args.alert_ids] or \
            [record["alert_id"] for record in state.list([FAILED, DEAD], limit=10000)]
        state.requeue(ids, utc_now())
        counts = dispatcher.deliver_due()
        print(f"{len(ids)} alerts queued again: {counts['delivered']} delivered, "
              f"{counts['failed'] + counts['dead']} failed")
        if counts["failed"] + counts["dead"]:
            sys.exit(1)
    elif args.action == "ack":
        for alert_id in args.alert_ids:
            record = _record(state, alert_id)
            state.acknowledge(record["alert_id"], args.by, utc_now())
            print(f"acknowledged {record['alert_id'][:12]}: {record['alert'].get('headline')}")
    elif args.action == "test":
        if args.rule_name not in dispatcher.rules:
            fail(f"no alert rule named {args.rule_name!r} (rules: {', '.join(dispatcher.rules) or 'none'})")
        results = dispatcher.send_test(args.rule_name)
        for channel, result in results.items():
            print(f"{channel}: {result}")
        if any(result != "delivered" for result in results.values()):
            sys.exit(1)
    else:
        _run_scheduled(dispatcher, args.every)


def _alert_line(record: dict) -> str:
    from alerts.message import one_line
    alert = record["alert"]
    latency = f"{record['latency_ms'] / 1000:.1f}s" if record.get("latency_ms") is not None else "-"
    status = record["status"] + (" (acknowledged)" if record.get("acknowledged") else "")
    when = (record.get("delivered_at") or record.get("due_at") or record["created_at"])[:19]
    line = (f"{record['alert_id'][:12]}  {status:<10} {when}  latency {latency:>6}  {one_line(record['rule'])}: "
            f"{one_line(alert.get('headline') or alert.get('title'))} | {one_line(alert.get('url') or '')}")
    if record.get("error") and record["status"] != "delivered":
        line += f"\n    attempts {record.get('attempts', 0)}, last error: {one_line(record['error'])[:300]}"
    return line


def _record(state, alert_id: str) -> dict:
    record = state.find(alert_id)
    if record is None:
        fail(f"no alert with id {alert_id!r} (see `kuchikomi alerts list`)")
    return record


def _run_scheduled(dispatcher, every: float | None) -> None:
    """Scheduled rules and due deliveries, once or every N seconds (for cron or a service)."""
    while True:
        claims = [claim for claim in map(dispatcher.submit, dispatcher.run_scheduled()) if claim]
        counts = dispatcher.deliver_claimed(claims)
        for key, value in dispatcher.deliver_due().items():
            counts[key] += value
        print(f"{len(claims)} new scheduled alerts; delivered {counts['delivered']}, failed {counts['failed']}, "
              f"dead {counts['dead']}", flush=True)
        if not every:
            return
        time.sleep(every)
