"""`kuchikomi config check FILE`: validate a monitor config without starting anything."""
from __future__ import annotations

from kuchikomi.commands import load_monitor


def add_parser(sub, default_config: str):
    config = sub.add_parser("config", help="validate a monitor config")
    config.add_argument("action", choices=["check"])
    config.add_argument("file")
    return config


def run(args) -> None:
    monitor = load_monitor(args.file)
    print(f"{monitor.path}: OK ({len(monitor.sources)} sources, {len(monitor.brands)} brands, "
          f"{len(monitor.alerts.get('rules', []))} alert rules)")
