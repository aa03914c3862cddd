from __future__ import annotations

import re
import sys

# Crawled text must not drive the terminal: drop escape sequences and other control characters.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def plain(value) -> str:
    return _CONTROL.sub("", str(value)) if value is not None else ""


def summary_line(alert: dict) -> str:
    rating = f"{alert['rating']:g}/{alert['rating_best']:g}" if alert.get("rating") is not None else "-"
    sentiment = (f"{alert['sentiment']} {alert['sentiment_score']:.2f}"
                 if alert.get("sentiment") else "-")
    return (f"[{plain(alert['rule'])}] {plain(', '.join(alert['brands']))} on {plain(alert['site'])}"
            f" | rating {rating} | {sentiment} | {plain(alert['title'] or '')}: "
            f"{plain(alert['excerpt'])} | {plain(alert['url'])}")


class ConsoleChannel:
    """Prints one line per alert on standard output."""
    type = "console"
    schema = {"type": "object", "additionalProperties": False, "required": ["type"],
              "properties": {"type": {"const": "console"}}}

    def __init__(self, name: str, config: dict, base_dir=None):
        self.name = name

    def send(self, alert: dict) -> None:
        print(f"ALERT {summary_line(alert)}", file=sys.stdout, flush=True)
