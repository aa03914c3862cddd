"""Published dates as ISO 8601, keeping the zone when the page gives one."""
from __future__ import annotations

from datetime import date, datetime

import dateparser

# Page dates are not resolved against "now" or the local zone: unknown stays unknown.
_PARSER_SETTINGS = {"RETURN_AS_TIMEZONE_AWARE": False, "PREFER_DAY_OF_MONTH": "first",
                    "REQUIRE_PARTS": ["year", "month", "day"]}


def to_iso8601(value: str | None) -> str | None:
    if not value:
        return None
    text = value.strip()
    try:
        if len(text) == 10:
            return date.fromisoformat(text).isoformat()
        return datetime.fromisoformat(text.replace("Z", "+00:00")).isoformat()
    except ValueError:
        pass
    parsed = dateparser.parse(text, settings=_PARSER_SETTINGS)
    if parsed is None:
        return None
    if parsed.tzinfo is None and parsed.hour == parsed.minute == parsed.second == 0 \
            and ":" not in text:
        return parsed.date().isoformat()
    return parsed.isoformat()
