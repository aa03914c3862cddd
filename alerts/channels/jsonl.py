from __future__ import annotations

import json
import os
from pathlib import Path

from alerts.message import Message


class JsonlChannel:
    """Appends one JSON object per message (with its alerts) to a file."""
    type = "jsonl"
    schema = {"type": "object", "additionalProperties": False, "required": ["type", "path"],
              "properties": {"type": {"const": "jsonl"}, "path": {"type": "string", "minLength": 1}}}

    def __init__(self, name: str, config: dict, base_dir=None):
        self.name = name
        path = Path(config["path"]).expanduser()
        self.path = path if path.is_absolute() or base_dir is None else Path(base_dir) / path

    def send(self, message: Message) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps(message.as_dict(), ensure_ascii=False) + "\n"
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())
