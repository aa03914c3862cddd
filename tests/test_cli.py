"""Command-line tools a user runs to check a site or a config."""
import json

from crawlers.static_site import DEMO_SITE, StaticSite
from tests.support.cli import kuchikomi as run


def test_extract_saved_page(shared):
    page = shared / "fixtures/reviews/recipes-schemaorg/delishkitchen.tv/delishkitchen_1.html"
    result = run("extract", str(page), "--url", "https://delishkitchen.tv/recipes/1")
    assert result.returncode == 0, result.stderr
    items = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(items) == 10
    assert items[0]["author"] == "はぎこ" and items[0]["language"] == "ja"
    assert items[0]["source_url"] == "https://delishkitchen.tv/recipes/1"
    assert "10 reviews" in result.stderr


def test_extract_url_from_a_local_server():
    with StaticSite(DEMO_SITE) as site:
        result = run("extract", f"{site.url}/products/panasonic-rice-cooker.html")
    assert result.returncode == 0, result.stderr
    items = [json.loads(line) for line in result.stdout.splitlines()]
    assert [item["author"] for item in items] == ["鈴木一郎", "高橋", "ｲﾄｳ"]
    assert "page aggregate 3.3 of 5 from 3 ratings" in result.stderr


def test_extract_missing_file_is_a_clear_error(tmp_path):
    result = run("extract", str(tmp_path / "absent.html"))
    assert result.returncode == 1 and "absent.html" in result.stderr and "Traceback" not in result.stderr


def test_config_check(tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text("sources: [{name: s, start_urls: ['https://x.example/']}]")
    assert run("config", "check", str(good)).returncode == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text("sources: [{name: s}]")
    result = run("config", "check", str(bad))
    assert result.returncode == 2 and "sources[0]: 'start_urls' is a required property" in result.stderr
