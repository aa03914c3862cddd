"""Running `kuchikomi crawl` in a subprocess on a written config, and reading what it stored."""
from __future__ import annotations

import subprocess

import yaml
from elasticsearch import Elasticsearch
from tests.support.cli import kuchikomi_process


def crawl(tmp_path, es_url: str, prefix: str, sources: list[dict], log_level: str = "WARNING",
          **crawl_settings) -> subprocess.CompletedProcess:
    config = tmp_path / "monitor.yaml"
    config.write_text(yaml.safe_dump({
        "elasticsearch": {"url": es_url, "index_prefix": prefix}, "sources": sources,
        "crawl": {"autothrottle_start_delay": 0, "download_delay": 0, **crawl_settings}}, allow_unicode=True))
    return kuchikomi_process("crawl", "-c", str(config), "--log-level", log_level)


def stored(es_url: str, prefix: str, index: str = "reviews") -> list[dict]:
    client = Elasticsearch([es_url])
    client.indices.refresh(index=f"{prefix}-{index}")
    return [hit["_source"] for hit in client.search(index=f"{prefix}-{index}", size=500)["hits"]["hits"]]
