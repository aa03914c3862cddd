"""Evaluate rules, record each alert once, and deliver what is due.

An alert is first recorded (claimed) with the time it is due: now, or later when its rule groups
a burst, throttles (realert) or is in quiet hours. `deliver_due` sends every due record, one
message per (rule, group), retrying failed channels with backoff until `max_attempts`, after which
the record is a dead letter for `kuchikomi alerts retry`.
"""
from __future__ import annotations

import logging
import os
import socket
from collections import defaultdict
from datetime import datetime, timedelta, timezone

from alerts.channels import build_channels
from alerts.message import Message
from alerts.rules import build_rules
from alerts.rules.base import RuleContext, iso, parse_time
from alerts.state import DEAD, DELIVERED, FAILED, SENDING, DeliveryState
from foundations.durations import SCHEMA as DURATION, parse_duration

logger = logging.getLogger(__name__)

DELIVERY_SCHEMA = {
    "type": "object", "additionalProperties": False,
    "properties": {
        "max_attempts": {"type": "integer", "minimum": 1, "maximum": 100},
        "retry_backoff": DURATION,
        "lease": DURATION,
    },
}


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


class AlertDispatcher:
    def __init__(self, alerts_config: dict, state: DeliveryState, base_dir=None, client=None,
                 reviews_index: str = ""):
        self.rules = {rule.name: rule for rule in build_rules(alerts_config.get("rules", []))}
        self.channels = build_channels(alerts_config.get("channels", {}), base_dir)
        self.state = state
        self.client = client
        self.reviews_index = reviews_index
        delivery = alerts_config.get("delivery", {})
        self.max_attempts = delivery.get("max_attempts", 5)
        self.retry_backoff = parse_duration(delivery.get("retry_backoff", "30s"))
        self.lease_seconds = parse_duration(delivery.get("lease", "2m"))
        self.worker = f"{socket.gethostname()}:{os.getpid()}"

    def _context(self, now: datetime) -> RuleContext:
        return RuleContext(self.client, self.reviews_index, now)

    def evaluate(self, item, now: datetime | None = None) -> list[dict]:
        """Alerts from the per-item rules for one stored review."""
        context = self._context(now or utc_now())
        return [alert for rule in self.rules.values() if not rule.scheduled
                for alert in rule.match(item, context)]

    def alert_now(self, review: dict) -> tuple[int, dict[str, int]]:
        """Evaluate the per-item rules on one review as it is now (after a person relabelled it),
        record what is new and send it at once: (new alerts, counts by delivery outcome)."""
        claims = [claim for claim in map(self.submit, self.evaluate(review)) if claim]
        return len(claims), self.deliver_claimed(claims)

    def run_scheduled(self, now: datetime | None = None) -> list[dict]:
        """Alerts from the scheduled rules (spike, digest) as of `now`."""
        context = self._context(now or utc_now())
        return [alert for rule in self.rules.values() if rule.scheduled for alert in rule.run(context)]

    def submit(self, alert: dict, now: datetime | None = None) -> dict | None:
        """Record a new alert; None if it was recorded before (a re-crawl, another worker),
        else the claimed record, for `deliver_claimed`."""
        now = now or utc_now()
        rule = self.rules[alert["rule"]]
        key = rule.group_key(alert)
        alert["matched_at"] = iso(now)
        waits = bool(rule.group_window or rule.realert or rule.quiet_hours)
        due = self._due_at(rule, key, now)
        # Due now: created already leased to this worker, which sends it next (deliver_claimed).
        lease = (self.lease_seconds, self.worker) if due <= now else None
        return self.state.claim(alert, key, due, now, searchable=waits, lease=lease)

    def _due_at(self, rule, key: str, now: datetime) -> datetime:
        due = now
        if rule.group_window:
            collecting = self.state.open_group_due(rule.name, key)
            due = collecting if collecting and collecting > now else now + timedelta(seconds=rule.group_window)
        if rule.realert:
            last = self.state.last_delivered(rule.name, key)
            if last and last + timedelta(seconds=rule.realert) > due:
                due = last + timedelta(seconds=rule.realert)
        if rule.quiet_hours:
            due = rule.quiet_hours.release(due)
        return due

    def deliver_due(self, now: datetime | None = None) -> dict[str, int]:
        """Send every due record, one message per (rule, group); counts records by outcome."""
        live = now is None  # a given `now` replays a schedule: its times are recorded as given
        now = now or utc_now()
        return self._deliver(self.state.due(now), now, live)

    def deliver_claimed(self, claims: list[dict], now: datetime | None = None) -> dict[str, int]:
        """Send the records this worker just claimed and that are due already: no search, so
        an alert leaves as soon as it is recorded; the rest wait for `deliver_due`."""
        live = now is None
        now = now or utc_now()
        mine = [c for c in claims if c["_source"]["status"] == SENDING and c["_source"]["worker"] == self.worker]
        return self._deliver(mine, now, live, already_leased=True)

    def _deliver(self, hits: list[dict], now: datetime, live: bool,
                 already_leased: bool = False) -> dict[str, int]:
        groups = defaultdict(list)
        for hit in hits:
            groups[(hit["_source"]["rule"], hit["_source"].get("group_key"))].append(hit)
        counts = {DELIVERED: 0, FAILED: 0, DEAD: 0}
        for hits in groups.values():
            leased = [hit["_source"] for hit in hits
                      if already_leased or self.state.lease(hit, now, self.lease_seconds, self.worker)]
            if leased:
                status = self._send(leased, now, live)
                counts[status] += len(leased)
        return counts

    def _send(self, records: list[dict], now: datetime, live: bool) -> str:
        """Send one message for these records to every channel that has not had it yet."""
        channel_names = []
        for record in records:
            channel_names += [c for c in record["alert"]["channels"] if c not in channel_names]
        errors = []
        statuses = {r["alert_id"]: dict(r.get("channels") or {}) for r in records}
        for name in channel_names:
            waiting = [r for r in records if name in r["alert"]["channels"]
                       and statuses[r["alert_id"]].get(name, {}).get("status") != DELIVERED]
            if not waiting:
                continue  # a retry resends only to the channels that failed
            if name not in self.channels:
                logger.warning("channel %s is no longer configured; skipped for %d alerts", name, len(waiting))
                continue
            message = Message([r["alert"] for r in waiting])
            try:
                self.channels[name].send(message)
                result = {"status": DELIVERED, "at": iso(utc_now()), "message_id": message.message_id}
            except Exception as exc:  # one channel failing must not stop the others
                result = {"status": FAILED, "error": str(exc), "at": iso(utc_now())}
                errors.append(f"{name}: {exc}")
                logger.error("alert message %s not delivered to %s: %s", message.message_id, name, exc)
            for record in waiting:
                statuses[record["alert_id"]][name] = result
        finished = utc_now() if live else now
        if not errors:
            for record in records:
                fields = {"status": DELIVERED, "channels": statuses[record["alert_id"]], "error": None,
                          "delivered_at": iso(finished), "updated_at": iso(finished),
                          "message_id": Message([r["alert"] for r in records]).message_id}
                fetched = record["alert"].get("fetched_at")
                if fetched:
                    latency = utc_now() - parse_time(fetched)
                    fields["latency_ms"] = int(latency.total_seconds() * 1000)
                rule = self.rules.get(record["rule"])
                # Throttling reads the last delivery back, so it must be searchable at once.
                self.state.finish(record["alert_id"], fields, searchable=bool(rule and rule.realert))
            return DELIVERED
        status = FAILED
        for record in records:
            attempts = record.get("attempts", 0) + 1
            status = DEAD if attempts >= self.max_attempts else FAILED
            retry_at = finished + timedelta(seconds=self.retry_backoff * 2 ** (attempts - 1))
            self.state.finish(record["alert_id"], {
                "status": status, "attempts": attempts, "channels": statuses[record["alert_id"]],
                "error": "; ".join(errors), "due_at": iso(retry_at), "updated_at": iso(finished)},
                searchable=True)
        if status == DEAD:
            logger.error("%d alerts moved to the dead-letter list after %d attempts; "
                         "`kuchikomi alerts list --failed` shows them", len(records), self.max_attempts)
        return status

    def send_test(self, rule_name: str) -> dict[str, str]:
        """Send a sample alert of a rule to its channels, outside the delivery state."""
        rule = self.rules[rule_name]
        alert = {"alert_id": "test-" + iso(utc_now()), "rule": rule.name, "rule_type": rule.type,
                 "channels": rule.channels, "headline": f"Test alert from kuchikomi rule {rule.name}",
                 "reason": "kuchikomi alerts test", "brands": ["Example"], "doc_id": "test",
                 "site": "shop.example", "url": "https://shop.example/reviews/1", "title": "Sample review",
                 "excerpt": "This is a sample review excerpt. <b>Markup</b> and *marks* must arrive as typed.",
                 "rating": 1, "rating_best": 5, "sentiment": "negative", "sentiment_score": 0.99}
        results = {}
        for name in rule.channels:
            try:
                self.channels[name].send(Message([alert]))
                results[name] = "delivered"
            except Exception as exc:  # report every channel, not just the first failure
                results[name] = f"failed: {exc}"
        return results
