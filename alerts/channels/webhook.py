from __future__ import annotations

import time
from urllib.parse import urlsplit, urlunsplit

import requests

from alerts.channels.errors import DeliveryError


class WebhookChannel:
    """POSTs each alert as JSON; retries with exponential backoff before giving up."""
    type = "webhook"
    schema = {
        "type": "object", "additionalProperties": False, "required": ["type", "url"],
        "properties": {
            "type": {"const": "webhook"},
            "url": {"type": "string", "pattern": "^https?://"},
            "headers": {"type": "object", "additionalProperties": {"type": "string"}},
            "timeout": {"type": "number", "exclusiveMinimum": 0},
            "attempts": {"type": "integer", "minimum": 1, "maximum": 20},
            "backoff": {"type": "number", "minimum": 0},
        },
    }

    def __init__(self, name: str, config: dict, base_dir=None):
        self.name = name
        self.url = config["url"]
        self.headers = {"User-Agent": "kuchikomi-alerts", **config.get("headers", {})}
        self.timeout = config.get("timeout", 10)
        self.attempts = config.get("attempts", 4)
        self.backoff = config.get("backoff", 0.5)

    def send(self, alert: dict) -> None:
        last_error = None
        for attempt in range(self.attempts):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            try:
                reply = requests.post(self.url, json=alert, headers=self.headers, timeout=self.timeout)
                if reply.status_code < 300:
                    return
                last_error = f"HTTP {reply.status_code}"
                if reply.status_code < 500 and reply.status_code not in (408, 429):
                    break  # the receiver rejects this alert; repeating it will not help
            except requests.RequestException as exc:
                last_error = f"{type(exc).__name__}: {exc}"
        raise DeliveryError(f"webhook {self.name} ({_without_credentials(self.url)}): {last_error}")


def _without_credentials(url: str) -> str:
    """The URL as logs may show it: no user, password or query (tokens often live there)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))
