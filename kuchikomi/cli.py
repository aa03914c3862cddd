"""The `kuchikomi` command: one subcommand per module in kuchikomi/commands/."""
from __future__ import annotations

import argparse
import importlib
import os
import sys

from kuchikomi.commands import COMMANDS, CommandError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kuchikomi", description="Review and content monitoring crawler.")
    sub = parser.add_subparsers(dest="command", required=True)
    default_config = os.environ.get("KUCHIKOMI_CONFIG", "monitor.yaml")
    for name in COMMANDS:
        module = importlib.import_module(f"kuchikomi.commands.{name}")
        module.add_parser(sub, default_config).set_defaults(func=module.run)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except CommandError as exc:
        print(f"kuchikomi: {exc}", file=sys.stderr)
        sys.exit(exc.code)


if __name__ == "__main__":
    main()
