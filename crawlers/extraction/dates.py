"""Published dates as ISO 8601, keeping the zone when the page gives one."""
from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone

import dateparser

# A number that is no Unix time is no date, though dateparser reads "1e10" as an hour ago; eight digits
# stay dates (20210930, ISO 8601's basic form).
BARE_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")

# A date without a year is not guessed, and no local zone is assumed: unknown stays unknown.
_PARSER_SETTINGS = {"RETURN_AS_TIMEZONE_AWARE": False, "PREFER_DAY_OF_MONTH": "first",
                    "REQUIRE_PARTS": ["year", "month", "day"]}


def to_iso8601(value: str | None, relative_to: datetime | None = None) -> str | None:
    """ISO 8601 from any common form (2021年9月30日, 3/13/2020, 14 novembre 2018, ...).

    Relative dates (3日前, 2 hours ago, 昨天) are resolved against `relative_to`, the fetch time
    (default: now), and given in UTC.
    """
    if not value:
        return None
    text = value.strip()
    if text.isdigit() and len(text) in (10, 13):  # Unix time in seconds or milliseconds (data-created="1411567255")
        return datetime.fromtimestamp(int(text) / (1000 if len(text) == 13 else 1), timezone.utc).isoformat()
    if BARE_NUMBER.fullmatch(text) and not (text.isdigit() and len(text) == 8):
        return None
    try:
        if len(text) == 10:
            return date.fromisoformat(text).isoformat()
        return datetime.fromisoformat(text.replace("Z", "+00:00")).isoformat()
    except ValueError:
        pass
    base = (relative_to or datetime.now(timezone.utc)).astimezone(timezone.utc).replace(tzinfo=None)
    parsed = dateparser.parse(text, settings={**_PARSER_SETTINGS, "RELATIVE_BASE": base})
    if parsed is None:
        return None
    # A relative date moves with its base; an absolute one does not.
    if dateparser.parse(text, settings={**_PARSER_SETTINGS, "RELATIVE_BASE": base - timedelta(days=400)}) != parsed:
        return parsed.replace(tzinfo=timezone.utc).isoformat(timespec="seconds")
    if parsed.tzinfo is None and parsed.hour == parsed.minute == parsed.second == 0 \
            and ":" not in text:
        return parsed.date().isoformat()
    return parsed.isoformat()
