"""The reviews schema behind its alias: creation, migration to a new schema version, rollover, retention.

Concrete indices are named `<prefix>-reviews-v<schema>-<NNNNNN>`. Writes and searches go through the
alias `<prefix>-reviews`; its write index takes new documents, older (rolled-over) indices stay
searchable behind the same alias until retention deletes them.
"""
from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

from elasticsearch import Elasticsearch
from elasticsearch.exceptions import NotFoundError

from index.storage.client import index_settings

HERE = Path(__file__).parent
FIRST_GENERATION = "000001"


class SchemaError(RuntimeError):
    pass


def schema_version() -> int:
    return json.loads((HERE / "mapping.json").read_text())["mappings"]["_meta"]["schema_version"]


def keyword_limits() -> dict[str, int]:
    """Field -> its `ignore_above`, for the keyword fields a crawled page fills (URLs, author, ids): the longest
    value worth keeping. Elasticsearch refuses a whole document with a keyword term over 32,766 bytes."""
    properties = json.loads((HERE / "mapping.json").read_text())["mappings"]["properties"]
    return {name: field["ignore_above"] for name, field in properties.items()
            if field.get("type") == "keyword" and "ignore_above" in field}


def template_body(prefix: str) -> dict:
    text = (HERE / "mapping.json").read_text()
    return json.loads(text.replace("{prefix}", prefix).replace("{version}", str(schema_version())))


def reviews_template_name(prefix: str, version: int) -> str:
    return f"{prefix}-reviews-v{version}"


def backing_indices(client: Elasticsearch, alias: str) -> dict[str, dict]:
    """Concrete index -> {"write": bool, "version": int} for every index behind the alias."""
    try:
        aliases = client.indices.get_alias(name=alias)
    except NotFoundError:
        return {}
    mappings = client.indices.get_mapping(index=list(aliases))
    return {name: {"write": bool(info["aliases"][alias].get("is_write_index")) or len(aliases) == 1,
                   "version": mappings[name]["mappings"].get("_meta", {}).get("schema_version", 1)}
            for name, info in aliases.items()}


def write_index(client: Elasticsearch, alias: str) -> str | None:
    for name, info in backing_indices(client, alias).items():
        if info["write"]:
            return name
    return None


def ensure_reviews_index(client: Elasticsearch, prefix: str) -> str:
    """Install this schema's template; create the first index behind `<prefix>-reviews` if there is none.

    An alias whose write index has an older schema is not written to: that needs `kuchikomi index migrate`.
    """
    body = _with_index_settings(client, template_body(prefix))
    version = schema_version()
    alias = f"{prefix}-reviews"
    client.indices.put_template(name=reviews_template_name(prefix, version), body=body)
    # Before versioned templates one template matched every reviews index; it must not shadow this one.
    client.indices.delete_template(name=alias, ignore=404)
    current = write_index(client, alias)
    if current is None:
        client.indices.create(index=f"{alias}-v{version}-{FIRST_GENERATION}",
                              body={"aliases": {alias: {"is_write_index": True}}}, ignore=400)
        return alias
    indices = backing_indices(client, alias)
    found = indices[current]["version"]
    if found < version:
        raise SchemaError(f"the index {current} has schema version {found}, this kuchikomi writes version "
                          f"{version}: run `kuchikomi index migrate` (searches keep working meanwhile)")
    if found > version:
        raise SchemaError(f"the index {current} has schema version {found}, newer than this kuchikomi's "
                          f"({version}): upgrade kuchikomi")
    # Within a schema version fields are only ever added, so its indices are updated in place: the rolled-over
    # ones too, since a team correction may still rewrite a review in one of them.
    same_version = [name for name, info in indices.items() if info["version"] == version]
    client.indices.put_mapping(index=",".join(same_version), body=body["mappings"])
    client.indices.put_settings(index=current,
                                body={"index": {"refresh_interval": body["settings"]["refresh_interval"]}})
    _apply_replicas(client, list(backing_indices(client, alias)))
    return alias


def _with_index_settings(client: Elasticsearch, body: dict) -> dict:
    """The body with the shards and replicas the monitor config asks for (else the mapping file's)."""
    return {**body, "settings": {**body.get("settings", {}), **index_settings(client)}}


def _apply_replicas(client: Elasticsearch, indices: list[str]) -> None:
    """Replicas are changed in place on existing indices; shards only apply to indices created from now
    on (the next rollover or migration)."""
    replicas = index_settings(client).get("number_of_replicas")
    if replicas is not None and indices:
        client.indices.put_settings(index=",".join(indices), body={"index": {"number_of_replicas": replicas}})


def _migration_script(old: int, new: int) -> str | None:
    steps = json.loads((HERE / "migrations.json").read_text())
    sources = [steps[str(v)] for v in range(old + 1, new + 1) if str(v) in steps]
    return "\n".join(sources) or None


def migrate(client: Elasticsearch, prefix: str, keep_old: bool = False, log=print) -> str:
    """Reindex everything behind the alias into a new index of the current schema, then swap the alias.

    Searches keep using the old indices until the swap, which is one atomic alias update. Documents
    written to the old indices while the copy ran are copied again after the swap, unless the new
    index already has a newer copy.
    """
    alias = f"{prefix}-reviews"
    version = schema_version()
    old = backing_indices(client, alias)
    if not old:
        ensure_reviews_index(client, prefix)
        log(f"no reviews index yet; created one with schema version {version}")
        return alias
    oldest = min(info["version"] for info in old.values())
    if oldest == version and all(info["version"] == version for info in old.values()):
        log(f"{alias} already has schema version {version}; nothing to migrate")
        return alias
    body = _with_index_settings(client, template_body(prefix))
    client.indices.put_template(name=reviews_template_name(prefix, version), body=body)
    client.indices.delete_template(name=alias, ignore=404)
    target = f"{alias}-v{version}-{FIRST_GENERATION}"
    if client.indices.exists(index=target):
        raise SchemaError(f"{target} exists but is not behind {alias}: an earlier migration stopped "
                          f"half-way; delete {target} and run `kuchikomi index migrate` again")
    client.indices.create(index=target)
    started = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
    script = _migration_script(oldest, version)
    copied = _reindex(client, list(old), target, script)
    log(f"copied {copied} documents from {', '.join(sorted(old))} into {target}")
    actions = [{"remove": {"index": name, "alias": alias}} for name in old]
    actions.append({"add": {"index": target, "alias": alias, "is_write_index": True}})
    client.indices.update_aliases(body={"actions": actions})
    late = _reindex(client, list(old), target, script, {"range": {"fetched_at": {"gte": started}}})
    if late:
        log(f"copied {late} documents written during the migration")
    if keep_old:
        log(f"old indices kept (no longer searched): {', '.join(sorted(old))}")
    else:
        client.indices.delete(index=",".join(old))
        log(f"deleted {', '.join(sorted(old))}")
    log(f"{alias} -> {target} (schema version {version})")
    return target


def _reindex(client: Elasticsearch, sources: list[str], target: str, script: str | None,
             query: dict | None = None) -> int:
    # External versions carry over, so the second pass only replaces copies with newer ones.
    body = {"source": {"index": sources, "size": 1000}, "dest": {"index": target, "version_type": "external"},
            "conflicts": "proceed"}
    if query:
        body["source"]["query"] = query
    if script:
        body["script"] = {"lang": "painless", "source": script}
    reply = client.reindex(body=body, refresh=True, wait_for_completion=True, request_timeout=3600)
    if reply.get("failures"):
        raise SchemaError(f"reindex into {target} failed: {reply['failures'][:3]}")
    return reply["created"] + reply["updated"]


def rollover(client: Elasticsearch, prefix: str, conditions: dict | None, force: bool = False) -> str | None:
    """Start a new write index when a condition (max_docs, max_age, max_size) is met; its new name, or None."""
    alias = f"{prefix}-reviews"
    if not force and not conditions:
        return None
    current = write_index(client, alias)
    if current is None:
        raise SchemaError(f"{alias} does not exist yet")
    if not re.search(r"-\d+$", current):
        raise SchemaError(f"{current} predates rollover: run `kuchikomi index migrate` first")
    reply = client.indices.rollover(alias=alias, body={} if force else {"conditions": conditions})
    return reply["new_index"] if reply.get("rolled_over") else None


def apply_retention(client: Elasticsearch, prefix: str, days: float, now: datetime | None = None) -> dict:
    """Delete reviews dated more than `days` ago: whole rolled-over indices, then stragglers by query."""
    alias = f"{prefix}-reviews"
    cutoff = ((now or datetime.now(timezone.utc)) - timedelta(days=days)).isoformat(timespec="seconds")
    deleted_indices = []
    client.indices.refresh(index=alias)  # judge by everything written so far
    for name, info in backing_indices(client, alias).items():
        if info["write"]:
            continue
        newest = client.search(index=name, body={"size": 0, "aggs": {"newest": {"max": {"field": "date"}}}})
        value = newest["aggregations"]["newest"].get("value_as_string")
        if value is None or value < cutoff:
            client.indices.delete(index=name)
            deleted_indices.append(name)
    reply = client.delete_by_query(index=alias, body={"query": {"range": {"date": {"lt": cutoff}}}},
                                   conflicts="proceed", refresh=True)
    return {"cutoff": cutoff, "deleted_indices": deleted_indices, "deleted_documents": reply["deleted"]}


def describe(client: Elasticsearch, prefix: str) -> list[dict]:
    """One row per index behind the alias: name, schema version, write flag, documents, size."""
    alias = f"{prefix}-reviews"
    indices = backing_indices(client, alias)
    if not indices:
        return []
    stats = client.indices.stats(index=list(indices), metric="docs,store")["indices"]
    return [{"index": name, "schema_version": info["version"], "write": info["write"],
             "documents": stats[name]["primaries"]["docs"]["count"],
             "size_bytes": stats[name]["primaries"]["store"]["size_in_bytes"]}
            for name, info in sorted(indices.items())]


def ensure_alerts_index(client: Elasticsearch, name: str) -> str:
    return _ensure_index(client, name, "alerts_mapping.json")


def ensure_corrections_index(client: Elasticsearch, name: str) -> str:
    return _ensure_index(client, name, "corrections_mapping.json")


def ensure_crawls_index(client: Elasticsearch, name: str) -> str:
    return _ensure_index(client, name, "crawls_mapping.json")


def ensure_copies_index(client: Elasticsearch, name: str) -> str:
    return _ensure_index(client, name, "copies_mapping.json")


def _ensure_index(client: Elasticsearch, name: str, mapping_file: str) -> str:
    body = _with_index_settings(client, json.loads((HERE / mapping_file).read_text()))
    if not client.indices.exists(index=name):
        client.indices.create(index=name, body=body, ignore=400)
    else:
        # Fields are only ever added to this mapping, so an older index is brought up to date in place.
        client.indices.put_mapping(index=name, body=body["mappings"])
        _apply_replicas(client, [name])
    return name

