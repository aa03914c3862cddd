from __future__ import annotations

from alerts.channels.http import RETRY_SETTINGS, post_with_backoff
from alerts.message import Message


def chatwork_escape(text: str) -> str:
    """Chatwork has no escape syntax; full-width brackets keep crawled [toall] or [To:1] inert."""
    return text.replace("[", "［").replace("]", "］")


class ChatworkChannel:
    """A Chatwork room message through its REST API (token header, form body)."""
    type = "chatwork"
    schema = {
        "type": "object", "additionalProperties": False, "required": ["type", "token", "room_id"],
        "properties": {
            "type": {"const": "chatwork"},
            "token": {"type": "string", "minLength": 1},
            "room_id": {"type": ["string", "integer"]},
            "api_base": {"type": "string", "pattern": "^https?://"},
            **RETRY_SETTINGS,
        },
    }

    def __init__(self, name: str, config: dict, base_dir=None):
        self.name = name
        self.config = config
        base = config.get("api_base", "https://api.chatwork.com/v2").rstrip("/")
        self.url = f"{base}/rooms/{config['room_id']}/messages"

    def send(self, message: Message) -> None:
        body = (f"[info][title]{chatwork_escape(message.headline)}[/title]"
                f"{chatwork_escape(message.text())}[/info]")
        post_with_backoff(f"chatwork {self.name}", self.url, self.config, data={"body": body},
                          headers={"X-ChatWorkToken": self.config["token"], "User-Agent": "kuchikomi-alerts"})
