from __future__ import annotations

import hashlib
import hmac
import json
import time

from alerts.channels.http import RETRY_SETTINGS, post_with_backoff
from alerts.message import Message

SIGNATURE_HEADER = "X-Kuchikomi-Signature"
TIMESTAMP_HEADER = "X-Kuchikomi-Timestamp"


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """HMAC-SHA256 over "<timestamp>.<body>", so a captured request cannot be replayed later."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(secret: str, headers, body: bytes, tolerance: float = 300) -> bool:
    """What a receiver runs: the signature matches and the timestamp is recent."""
    timestamp = headers.get(TIMESTAMP_HEADER, "")
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > tolerance:
        return False
    return hmac.compare_digest(signature(secret, timestamp, body), headers.get(SIGNATURE_HEADER, ""))


class WebhookChannel:
    """POSTs each message as JSON, signed with HMAC-SHA256 when a secret is set."""
    type = "webhook"
    schema = {
        "type": "object", "additionalProperties": False, "required": ["type", "url"],
        "properties": {
            "type": {"const": "webhook"},
            "url": {"type": "string", "pattern": "^https?://"},
            "secret": {"type": "string", "minLength": 16},
            "headers": {"type": "object", "additionalProperties": {"type": "string"}},
            **RETRY_SETTINGS,
        },
    }

    def __init__(self, name: str, config: dict, base_dir=None):
        self.name = name
        self.config = config
        self.secret = config.get("secret")
        self.headers = {"User-Agent": "kuchikomi-alerts", "Content-Type": "application/json",
                        **config.get("headers", {})}

    def send(self, message: Message) -> None:
        body = json.dumps(message.as_dict(), ensure_ascii=False).encode()
        headers = {**self.headers, "X-Kuchikomi-Message-Id": message.message_id}
        if self.secret:
            timestamp = str(int(time.time()))
            headers[TIMESTAMP_HEADER] = timestamp
            headers[SIGNATURE_HEADER] = signature(self.secret, timestamp, body)
        post_with_backoff(f"webhook {self.name}", self.config["url"], self.config, data=body, headers=headers)
