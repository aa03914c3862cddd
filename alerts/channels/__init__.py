"""Alert channels, one module each, looked up by the `type` field of a channel."""
from alerts.channels.apprise_channel import AppriseChannel
from alerts.channels.chatwork import ChatworkChannel
from alerts.channels.console import ConsoleChannel
from alerts.channels.email import EmailChannel
from alerts.channels.errors import DeliveryError
from alerts.channels.jsonl import JsonlChannel
from alerts.channels.slack import SlackChannel
from alerts.channels.webhook import WebhookChannel

__all__ = ["DeliveryError", "CHANNEL_TYPES", "build_channels"]

CHANNEL_TYPES = {channel.type: channel for channel in (
    ConsoleChannel, JsonlChannel, WebhookChannel, EmailChannel, SlackChannel, AppriseChannel, ChatworkChannel)}


def build_channels(configs: dict, base_dir=None) -> dict:
    return {name: CHANNEL_TYPES[config["type"]](name, config, base_dir) for name, config in configs.items()}
