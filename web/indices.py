"""The workspace's own Elasticsearch indices, beside the reviews: users, audit, triage, saved searches."""
from __future__ import annotations

from elasticsearch import Elasticsearch

from index.storage.client import index_prefix

SETTINGS = {"number_of_shards": 1, "number_of_replicas": 0}


def workspace_index(es_config: dict, name: str) -> str:
    return f"{index_prefix(es_config)}-{name}"


def ensure(client: Elasticsearch, name: str, properties: dict) -> str:
    """Create the index with this mapping, or add new fields to an existing one (fields are only added)."""
    mappings = {"dynamic": False, "properties": properties}
    if not client.indices.exists(index=name):
        client.indices.create(index=name, body={"settings": SETTINGS, "mappings": mappings}, ignore=400)
    else:
        client.indices.put_mapping(index=name, body=mappings)
    return name
