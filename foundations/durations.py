"""Durations as people write them in the monitor config: 90s, 10m, 1h, 7d, 2w, or a number of seconds."""
from __future__ import annotations

import re

PATTERN = r"^[0-9]+(\.[0-9]+)?\s*[smhdw]?$"
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"([0-9]+(?:\.[0-9]+)?)\s*([smhdw]?)")
# The JSON schema of a duration field, for the config schemas that have one.
SCHEMA = {"oneOf": [{"type": "number", "minimum": 0}, {"type": "string", "pattern": PATTERN}],
          "description": "seconds, or a number with s/m/h/d/w: 90s, 10m, 1h, 7d"}


def parse_duration(value) -> float:
    """Seconds; ValueError naming the value when it is not a duration."""
    if isinstance(value, (int, float)):
        return float(value)
    match = _DURATION.fullmatch(value.strip())
    if not match:
        raise ValueError(f"not a duration: {value!r} (use e.g. 90s, 10m, 1h, 7d)")
    return float(match.group(1)) * _UNITS[match.group(2) or "s"]
