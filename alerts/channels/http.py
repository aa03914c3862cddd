"""POST with retries and exponential backoff, shared by the channels that speak plain HTTP."""
from __future__ import annotations

import time
from urllib.parse import urlsplit, urlunsplit

import requests

from alerts.channels.errors import DeliveryError

RETRY_SETTINGS = {
    "timeout": {"type": "number", "exclusiveMinimum": 0},
    "attempts": {"type": "integer", "minimum": 1, "maximum": 20},
    "backoff": {"type": "number", "minimum": 0},
}
MAX_RETRY_AFTER = 60.0


# Keep-alive connections: one pool per process, safe to share between threads.
_SESSION = requests.Session()


def post_with_backoff(channel: str, url: str, config: dict, **request) -> requests.Response:
    """POST until a 2xx; 5xx, 408, 429 and network errors are retried, other 4xx are final."""
    attempts, backoff = config.get("attempts", 4), config.get("backoff", 0.5)
    last_error, wait = None, 0.0
    for attempt in range(attempts):
        if attempt:
            time.sleep(wait or backoff * 2 ** (attempt - 1))
        wait = 0.0
        try:
            reply = _SESSION.post(url, timeout=config.get("timeout", 10), **request)
        except requests.RequestException as exc:
            last_error = f"{type(exc).__name__}: {exc}"
            continue
        if reply.status_code < 300:
            return reply
        last_error = f"HTTP {reply.status_code}"
        if reply.status_code < 500 and reply.status_code not in (408, 429):
            break  # the receiver rejects this message; repeating it will not help
        retry_after = reply.headers.get("Retry-After", "")
        if retry_after.isdigit():
            wait = min(float(retry_after), MAX_RETRY_AFTER)
    raise DeliveryError(f"{channel} ({without_credentials(url)}): {last_error}")


def without_credentials(url: str) -> str:
    """The URL as logs may show it: no user, password or query (tokens often live there)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))
