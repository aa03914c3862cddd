"""The monitor config: one YAML file naming brands, sources, sentiment model, alerts and Elasticsearch.

Validated in full on load; any problem raises ConfigError naming the file, the field and the fix,
before anything starts.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from alerts.channels import CHANNEL_TYPES
from alerts.dispatch import DELIVERY_SCHEMA
from alerts.rules import RULE_TYPES
from alerts.rules.base import time_zone
from crawlers.extraction.platforms import PLATFORMS
from crawlers.extraction.site_profile import ProfileError, load_profile
from foundations.durations import SCHEMA as DURATION
from foundations.text import fold_width_and_kana
from sentiment.categories import CategoryError, definitions

_ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
# Rule types that act on the brands a review mentions: without a `brands:` section no review has any.
BRAND_RULE_TYPES = {"negative_brand", "new_source", "spike", "digest", "mention"}

LANGUAGE = {"type": "string", "pattern": "^[a-z]{2,3}$", "description": "a language code: ja, zh, en, ..."}
PER_LANGUAGE = {"type": "object", "propertyNames": LANGUAGE,
                "additionalProperties": {"type": "array", "items": {"type": "string", "minLength": 1}}}

SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["sources"],
    "properties": {
        "elasticsearch": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "url": {"type": ["string", "array"], "pattern": "^https?://", "minItems": 1, "uniqueItems": True,
                        "items": {"type": "string", "pattern": "^https?://"},
                        "description": "a node's URL, or a list of the cluster's nodes: writes go to all of them"},
                "shards": {"type": "integer", "minimum": 1, "maximum": 1024,
                           "description": "primary shards of each index kuchikomi creates (default 1)"},
                "replicas": {"type": "integer", "minimum": 0,
                             "description": "copies of each shard on other nodes (default 0; 1 or more in a "
                                            "cluster, so a node can leave without losing data)"},
                "sniff": {"type": "boolean",
                          "description": "find the cluster's other nodes (default false; not behind a proxy "
                                         "such as Elastic Cloud's or AWS's)"},
                "username": {"type": "string"},
                "password": {"type": "string"},
                "api_key": {"type": "string"},
                "index_prefix": {"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]*$"},
                "verify_certs": {"type": "boolean"},
                "timeout": {"type": "number", "exclusiveMinimum": 0},
                "rollover": {
                    "type": "object", "additionalProperties": False, "minProperties": 1,
                    "description": "start a new reviews index when one of these is reached",
                    "properties": {
                        "max_docs": {"type": "integer", "minimum": 1},
                        "max_age": {"type": "string", "pattern": "^[0-9]+[dhm]$", "description": "e.g. 30d"},
                        "max_size": {"type": "string", "pattern": "^[0-9]+(gb|mb)$", "description": "e.g. 50gb"},
                    },
                },
                "retention_days": {"type": "number", "exclusiveMinimum": 0,
                                   "description": "reviews dated longer ago than this are deleted"},
            },
        },
        "api": {
            "type": "object",
            "additionalProperties": False,
            "required": ["keys"],
            "properties": {
                "keys": {"type": "array", "minItems": 1, "items": {
                    "type": "object", "additionalProperties": False, "required": ["name", "key"],
                    "properties": {
                        "name": {"type": "string", "minLength": 1},
                        "key": {"type": "string", "minLength": 16,
                                "description": "a secret of 16+ characters, e.g. ${KUCHIKOMI_API_KEY}"},
                        "raw_dsl": {"type": "boolean",
                                    "description": "may this key send raw Elasticsearch DSL (default false)"},
                        "requests_per_minute": {"type": "integer", "minimum": 1},
                    }}},
                "requests_per_minute": {"type": "integer", "minimum": 1,
                                        "description": "per key, unless the key sets its own (default 60)"},
            },
        },
        "brands": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["name"],
                "properties": {
                    "name": {"type": "string", "minLength": 1},
                    "aliases": {"type": "array", "items": {"type": "string", "minLength": 1}},
                },
            },
        },
        "sources": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["name", "start_urls"],
                "properties": {
                    "name": {"type": "string", "pattern": "^[A-Za-z0-9_.-]+$"},
                    "spider": {"enum": ["reviews", "feed", "sitemap", "forum"],
                               "description": "reviews (schema.org markup on the start pages), "
                                              "feed (RSS, Atom, JSON Feed), sitemap (the pages it lists) "
                                              "or forum (an API: set platform)"},
                    "platform": {"enum": sorted(PLATFORMS), "description": "for spider: forum"},
                    "headers": {"type": "object", "additionalProperties": {"type": "string"},
                                "description": "HTTP headers sent with every request of a forum source, e.g. "
                                               "your own logged-in session's Cookie: ${WEIBO_COOKIE}"},
                    "cookies": {"type": "object", "additionalProperties": {"type": "string"},
                                "description": "cookies (name: value) of your own logged-in session, for a forum "
                                               "source whose platform answers logged-in users only"},
                    "follow_articles": {"type": "boolean",
                                        "description": "spider: feed: fetch each entry's page and store its main "
                                                       "text, not only the feed's summary"},
                    "profile": {"type": "string", "minLength": 1,
                                "description": "a site profile (shipped name or YAML path) for spider: reviews"},
                    "start_urls": {"type": "array", "minItems": 1,
                                   "items": {"type": "string", "pattern": "^https?://"},
                                   "description": "URLs; {query} in one is filled with each brand name and alias"},
                    "follow_pagination": {"type": "boolean"},
                    "every": {**DURATION, "description": "how often `crawl --loop` crawls it, e.g. 30m, 6h, 1d"},
                    "max_pages": {"type": "integer", "minimum": 1},
                    "render": {"type": "boolean",
                               "description": "load pages in headless Chromium first (scrapy-playwright), "
                                              "for pages whose reviews JavaScript writes; spider: reviews"},
                    "render_wait_for": {"type": "string", "minLength": 1,
                                        "description": "with render: a CSS selector to wait for"},
                },
            },
        },
        "sentiment": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "model": {"type": "string", "minLength": 1},
                "label_map": {"type": "object",
                              "additionalProperties": {"enum": ["negative", "neutral", "positive"]}},
                "batch_size": {"type": "integer", "minimum": 1,
                               "description": "texts per model call (default 8 on CPU, 64 on a GPU)"},
                "device": {"type": "string", "pattern": "^(auto|cpu|cuda(:[0-9]+)?|mps)$",
                           "description": "auto, cpu, cuda, cuda:N or mps"},
                "precision": {"enum": ["auto", "fp32", "bf16"],
                              "description": "auto is bf16 where the hardware computes it natively"},
                "chunk_tokens": {"type": "integer", "minimum": 16, "maximum": 496,
                                 "description": "longer reviews are split into chunks of this many tokens"},
            },
        },
        "categories": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "defaults": {"type": "boolean", "description": "use the nine shipped categories (default true)"},
                "custom": {"type": "array", "items": {
                    "type": "object", "additionalProperties": False, "required": ["name"],
                    "properties": {
                        "name": {"type": "string", "pattern": "^[a-z][a-z0-9_]*$",
                                 "description": "lower-case letters, digits and _, e.g. battery"},
                        "description": {"type": "string"},
                        "languages": {"type": "array", "minItems": 1, "items": LANGUAGE},
                        "examples": {**PER_LANGUAGE, "description": "sentences per language, e.g. "
                                                                    "{en: [The battery is dead by noon.]}"},
                        "keywords": {**PER_LANGUAGE, "description": "words per language, e.g. {ja: [電池]}"},
                        "threshold": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
                    }}},
            },
        },
        "alerts": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "channels": {"type": "object",
                             "additionalProperties": {"type": "object", "required": ["type"],
                                                      "properties": {"type": {"enum": sorted(CHANNEL_TYPES)}}}},
                "rules": {"type": "array",
                          "items": {"type": "object", "required": ["name", "type", "channels"],
                                    "properties": {"type": {"enum": sorted(RULE_TYPES)}}}},
                "delivery": DELIVERY_SCHEMA,
            },
        },
        "crawl": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "user_agent": {"type": "string", "minLength": 1},
                "every": {**DURATION, "description": "default schedule of `crawl --loop`, e.g. 1h"},
                "contact_url": {"type": "string"},
                "obey_robots_txt": {"type": "boolean"},
                "download_delay": {"type": "number", "minimum": 0},
                "concurrent_requests_per_domain": {"type": "integer", "minimum": 1},
                "autothrottle_start_delay": {"type": "number", "minimum": 0},
                "frontier": {"type": "string", "pattern": "^rediss?://",
                             "description": "Redis shared by several crawl workers, e.g. redis://host:6379/0"},
                "frontier_lease": {**DURATION, "description": "how long a worker that stopped answering keeps "
                                                              "its pages before others take them (default 60s)"},
                "browser_path": {"type": "string", "minLength": 1,
                                 "description": "Chromium for sources with render: true (default /usr/bin/chromium)"},
            },
        },
    },
}


class ConfigError(ValueError):
    pass


@dataclass
class Monitor:
    path: Path
    elasticsearch: dict = field(default_factory=dict)
    brands: list[dict] = field(default_factory=list)
    sources: list[dict] = field(default_factory=list)
    sentiment: dict = field(default_factory=dict)
    alerts: dict = field(default_factory=dict)
    crawl: dict = field(default_factory=dict)
    api: dict = field(default_factory=dict)

    def source(self, name: str) -> dict:
        for source in self.sources:
            if source["name"] == name:
                return source
        raise ConfigError(f"{self.path}: no source named {name!r} "
                          f"(sources: {', '.join(s['name'] for s in self.sources)})")


def _field_path(parts) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def _expand_env(value: Any, where: list, path: Path) -> Any:
    """${VAR} and ${VAR:-default} in strings, so secrets stay out of the file."""
    if isinstance(value, dict):
        return {k: _expand_env(v, where + [k], path) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand_env(v, where + [i], path) for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match) -> str:
        name, default = match.group(1), match.group(2)
        if name in os.environ:
            return os.environ[name]
        if default is not None:
            return default
        raise ConfigError(f"{path}: {_field_path(where)}: environment variable {name} is not set: "
                          f"set it, or give a default as ${{{name}:-value}}")

    return _ENV_REFERENCE.sub(substitute, value)


def _validate(instance: Any, schema: dict, path: Path, prefix: list) -> None:
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(instance),
                    key=lambda e: list(e.absolute_path))
    if errors:
        lines = [f"{path}: {_field_path(prefix + list(e.absolute_path))}: {e.message}"
                 + (f" (expected {e.schema['description']})" if e.schema.get("description") else "")
                 for e in errors]
        raise ConfigError("invalid monitor config:\n  " + "\n  ".join(lines))


def _check_builds(build, path: Path, where: str) -> None:
    """Values the schema cannot judge (time zones, durations, apprise URLs) are checked by building."""
    try:
        build()
    except ValueError as exc:
        raise ConfigError(f"{path}: {where}: {exc}") from exc


def _check_rule_brands(brands: list[dict], rules: list[dict], path: Path) -> None:
    """A rule about brands can only fire with brands configured, and names them as `brands:` does."""
    names = [brand["name"] for brand in brands]
    by_spelling = {fold_width_and_kana(spelling): brand["name"]
                   for brand in brands for spelling in [brand["name"], *brand.get("aliases", [])]}
    for index, rule in enumerate(rules):
        if rule["type"] in BRAND_RULE_TYPES and not brands:
            raise ConfigError(f"{path}: brands: none configured, so alerts.rules[{index}] (a {rule['type']} rule) "
                              f"can never fire: add a top-level `brands:` list, e.g. "
                              f"brands: [{{name: Sony, aliases: [ソニー]}}]")
        for position, brand in enumerate(rule.get("brands", [])):
            if brand not in names:
                meant = by_spelling.get(fold_width_and_kana(brand))
                fix = (f"write the brand's name, {meant!r}" if meant else
                       f"add it under `brands:`, or name a configured one ({', '.join(names) or 'none'})")
                raise ConfigError(f"{path}: alerts.rules[{index}].brands[{position}]: {brand!r} is not a "
                                  f"configured brand: {fix}")


def _check_rule_categories(names: list[str], rules: list[dict], path: Path) -> None:
    """A rule's `categories:` name categories in use, or it could never fire."""
    for index, rule in enumerate(rules):
        for position, name in enumerate(rule.get("categories", [])):
            if name not in names:
                raise ConfigError(f"{path}: alerts.rules[{index}].categories[{position}]: {name!r} is not a "
                                  f"category in use: name one of {', '.join(names) or 'none'}, or define it under "
                                  f"categories.custom")


def load_monitor(path: str | os.PathLike) -> Monitor:
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the monitor config: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the monitor config must be a mapping with at least `sources:`")
    raw = _expand_env(raw, [], path)
    _validate(raw, SCHEMA, path, [])
    alerts = raw.get("alerts", {})
    channels = alerts.get("channels", {})
    for name, channel in channels.items():
        _validate(channel, CHANNEL_TYPES[channel["type"]].schema, path, ["alerts", "channels", name])
        _check_builds(lambda: CHANNEL_TYPES[channel["type"]](name, channel), path, f"alerts.channels.{name}")
    rule_names = [rule["name"] for rule in alerts.get("rules", [])]
    for index, rule in enumerate(alerts.get("rules", [])):
        _validate(rule, RULE_TYPES[rule["type"]].schema, path, ["alerts", "rules", index])
        for where, zone in (("timezone", rule.get("timezone")),
                            ("quiet_hours.timezone", rule.get("quiet_hours", {}).get("timezone"))):
            if zone is not None:
                _check_builds(partial(time_zone, zone), path, f"alerts.rules[{index}].{where}")
        _check_builds(lambda: RULE_TYPES[rule["type"]](rule), path, f"alerts.rules[{index}]")
        if rule["name"] in rule_names[:index]:
            raise ConfigError(f"{path}: alerts.rules[{index}].name: {rule['name']!r} is used twice; "
                              f"rule names must be unique (alerts are recorded per rule name)")
        for channel in rule["channels"]:
            if channel not in channels:
                raise ConfigError(f"{path}: alerts.rules[{index}].channels: {channel!r} is not defined "
                                  f"under alerts.channels (defined: {', '.join(channels) or 'none'})")
    _check_rule_brands(raw.get("brands", []), alerts.get("rules", []), path)
    key_names = [key["name"] for key in raw.get("api", {}).get("keys", [])]
    if len(set(key_names)) < len(key_names):
        raise ConfigError(f"{path}: api.keys: each key needs its own name (rate limits are per name)")
    for index, source in enumerate(raw["sources"]):
        if (source.get("spider") == "forum") != ("platform" in source):
            raise ConfigError(f"{path}: sources[{index}]: a forum source needs `platform` "
                              f"({', '.join(PLATFORMS)}), and only a forum source has one")
        if (source.get("headers") or source.get("cookies")) and source.get("spider") != "forum":
            raise ConfigError(f"{path}: sources[{index}]: `headers` and `cookies` are for forum sources "
                              f"(spider: forum)")
        if source.get("follow_articles") and source.get("spider") != "feed":
            raise ConfigError(f"{path}: sources[{index}].follow_articles: only a feed source (spider: feed) "
                              f"follows its entries to their articles")
        if source.get("render") and source.get("spider", "reviews") != "reviews":
            raise ConfigError(f"{path}: sources[{index}].render: only a reviews source renders its pages")
        if source.get("render_wait_for") and not source.get("render"):
            raise ConfigError(f"{path}: sources[{index}].render_wait_for: needs render: true")
    for index, source in enumerate(raw["sources"]):
        if source.get("profile"):
            if source.get("spider", "reviews") != "reviews":
                raise ConfigError(f"{path}: sources[{index}].profile: only a reviews source reads pages with a profile")
            if source["profile"].startswith((".", "/", "~")) or source["profile"].endswith((".yaml", ".yml")):
                source["profile"] = str((path.parent / Path(source["profile"]).expanduser()).resolve())
            try:
                load_profile(source["profile"])
            except ProfileError as exc:
                raise ConfigError(f"{path}: sources[{index}].profile: {exc}") from exc
    names = [s["name"] for s in raw["sources"]]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ConfigError(f"{path}: sources: names must be unique, repeated: {', '.join(duplicates)}")
    sentiment = dict(raw.get("sentiment", {}))
    model = sentiment.get("model")
    if model and model.startswith((".", "/", "~")):
        sentiment["model"] = str((path.parent / Path(model).expanduser()).resolve())
    if "categories" in raw:
        try:
            definitions(raw["categories"])
        except CategoryError as exc:
            raise ConfigError(f"{path}: categories.{exc}") from exc
        # Categories are scored by the sentiment stage, from the same model pass: they travel in its section.
        sentiment["categories"] = raw["categories"]
    _check_rule_categories([category.name for category in definitions(raw.get("categories"))],
                           alerts.get("rules", []), path)
    return Monitor(path=path.resolve(), elasticsearch=raw.get("elasticsearch", {}),
                   brands=raw.get("brands", []), sources=raw["sources"], sentiment=sentiment,
                   alerts=alerts, crawl=raw.get("crawl", {}), api=raw.get("api", {}))
