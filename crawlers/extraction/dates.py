"""Published dates as ISO 8601, keeping the zone when the page gives one."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import dateparser

# A date without a year is not guessed, and no local zone is assumed: unknown stays unknown.
_PARSER_SETTINGS = {"RETURN_AS_TIMEZONE_AWARE": False, "PREFER_DAY_OF_MONTH": "first",
                    "REQUIRE_PARTS": ["year", "month", "day"]}
# Unix time in seconds or milliseconds, between 1990 and 2100: a bare number outside that is not a date.
_UNIX_SECONDS = (631152000, 4102444800)
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
# Forms dateparser does not read: Weibo's created_at (Twitter's format).
_FORMATS = ("%a %b %d %H:%M:%S %z %Y",)
# Month and day without a year (Weibo's 06-14, Tieba's 7-6, 6月14日 12:30): Chinese and Japanese sites
# leave out the current year only, so it is this year (the last one when that would be in the future).
_YEARLESS = re.compile(r"(\d{1,2})\s*(?:-|/|月)\s*(\d{1,2})\s*日?(?:\s+(\d{1,2}):(\d{2})(?::(\d{2}))?)?")
# A year is needed for a date known only to its month (2021/06, June 2019, 2021年6月).
_YEAR = re.compile(r"(?<!\d)\d{4}(?!\d)")


@dataclass(frozen=True)
class ParsedDate:
    iso: str
    precision: str | None = None  # "month" when only the month is known (stored as its first day)


def _unix_time(text: str) -> datetime | None:
    if not _NUMBER.fullmatch(text):
        return None
    value = float(text)
    for scale in (1, 1000):
        if _UNIX_SECONDS[0] <= value / scale <= _UNIX_SECONDS[1]:
            return datetime.fromtimestamp(value / scale, timezone.utc)
    return None


def _yearless(text: str, now: datetime) -> datetime | None:
    found = _YEARLESS.fullmatch(text)
    if not found:
        return None
    month, day, hour, minute, second = (int(part) if part else 0 for part in found.groups())
    try:
        value = now.replace(month=month, day=day, hour=hour, minute=minute, second=second, microsecond=0)
        if value - now > timedelta(days=1):
            value = value.replace(year=now.year - 1)
    except ValueError:
        return None
    return value


def parse_date(value: str | int | float | None, relative_to: datetime | None = None,
               zone: str | None = None) -> ParsedDate | None:
    """The date in `value`, or None when it holds none.

    `zone` is the site's IANA time zone (Asia/Tokyo): dates printed without one are in it, and
    relative ones (3日前, 昨天 12:30, 06-14) are resolved against the fetch time `relative_to`
    (default: now) as the site's clock showed it. Without a zone, relative dates are given in UTC.
    """
    if value is None or value == "":
        return None
    text = str(value).strip()
    site_zone = ZoneInfo(zone) if zone else None
    instant = _unix_time(text)
    if instant is not None:
        return ParsedDate(instant.astimezone(site_zone or timezone.utc).isoformat())
    if _NUMBER.fullmatch(text) and not (text.isdigit() and len(text) == 8):  # 20210930 is a date
        return None
    now = (relative_to or datetime.now(timezone.utc)).astimezone(site_zone or timezone.utc)

    def in_zone(parsed: datetime, spec: str = "auto") -> str:
        if parsed.tzinfo is None and site_zone is not None:
            parsed = parsed.replace(tzinfo=site_zone)
        return parsed.isoformat(timespec=spec)

    for form in _FORMATS:
        try:
            return ParsedDate(datetime.strptime(text, form).isoformat())
        except ValueError:
            pass
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return ParsedDate(day.isoformat())
        return ParsedDate(in_zone(datetime.fromisoformat(text.replace("Z", "+00:00"))))
    except ValueError:
        pass
    yearless = _yearless(text, now)
    if yearless is not None:
        return ParsedDate(yearless.isoformat() if ":" in text else yearless.date().isoformat())
    base = now.replace(tzinfo=None)
    parsed = dateparser.parse(text, settings={**_PARSER_SETTINGS, "RELATIVE_BASE": base})
    if parsed is None:
        return _month_only(text, base)
    # A relative date moves with its base; an absolute one does not.
    if dateparser.parse(text, settings={**_PARSER_SETTINGS, "RELATIVE_BASE": base - timedelta(days=400)}) != parsed:
        return ParsedDate(parsed.replace(tzinfo=now.tzinfo).isoformat(timespec="seconds"))
    if parsed.tzinfo is None and parsed.hour == parsed.minute == parsed.second == 0 \
            and ":" not in text:
        return ParsedDate(parsed.date().isoformat())
    return ParsedDate(in_zone(parsed))


def _month_only(text: str, base: datetime) -> ParsedDate | None:
    """2021/06, June 2019, 2021年6月: the first of the month, with month precision."""
    if not _YEAR.search(text):
        return None
    parsed = dateparser.parse(text, settings={**_PARSER_SETTINGS, "REQUIRE_PARTS": ["year", "month"],
                                              "RELATIVE_BASE": base})
    if parsed is None:
        return None
    return ParsedDate(parsed.date().replace(day=1).isoformat(), "month")


def to_iso8601(value: str | int | float | None, relative_to: datetime | None = None,
               zone: str | None = None) -> str | None:
    """ISO 8601 from any common form (2021年9月30日, 3/13/2020, 14 novembre 2018, 刚刚, 06-14, ...).

    Relative dates (3日前, 2 hours ago, 昨天) are resolved against `relative_to`, the fetch time
    (default: now); see parse_date for `zone`. A date known only to its month gives its first day.
    """
    parsed = parse_date(value, relative_to, zone)
    return parsed.iso if parsed else None
