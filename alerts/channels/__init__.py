"""Alert channels, one module each, looked up by the `type` field of a channel."""
from alerts.channels.console import ConsoleChannel
from alerts.channels.errors import DeliveryError
from alerts.channels.jsonl import JsonlChannel
from alerts.channels.webhook import WebhookChannel

__all__ = ["DeliveryError", "CHANNEL_TYPES", "build_channels"]

CHANNEL_TYPES = {channel.type: channel for channel in (ConsoleChannel, JsonlChannel, WebhookChannel)}


def build_channels(configs: dict, base_dir=None) -> dict:
    return {name: CHANNEL_TYPES[config["type"]](name, config, base_dir) for name, config in configs.items()}
