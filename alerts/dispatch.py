"""Evaluate rules against an item and deliver each alert once to each of its channels."""
from __future__ import annotations

import logging
from datetime import datetime, timezone

from alerts.channels import build_channels
from alerts.rules import build_rules
from alerts.state import DeliveryState

logger = logging.getLogger(__name__)

DELIVERED, ALREADY_DELIVERED, FAILED = "delivered", "already_delivered", "failed"


class AlertDispatcher:
    def __init__(self, alerts_config: dict, state: DeliveryState, base_dir=None):
        self.rules = build_rules(alerts_config.get("rules", []))
        self.channels = build_channels(alerts_config.get("channels", {}), base_dir)
        self.state = state

    def evaluate(self, item) -> list[dict]:
        return [alert for alert in (rule.match(item) for rule in self.rules) if alert]

    def deliver(self, alert: dict) -> str:
        record = self.state.claim(alert)
        if record["status"] == DELIVERED:
            return ALREADY_DELIVERED
        channels = dict(record.get("channels") or {})
        errors = []
        for name in alert["channels"]:
            if channels.get(name, {}).get("status") == DELIVERED:
                continue  # a retry resends only to the channels that failed
            try:
                self.channels[name].send(alert)
                channels[name] = {"status": DELIVERED,
                                  "at": datetime.now(timezone.utc).isoformat(timespec="milliseconds")}
            except Exception as exc:  # one channel failing must not stop the others
                channels[name] = {"status": FAILED, "error": str(exc)}
                errors.append(f"{name}: {exc}")
                logger.error("alert %s not delivered to %s: %s", alert["alert_id"], name, exc)
        status = FAILED if errors else DELIVERED
        self.state.record(alert["alert_id"], status, channels, "; ".join(errors) or None)
        return status

    def redeliver_undelivered(self) -> dict[str, int]:
        """Retry alerts left pending or failed by an earlier run."""
        counts = {DELIVERED: 0, FAILED: 0}
        for record in self.state.undelivered():
            alert = record["alert"]
            alert["channels"] = [c for c in alert["channels"] if c in self.channels]
            result = self.deliver(alert)
            if result in counts:
                counts[result] += 1
        return counts
