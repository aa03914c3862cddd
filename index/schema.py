"""The reviews index template and its alias: writes and searches go through the alias."""
from __future__ import annotations

import json
from pathlib import Path

from elasticsearch import Elasticsearch

HERE = Path(__file__).parent


def template_body(prefix: str) -> dict:
    return json.loads((HERE / "mapping.json").read_text().replace("{prefix}", prefix))


def ensure_reviews_index(client: Elasticsearch, prefix: str) -> str:
    """Install the template and create `<prefix>-reviews-v<N>` behind `<prefix>-reviews`."""
    body = template_body(prefix)
    version = body["mappings"]["_meta"]["schema_version"]
    alias = f"{prefix}-reviews"
    client.indices.put_template(name=alias, body=body)
    if not client.indices.exists_alias(name=alias):
        concrete = f"{alias}-v{version}"
        if not client.indices.exists(index=concrete):
            client.indices.create(index=concrete, body={"aliases": {alias: {"is_write_index": True}}},
                                  ignore=400)
        else:
            client.indices.put_alias(index=concrete, name=alias, body={"is_write_index": True})
    else:
        # Fields are only ever added within a schema version, so older indices are updated in place.
        client.indices.put_mapping(index=alias, body=body["mappings"])
    return alias


def ensure_alerts_index(client: Elasticsearch, name: str) -> str:
    return _ensure_index(client, name, "alerts_mapping.json")


def ensure_corrections_index(client: Elasticsearch, name: str) -> str:
    return _ensure_index(client, name, "corrections_mapping.json")


def _ensure_index(client: Elasticsearch, name: str, mapping_file: str) -> str:
    body = json.loads((HERE / mapping_file).read_text())
    if not client.indices.exists(index=name):
        client.indices.create(index=name, body=body, ignore=400)
    else:
        # Fields are only ever added to this mapping, so an older index is brought up to date in place.
        client.indices.put_mapping(index=name, body=body["mappings"])
    return name
