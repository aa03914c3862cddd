"""What a workspace page shows, from its URL: brand, period (or a window), language, site, sentiment,
source, category and the search box. Everything lives in the query string, so a view can be shared as a link."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from urllib.parse import urlencode

from index.research.query import SENTIMENTS, QuerySyntaxError
from index.research.search import Filters, parse_when

PERIODS = {"7d": 7, "30d": 30, "90d": 90, "365d": 365, "all": None}
DEFAULT_PERIOD = "90d"
LISTS = ("brand", "language", "site", "sentiment", "source", "category")


@dataclass(frozen=True)
class View:
    brand: tuple[str, ...] = ()
    language: tuple[str, ...] = ()
    site: tuple[str, ...] = ()
    sentiment: tuple[str, ...] = ()
    source: tuple[str, ...] = ()
    category: tuple[str, ...] = ()
    q: str = ""
    period: str = DEFAULT_PERIOD
    since: str = ""  # a window picked on a chart (ISO instants), instead of the period
    until: str = ""
    errors: tuple[str, ...] = field(default=(), compare=False)

    @classmethod
    def from_params(cls, params) -> "View":
        """From the request's query parameters; what cannot be used is dropped and named in `errors`."""
        values, errors = {}, []
        for name in LISTS:
            parts = (part.strip() for value in params.getlist(name) for part in value.split(","))
            values[name] = tuple(dict.fromkeys(part for part in parts if part))[:20]
        bad = [s for s in values["sentiment"] if s not in SENTIMENTS]
        if bad:
            errors.append(f"sentiment {bad[0]!r}: use one of {', '.join(SENTIMENTS)}")
            values["sentiment"] = tuple(s for s in values["sentiment"] if s in SENTIMENTS)
        values["q"] = params.get("q", "")[:2000]
        period = params.get("period", DEFAULT_PERIOD)
        if period not in PERIODS:
            errors.append(f"period {period!r}: use one of {', '.join(PERIODS)}")
            period = DEFAULT_PERIOD
        values["period"] = period
        for name, end in (("since", False), ("until", True)):
            text = params.get(name, "").strip()[:40]
            if text:
                try:
                    parse_when(text, end=end)
                    values[name] = text
                except QuerySyntaxError as exc:
                    errors.append(str(exc))
        return cls(**values, errors=tuple(errors))

    def window(self, now: datetime) -> tuple[datetime | None, datetime]:
        """[start, end) of what is shown; start None for all time."""
        if self.since or self.until:
            start = datetime.fromisoformat(parse_when(self.since, end=False, now=now)) if self.since else None
            end = datetime.fromisoformat(parse_when(self.until, end=True, now=now)) if self.until else now
            return start, end
        days = PERIODS[self.period]
        return (None if days is None else now - timedelta(days=days)), now

    def previous_window(self, now: datetime) -> tuple[datetime, datetime] | None:
        """The period of the same length just before, to compare against."""
        start, end = self.window(now)
        return None if start is None else (start - (end - start), start)

    def filters(self, start: datetime | None = None, end: datetime | None = None) -> Filters:
        return Filters(self.q, list(self.brand), list(self.sentiment), list(self.language), list(self.site),
                       since=start.isoformat() if start else None, until=end.isoformat() if end else None,
                       sources=list(self.source), categories=list(self.category))

    def link(self, **changes) -> str:
        """This view's query string with some values changed (a list or tuple for list filters)."""
        view = replace(self, **{k: tuple(v) if isinstance(v, list) else v for k, v in changes.items()})
        pairs = [(name, value) for name in LISTS for value in getattr(view, name)]
        pairs += [(name, getattr(view, name)) for name in ("q", "since", "until") if getattr(view, name)]
        if view.period != DEFAULT_PERIOD and not (view.since or view.until):
            pairs.append(("period", view.period))
        return urlencode(pairs)

    def interval(self, now: datetime) -> str:
        start, end = self.window(now)
        days = None if start is None else (end - start).total_seconds() / 86400
        return "month" if days is None or days > 186 else "week" if days > 31 else "day"
