from __future__ import annotations

from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler, RateLimitErrorRetryHandler, ServerErrorRetryHandler)
from slack_sdk.http_retry.builtin_interval_calculators import BackoffRetryIntervalCalculator
from slack_sdk.webhook import WebhookClient

from alerts.channels.errors import DeliveryError
from alerts.channels.http import RETRY_SETTINGS, without_credentials
from alerts.message import Message, aspect_lines, one_line, review_facts

MAX_REVIEWS_SHOWN = 10


def mrkdwn_escape(text: str) -> str:
    """Slack's own escaping: with &, < and > escaped, text cannot form links or mentions."""
    return one_line(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def link_url(url: str) -> str:
    """A URL for a mrkdwn link <url|text>: `|`, `<` and `>` percent-encoded, as they would end the URL."""
    url = one_line(url).replace("|", "%7C").replace("<", "%3C").replace(">", "%3E")
    return url.replace("&", "&amp;")


def _plain(text: str, limit: int = 3000) -> dict:
    # plain_text blocks are shown as typed: crawled *bold*, `code` or <!channel> stay inert.
    return {"type": "plain_text", "text": (text or " ")[:limit], "emoji": False}


class SlackChannel:
    """Slack incoming webhook through the official slack_sdk; crawled text only in plain_text."""
    type = "slack"
    schema = {
        "type": "object", "additionalProperties": False, "required": ["type", "webhook_url"],
        "properties": {
            "type": {"const": "slack"},
            "webhook_url": {"type": "string", "pattern": "^https?://"},
            **RETRY_SETTINGS,
            "timeout": {"type": "integer", "minimum": 1},  # slack_sdk takes whole seconds
        },
    }

    def __init__(self, name: str, config: dict, base_dir=None):
        self.name = name
        self.url = config["webhook_url"]
        interval = BackoffRetryIntervalCalculator(backoff_factor=config.get("backoff", 0.5))
        retries = config.get("attempts", 4) - 1
        self.client = WebhookClient(self.url, timeout=config.get("timeout", 10), retry_handlers=[
            ConnectionErrorRetryHandler(retries, interval), RateLimitErrorRetryHandler(retries),
            ServerErrorRetryHandler(retries, interval)])

    def blocks(self, message: Message) -> list[dict]:
        blocks = [{"type": "header", "text": _plain(message.headline, 150)}]
        for alert in message.alerts:
            if "reviews" in alert:
                stats = "\n".join(f"{k}: {one_line(v)}" for k, v in (alert.get("stats") or {}).items())
                blocks.append({"type": "section", "text": _plain(f"{one_line(alert['headline'])}\n"
                                                                 f"{one_line(alert['reason'])}\n{stats}")})
        for review in message.reviews()[:MAX_REVIEWS_SHOWN]:
            title = one_line(review.get("title"))
            lines = [review_facts(review), f"{title + ': ' if title else ''}{one_line(review.get('excerpt'))}"]
            blocks.append({"type": "section", "text": _plain("\n".join(lines + aspect_lines(review)))})
            url = review.get("url") or ""
            if url.startswith(("http://", "https://")):
                blocks.append({"type": "context", "elements": [
                    {"type": "mrkdwn", "text": f"<{link_url(url)}|{mrkdwn_escape(url[:200])}>"}]})
        return blocks[:50]  # Slack's limit per message

    def send(self, message: Message) -> None:
        try:
            reply = self.client.send(text=mrkdwn_escape(message.headline), blocks=self.blocks(message),
                                     unfurl_links=False, unfurl_media=False)
        except Exception as exc:  # slack_sdk raises urllib errors after its own retries
            raise DeliveryError(f"slack {self.name} ({without_credentials(self.url)}): {exc}") from exc
        if reply.status_code >= 300:
            raise DeliveryError(f"slack {self.name} ({without_credentials(self.url)}): "
                                f"HTTP {reply.status_code} {one_line(reply.body)[:200]}")
