from __future__ import annotations

import apprise

from alerts.channels.errors import DeliveryError
from alerts.message import Message


class AppriseChannel:
    """Any service apprise knows by URL: Microsoft Teams (workflows://), LINE (line://), Discord,
    Telegram, Google Chat, ntfy... The body is sent as plain text, which apprise escapes for
    services that render Markdown or HTML."""
    type = "apprise"
    schema = {
        "type": "object", "additionalProperties": False, "required": ["type", "urls"],
        "properties": {
            "type": {"const": "apprise"},
            "urls": {"type": "array", "minItems": 1, "items": {"type": "string", "pattern": "^[a-z0-9+]+://"}},
        },
    }

    def __init__(self, name: str, config: dict, base_dir=None):
        self.name = name
        self.notifier = apprise.Apprise()
        for index, url in enumerate(config["urls"]):
            if not self.notifier.add(url):
                # The URL itself may hold a token: name its position and scheme only.
                raise ValueError(f"urls[{index}]: apprise does not understand a "
                                 f"{url.split('://', 1)[0]}:// URL in this form")

    def send(self, message: Message) -> None:
        if not self.notifier.notify(title=message.headline, body=message.text(),
                                    body_format=apprise.NotifyFormat.TEXT):
            raise DeliveryError(f"apprise {self.name}: at least one service did not accept the message "
                                f"(see the apprise log lines above)")
