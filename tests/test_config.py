"""The monitor config: errors name the file, the field and the problem."""
import pytest

from kuchikomi.config import ConfigError, load_monitor

VALID = """
brands: [{name: Sony, aliases: [ソニー]}]
sources: [{name: shop, start_urls: ["https://shop.example/"]}]
alerts:
  channels: {hook: {type: webhook, url: "${HOOK_URL}"}}
  rules: [{name: neg, type: negative_brand, channels: [hook], max_rating: 0.25}]
"""


def write(tmp_path, text):
    path = tmp_path / "monitor.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_valid_config_with_environment_reference(tmp_path, monkeypatch):
    monkeypatch.setenv("HOOK_URL", "https://hooks.example/abc")
    monitor = load_monitor(write(tmp_path, VALID))
    assert monitor.alerts["channels"]["hook"]["url"] == "https://hooks.example/abc"
    assert monitor.brands[0]["aliases"] == ["ソニー"]


@pytest.mark.parametrize("text,field,problem", [
    ("sources: []", "sources", "should be non-empty"),
    ("sources: [{name: shop, start_urls: [ftp://x]}]", "sources[0].start_urls[0]", "does not match"),
    ("sources: [{name: s, start_urls: ['http://x']}]\nbrands: [{aliases: [a]}]", "brands[0]", "'name' is a required"),
    ("sources: [{name: s, start_urls: ['http://x']}]\nelasticsearch: {url: localhost:9200}", "elasticsearch.url", "does not match"),
    ("sources: [{name: s, start_urls: ['http://x']}]\nalerts: {channels: {c: {type: console}}, rules: "
     "[{name: r, type: negative_brand, channels: [c], max_rating: 3}]}", "alerts.rules[0].max_rating", "greater than"),
    ("sources: [{name: s, start_urls: ['http://x']}]\nalerts: {rules: [{name: r, type: negative_brand, channels: [x]}]}",
     "alerts.rules[0].channels", "'x' is not defined"),
    ("sources: [{name: s, start_urls: ['http://x']}]\nsentimnet: {}", "(top level)", "sentimnet"),
])
def test_invalid_config_names_file_field_and_problem(tmp_path, text, field, problem):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as error:
        load_monitor(path)
    message = str(error.value)
    assert str(path) in message and field in message and problem in message


def test_missing_environment_variable_is_named(tmp_path, monkeypatch):
    monkeypatch.delenv("HOOK_URL", raising=False)
    with pytest.raises(ConfigError, match=r"alerts.channels.hook.url: environment variable HOOK_URL is not set"):
        load_monitor(write(tmp_path, VALID))


def test_unreadable_and_malformed_files(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_monitor(tmp_path / "absent.yaml")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_monitor(write(tmp_path, "sources: [unclosed"))


@pytest.mark.parametrize("rule, field, fix", [
    ("review: 'div.review['\nfields: {body: {css: p}}", "review", "write a CSS selector such as"),
    ("review: div.review\nfields: {body: {css: p}, author: {css: 'span[class='}}", "fields.author.css",
     "write a CSS selector such as"),
    ("review: div.review\nfields: {body: {css: p, regex: '(unclosed'}}", "fields.body.regex",
     "write a Python regular expression"),
    ("review: div.review\nfields: {body: {css: p}}\nnext_page: {xpath: '//a[@rel='}", "next_page.xpath",
     "write an XPath such as"),
])
def test_a_bad_site_profile_names_its_file_field_and_fix(tmp_path, rule, field, fix):
    profile = tmp_path / "profiles" / "x.yaml"
    profile.parent.mkdir()
    profile.write_text(f"name: x\n{rule}\n", encoding="utf-8")
    path = write(tmp_path, "sources: [{name: shop, start_urls: ['https://shop.example/'], profile: profiles/x.yaml}]")
    with pytest.raises(ConfigError) as error:
        load_monitor(path)
    message = str(error.value)
    assert message.startswith(f"{path}: sources[0].profile: {profile}: {field}: invalid ")
    assert fix in message and "\n" not in message
