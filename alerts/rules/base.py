"""What every rule type shares: the common schema, filters, timing (quiet hours, realert, grouping)
and the alert payloads the channels render."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from alerts.message import category_names
from foundations.durations import SCHEMA as DURATION, parse_duration
from index.research.query import CATEGORY_NAME

EXCERPT_CHARS = 280
ASPECT_CHARS = 160
ASPECTS_SHOWN = 10

CLOCK = {"type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$"}
# Fields of an alert that `group_by` may name.
GROUP_FIELDS = ["brand", "site", "item_name", "source", "language"]

COMMON_PROPERTIES = {
    "name": {"type": "string", "pattern": "^[A-Za-z0-9_.-]+$"},
    "type": {"type": "string"},
    "channels": {"type": "array", "minItems": 1, "items": {"type": "string"}},
    "languages": {"type": "array", "items": {"type": "string", "minLength": 2}, "minItems": 1},
    "sources": {"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": 1,
                "description": "source names or site host names"},
    "categories": {"type": "array", "items": {"type": "string", "pattern": CATEGORY_NAME}, "minItems": 1,
                   "description": "only mentions with at least one of these categories (complaint, ...)"},
    "realert": DURATION,
    "group_by": {"type": "array", "items": {"enum": GROUP_FIELDS}, "uniqueItems": True},
    "group_window": DURATION,
    "quiet_hours": {
        "type": "object", "additionalProperties": False, "required": ["start", "end"],
        "properties": {"start": CLOCK, "end": CLOCK, "timezone": {"type": "string", "minLength": 1}},
    },
}


def rule_schema(properties: dict, required: tuple = ()) -> dict:
    return {"type": "object", "additionalProperties": False,
            "required": ["name", "type", "channels", *required],
            "properties": {**COMMON_PROPERTIES, **properties}}


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds")


def time_zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r} (use an IANA name such as Asia/Tokyo)") from exc


@dataclass(frozen=True)
class QuietHours:
    """A daily span (may cross midnight) in which messages wait rather than page anyone."""
    start: time
    end: time
    zone: ZoneInfo

    @classmethod
    def from_config(cls, config: dict | None) -> QuietHours | None:
        if not config:
            return None
        return cls(time.fromisoformat(config["start"]), time.fromisoformat(config["end"]),
                   time_zone(config.get("timezone", "UTC")))

    def release(self, moment: datetime) -> datetime:
        """`moment` itself outside quiet hours, else the moment they end."""
        local = moment.astimezone(self.zone)
        clock = local.time().replace(tzinfo=None)
        if self.start <= self.end:
            quiet = self.start <= clock < self.end
        else:
            quiet = clock >= self.start or clock < self.end
        if not quiet:
            return moment
        end = datetime.combine(local.date(), self.end, tzinfo=self.zone)
        if end <= local:
            end = datetime.combine(local.date() + timedelta(days=1), self.end, tzinfo=self.zone)
        return end.astimezone(timezone.utc)


class Rule:
    """Base of all rule types. Per-item rules implement `match`; scheduled ones `run`."""
    type = ""
    scheduled = False
    schema: dict = {}

    def __init__(self, config: dict):
        self.name = config["name"]
        self.channels = list(config["channels"])
        self.languages = set(config.get("languages", []))
        self.sources = set(config.get("sources", []))
        self.categories = set(config.get("categories", []))
        self.realert = parse_duration(config.get("realert", 0))
        self.group_by = list(config.get("group_by", []))
        self.group_window = parse_duration(config.get("group_window", 0))
        self.quiet_hours = QuietHours.from_config(config.get("quiet_hours"))

    def applies_to(self, item) -> bool:
        if self.languages and item.get("language") not in self.languages:
            return False
        if self.categories and not self.categories & set(category_names(item.get("categories"))):
            return False
        return not self.sources or bool({item.get("source"), item.get("site")} & self.sources)

    def category_filters(self) -> list[dict]:
        """For the rules that search the index (spike, digest): the clause `categories` asks for, if any."""
        return [{"terms": {"categories.name": sorted(self.categories)}}] if self.categories else []

    def group_key(self, alert: dict) -> str:
        """Alerts with the same key are sent together and throttled together."""
        if not self.group_by:
            return alert["alert_id"]
        values = {"brand": ",".join(alert.get("brands") or []), "site": alert.get("site"),
                  "item_name": alert.get("item_name"), "source": alert.get("source"),
                  "language": alert.get("language")}
        return "|".join(f"{field}={values[field] or ''}" for field in self.group_by)

    def match(self, item, context) -> dict | None:
        raise NotImplementedError

    def run(self, context) -> list[dict]:
        raise NotImplementedError


def alert_id(key: str, rule_name: str) -> str:
    """One alert per (document or event, rule): the id that makes delivery idempotent."""
    return hashlib.sha1(f"{key}\x1f{rule_name}".encode()).hexdigest()


def excerpt(text: str | None, limit: int = EXCERPT_CHARS) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def review_summary(item) -> dict:
    """The fields of one review that every message shows."""
    rating = item.get("rating") or {}
    sentiment = item.get("sentiment") or {}
    return {
        "doc_id": item.get("doc_id"),
        "brands": list(item.get("brands") or []),
        "source": item.get("source"),
        "site": item.get("site"),
        "url": item.get("review_url") or item.get("source_url"),
        "item_name": item.get("item_name"),
        "author": item.get("author"),
        "title": item.get("title"),
        "excerpt": excerpt(item.get("body")),
        "rating": rating.get("value"),
        "rating_best": rating.get("best"),
        "rating_normalized": rating.get("normalized"),
        "sentiment": sentiment.get("label"),
        "sentiment_score": sentiment.get("score"),
        "language": item.get("language"),
        "published_at": item.get("published_at"),
        "fetched_at": item.get("fetched_at"),
        "categories": category_names(item.get("categories")),
        "aspects": [{"category": aspect.get("category"), "sentiment": aspect.get("sentiment"),
                     "sentence": excerpt(aspect.get("sentence"), ASPECT_CHARS)}
                    for aspect in (item.get("aspects") or [])[:ASPECTS_SHOWN] if isinstance(aspect, dict)],
    }


def _alert_fields(rule: Rule, key: str, headline: str, reason: str, brands: list[str]) -> dict:
    """What every alert carries, whatever it is about."""
    return {"alert_id": alert_id(key, rule.name), "rule": rule.name, "rule_type": rule.type,
            "channels": list(rule.channels), "headline": headline, "reason": reason, "brands": brands}


def alert_payload(rule: Rule, item, headline: str, reason: str, brands: list[str],
                  key: str | None = None) -> dict:
    """An alert about one review; `key` replaces the document id where the event is wider."""
    return {**review_summary(item), **_alert_fields(rule, key or item["doc_id"], headline, reason, brands)}


def event_payload(rule: Rule, key: str, headline: str, reason: str, brands: list[str],
                  stats: dict, reviews: list[dict]) -> dict:
    """An alert about many reviews at once (a spike, a digest)."""
    return {
        **_alert_fields(rule, key, headline, reason, brands),
        "doc_id": None,
        "site": None,
        "url": None,
        "stats": stats,
        "reviews": [review_summary(review) for review in reviews],
        "fetched_at": max((r.get("fetched_at") for r in reviews if r.get("fetched_at")), default=None),
    }


@dataclass
class RuleContext:
    """What a rule may consult: the reviews index (through its alias) and the current time."""
    client: object
    reviews_index: str
    now: datetime
