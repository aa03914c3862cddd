from __future__ import annotations

import sys

from alerts.message import Message, one_line, review_facts


def summary_line(alert: dict) -> str:
    if "reviews" in alert:
        return f"[{one_line(alert['rule'])}] {one_line(alert['headline'])} | {one_line(alert['reason'])}"
    title = one_line(alert.get("title"))
    text = f"{title}: {one_line(alert.get('excerpt'))}" if title else one_line(alert.get("excerpt"))
    return f"[{one_line(alert['rule'])}] {review_facts(alert)} | {text} | {one_line(alert.get('url'))}"


class ConsoleChannel:
    """Prints one line per alert on standard output, control characters removed."""
    type = "console"
    schema = {"type": "object", "additionalProperties": False, "required": ["type"],
              "properties": {"type": {"const": "console"}}}

    def __init__(self, name: str, config: dict, base_dir=None):
        self.name = name

    def send(self, message: Message) -> None:
        for alert in message.alerts:
            print(f"ALERT {summary_line(alert)}", file=sys.stdout, flush=True)
