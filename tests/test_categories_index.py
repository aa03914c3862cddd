"""Categories and aspects downstream of the classifier, on the real node: the mapping, `category:` and
`aspect:` in the query syntax, the --category filter, the reports, alert rules with `categories:`, and
crawled sentences escaped in the messages that show them."""
import csv
import json
from collections import Counter
from datetime import datetime, timezone

import pytest
import requests
import yaml
from elasticsearch import Elasticsearch

from alerts.channels.email import EmailChannel
from alerts.dispatch import AlertDispatcher
from alerts.message import Message
from alerts.rules.digest import DigestRule
from alerts.rules.base import RuleContext
from alerts.state import DeliveryState
from index.research.query import BrandNames, QuerySyntaxError, parse_query
from index.research.report import aspects, categories
from index.research.search import Filters, search
from index.storage.schema import ensure_reviews_index, rollover, template_body
from index.storage.writer import BulkWriter
from kuchikomi.config import ConfigError, load_monitor
from tests.support.api import running_api
from tests.support.cli import kuchikomi
from tests.support.research_corpus import BRANDS, DOCUMENTS, ids, where

BRAND_NAMES = BrandNames(BRANDS)
ANALYST = {"X-API-Key": "analyst-key-0123456789"}


def names(doc) -> set[str]:
    return {category["name"] for category in doc.get("categories") or []}


def has(*wanted):
    return lambda doc: bool(names(doc) & set(wanted))


def found(research, query="", **filters) -> set[str]:
    page = search(research["client"], research["alias"], Filters(query=query, **filters), BRAND_NAMES, size=100)
    return ids(page.hits)


def aspect_of(category, sentiment=None):
    return lambda doc: any(a["category"] == category and sentiment in (None, a["sentiment"])
                           for a in doc.get("aspects") or [])


@pytest.mark.parametrize("query, expected", [
    ("category:complaint", where(c=has("complaint"))),
    ("category:Purchase-Intent", where(c=has("purchase_intent"))),       # case and - folded to the config's names
    ("category:ｐｒａｉｓｅ", where(c=has("praise"))),                     # full-width too
    ("category:defect -category:complaint", {"en-5"}),
    ("category:price OR category:question", where(c=has("price", "question"))),
    ("category:defect lang:ja", {"ja-2"}),
    ("battery category:customer_service", {"en-8"}),
    ("category:churn_risk", set()),
    ("aspect:defect", where(a=aspect_of("defect"))),
    ("aspect:battery:positive", {"en-5"}),
    ("aspect:customer_service:negative", {"zh-2", "en-8"}),                # ja-2's returns sentence is neutral
    ("aspect:defect:positive", set()),                                     # en-5: defect negative, battery positive
    ("-aspect:defect sentiment:negative", {"zh-3", "en-3", "en-8"}),
])
def test_category_and_aspect_in_the_query_syntax(research, query, expected):
    assert found(research, query) == expected


@pytest.mark.parametrize("query, message", [
    ('category:"not a name!"', "lower-case letters, digits and _"),
    ("aspect:battery:angry", "negative, neutral, positive"),
    ("categroy:complaint", "category"),                                    # the unknown-field message lists it
])
def test_bad_category_queries_are_one_line_errors(query, message):
    with pytest.raises(QuerySyntaxError, match=message):
        parse_query(query)


def test_category_filter_in_the_api_the_cli_and_exports(research, tmp_path):
    assert found(research, categories=["complaint", "question"]) == where(c=has("complaint", "question"))
    assert found(research, "sony", categories=["defect"]) == {"ja-2", "zh-2", "en-2"}
    config = str(research["config"])
    result = kuchikomi("search", "--category", "customer_service", "--category", "price", "--format", "jsonl",
                       "-c", config)
    assert result.returncode == 0, result.stderr
    hits = [json.loads(line) for line in result.stdout.splitlines()]
    assert ids(hits) == where(c=has("customer_service", "price"))
    assert next(h for h in hits if h["doc_id"] == "en-8")["categories"][0] == {"name": "customer_service",
                                                                            "score": 0.96}
    table = kuchikomi("search", "--category", "purchase_intent", "-c", config)
    assert table.stdout.startswith("[neutral 0.90] rating - | question, purchase_intent | -")
    bad = kuchikomi("search", "--category", "Not A Name", "-c", config)
    assert bad.returncode == 2 and "lower-case letters" in bad.stderr and "Traceback" not in bad.stderr

    out = tmp_path / "defects.csv"
    assert kuchikomi("export", "--format", "csv", "--category", "defect", "-o", str(out), "-c", config).returncode == 0
    with open(out, encoding="utf-8") as handle:
        rows = {row["doc_id"]: row for row in csv.DictReader(handle)}
    assert rows.keys() == where(c=has("defect"))
    assert rows["en-5"]["categories"] == "defect" and rows["en-5"]["aspects"] == "defect:negative|battery:positive"

    with running_api(research["config"]) as api:
        reply = requests.get(f"{api}/v1/search", params={"category": ["praise", "price"], "size": 100},
                             headers=ANALYST)
        assert reply.status_code == 200 and ids(reply.json()["hits"]) == where(c=has("praise", "price"))
        report = requests.get(f"{api}/v1/reports/categories", params={"interval": "month", "brand": "Sony"},
                              headers=ANALYST)
        assert report.status_code == 200 and {row["brand"] for row in report.json()["rows"]} == {"Sony"}
        refused = requests.get(f"{api}/v1/search", params={"q": "category:?"}, headers=ANALYST)
        assert refused.status_code == 400 and "lower-case letters" in refused.json()["detail"]


def test_categories_report_counts_per_month_brand_and_category(research):
    rows = categories(research["client"], research["alias"], Filters(), BRAND_NAMES, interval="month").rows
    expected = Counter(((doc["published_at"] or "2024-03-25")[:7], brand, name) for doc in DOCUMENTS
                       for brand in doc["brands"] or ["(no brand)"] for name in names(doc))
    assert {(row["period"][:7], row["brand"], row["category"]): row["mentions"] for row in rows} == expected
    sony_defects = [row for row in rows if row["brand"] == "Sony" and row["category"] == "defect"]
    assert sum(row["negative"] for row in sony_defects) == 3 and all(r["negative_share"] == 1 for r in sony_defects)
    praise = next(row for row in rows if row["category"] == "praise" and row["period"].startswith("2024-03"))
    assert (praise["brand"], praise["positive"], praise["negative_share"]) == ("Sony", 1, 0)
    # The report takes the same filters as search.
    rows = categories(research["client"], research["alias"], Filters(languages=["zh"]), BRAND_NAMES).rows
    assert {row["category"] for row in rows} == {"defect", "customer_service", "complaint"}


def test_aspects_report_says_what_is_praised_and_what_is_blamed(research):
    rows = aspects(research["client"], research["alias"], Filters(), BRAND_NAMES).rows
    by_key = {(row["brand"], row["aspect"]): row for row in rows}
    assert (by_key["Anker", "battery"]["positive"], by_key["Anker", "defect"]["negative"]) == (1, 1)
    sony_defect = by_key["Sony", "defect"]
    assert (sony_defect["reviews"], sony_defect["sentences"], sony_defect["net_sentiment"]) == (3, 3, -1)
    # Counted per sentence: one review's two sentences of customer service are two.
    expected = Counter((brand, a["category"]) for doc in DOCUMENTS for brand in doc["brands"] or ["(no brand)"]
                       for a in doc.get("aspects") or [])
    assert {key: row["sentences"] for key, row in by_key.items()} == expected


def test_report_command_prints_and_charts_the_category_reports(research, tmp_path):
    result = kuchikomi("report", "categories", "aspects", "--interval", "month", "--out", str(tmp_path),
                       "-c", str(research["config"]))
    assert result.returncode == 0, result.stderr
    assert "Categories per month by brand" in result.stdout and "negative_share" in result.stdout
    assert "Aspects by brand" in result.stdout
    for name in ("categories", "aspects"):
        assert (tmp_path / f"{name}.png").stat().st_size > 5000
        with open(tmp_path / f"{name}.csv", encoding="utf-8") as handle:
            assert len(list(csv.DictReader(handle))) > 3


def test_an_existing_index_gets_the_fields_in_place(es_url, index_prefix, tmp_path):
    """Indices made before categories (the write index and a rolled-over one) get the new fields from
    ensure_reviews_index, as every crawl calls it: no `index migrate` needed, nothing reindexed."""
    client = Elasticsearch([es_url])
    before = template_body(index_prefix)
    for field in ("categories", "aspects"):
        del before["mappings"]["properties"][field]
    client.indices.put_template(name=f"{index_prefix}-reviews-v2", body=before)
    alias = f"{index_prefix}-reviews"
    client.indices.create(index=f"{alias}-v2-000001", body={"aliases": {alias: {"is_write_index": True}}})
    old = {key: value for key, value in DOCUMENTS[0].items() if key not in ("categories", "aspects")}
    BulkWriter(client, alias, tmp_path / "spool.jsonl").write([{**old, "doc_id": "old"}])
    rollover(client, index_prefix, None, force=True)
    client.indices.refresh(index=alias)
    # Before: searching and reporting on categories finds nothing, and fails nowhere.
    assert search(client, alias, Filters("aspect:praise", categories=["praise"]), BRAND_NAMES).total == 0
    assert aspects(client, alias, Filters(), BRAND_NAMES).rows == []

    ensure_reviews_index(client, index_prefix)
    mappings = client.indices.get_mapping(index=alias)
    assert len(mappings) == 2
    assert all(m["mappings"]["properties"]["aspects"]["type"] == "nested" for m in mappings.values())
    failures = BulkWriter(client, alias, tmp_path / "spool.jsonl").write(DOCUMENTS[:3])
    assert not any(failures.values())
    # A correction rewrites a review where it lies, in the rolled-over index too.
    client.update(index=f"{alias}-v2-000001", id="old",
                  body={"doc": {"categories": [{"name": "question", "score": 1.0, "corrected": True}]}})
    client.indices.refresh(index=alias)
    assert ids(search(client, alias, Filters("category:praise aspect:praise:positive"), BRAND_NAMES).hits) == {"ja-1"}
    assert ids(search(client, alias, Filters("category:question"), BRAND_NAMES).hits) == {"old"}


def monitor(tmp_path, es_url, prefix, hook_url, rules):
    path = tmp_path / "monitor.yaml"
    path.write_text(yaml.safe_dump({
        "brands": [{"name": "Sony", "aliases": ["ソニー"]}],
        "sources": [{"name": "unused", "start_urls": ["http://127.0.0.1:9/"]}],
        "elasticsearch": {"url": es_url, "index_prefix": prefix},
        "alerts": {"channels": {"sales": {"type": "webhook", "url": hook_url, "attempts": 1}}, "rules": rules},
    }, allow_unicode=True), encoding="utf-8")
    return load_monitor(path)


def mention(doc_id, body, category_names, aspects_=(), brands=("Sony",), label="neutral"):
    return {"doc_id": doc_id, "source": "forum", "site": "forum.example", "brands": list(brands),
            "source_url": f"https://forum.example/{doc_id}", "title": "", "body": body, "language": "ja",
            "sentiment": {"label": label, "score": 0.9},
            "categories": [{"name": name, "score": 0.8} for name in category_names],
            "aspects": [{"category": c, "sentiment": s, "sentence": sentence} for c, s, sentence in aspects_]}


def test_a_purchase_intent_rule_sends_leads_not_complaints_to_the_sales_webhook(tmp_path, es_url, index_prefix,
                                                                                  webhook):
    config = monitor(tmp_path, es_url, index_prefix, webhook.url, [
        {"name": "sales-leads", "type": "mention", "brands": ["Sony"], "categories": ["purchase_intent"],
         "channels": ["sales"]},
        {"name": "refunds-in-complaints", "type": "keyword", "terms": ["返金"], "categories": ["complaint"],
         "channels": ["sales"]}])
    client = Elasticsearch([es_url])
    dispatcher = AlertDispatcher(config.alerts, DeliveryState(client, f"{index_prefix}-alerts"), client=client,
                                 reviews_index=f"{index_prefix}-reviews")
    lead = mention("lead", "ソニーのWH-1000XM5、ボーナスで買おうと思っています。返金保証はありますか？",
                   ["purchase_intent", "question"],
                   [("purchase_intent", "positive", "ソニーのWH-1000XM5、ボーナスで買おうと思っています。")])
    complaint = mention("complaint", "ソニーのイヤホンが壊れた。返金してほしい。", ["complaint", "defect"],
                        label="negative")
    uncategorised = mention("plain", "ソニーの新製品が出た。返金の話はない。", [])
    for item in (lead, complaint, uncategorised):
        dispatcher.alert_now(item)
    by_rule = {(alert["rule"], alert["doc_id"]) for alert in webhook.alerts}
    assert by_rule == {("sales-leads", "lead"), ("refunds-in-complaints", "complaint")}
    sent = next(alert for alert in webhook.alerts if alert["rule"] == "sales-leads")
    assert sent["categories"] == ["purchase_intent", "question"]
    assert sent["headline"] == "purchase_intent mention of Sony on forum.example"
    assert sent["aspects"] == [{"category": "purchase_intent", "sentiment": "positive",
                                "sentence": "ソニーのWH-1000XM5、ボーナスで買おうと思っています。"}]


def test_rule_categories_are_checked_when_the_config_loads(tmp_path, es_url, index_prefix, webhook):
    with pytest.raises(ConfigError, match=r"alerts\.rules\[0\]\.categories\[0\]"):
        monitor(tmp_path, es_url, index_prefix, webhook.url, [
            {"name": "leads", "type": "mention", "categories": ["Purchase Intent"], "channels": ["sales"]}])
    # Well formed but not a category in use: a typo that would never fire.
    with pytest.raises(ConfigError, match=r"alerts\.rules\[0\]\.categories\[1\]: 'purchase_intents' is not a "
                                          r"category in use: name one of complaint, .*purchase_intent"):
        monitor(tmp_path, es_url, index_prefix, webhook.url, [
            {"name": "leads", "type": "mention", "categories": ["question", "purchase_intents"],
             "channels": ["sales"]}])


def test_a_digest_with_categories_counts_only_those_mentions(research):
    def digest(**categories):
        rule = DigestRule({"name": "praise", "type": "digest", "period": "weekly", "weekday": "friday",
                           "brands": ["Sony"], "channels": ["c"], **categories})
        now = datetime(2024, 1, 12, 12, tzinfo=timezone.utc)  # the week from Friday 5 January
        [alert] = rule.run(RuleContext(research["client"], research["alias"], now))
        return alert["stats"]

    assert digest()["mentions"] == 3  # ja-1, zh-1, en-1
    praised = digest(categories=["praise"])
    assert (praised["mentions"], praised["positive"]) == (1, 1)  # ja-1


def test_a_hostile_aspect_sentence_is_escaped_in_the_email(tmp_path, es_url, index_prefix, webhook):
    config = monitor(tmp_path, es_url, index_prefix, webhook.url, [
        {"name": "leads", "type": "mention", "categories": ["purchase_intent"], "channels": ["sales"]}])
    hostile = '<img src=x onerror="alert(1)">欲しい</a>'
    item = mention("x", "ソニーのヘッドホンが欲しい", ['<b>purchase_intent'],
                   [("purchase_intent", "positive", hostile), ("<script>", "negative", "ok")])
    item["categories"].append({"name": "purchase_intent", "score": 0.7})
    [alert] = AlertDispatcher(config.alerts, None).evaluate(item)
    mail = EmailChannel("pr", {"type": "email", "host": "127.0.0.1", "from": "a@example.com",
                               "to": ["b@example.com"]}).compose(Message([alert]))
    html = mail.get_body(("html",)).get_content()
    assert "<img" not in html and "<script>" not in html and "<b>purchase_intent" not in html
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;欲しい&lt;/a&gt;" in html
    assert "categories: &lt;b&gt;purchase_intent, purchase_intent" in html
    text = mail.get_body(("plain",)).get_content()
    assert f"purchase_intent (positive): {hostile}" in text  # plain text is shown as typed, not interpreted


def test_the_demo_prints_each_reviews_categories_and_has_a_lead_rule(research, capsys, monkeypatch, tmp_path):
    from kuchikomi.commands import DEMO_CONFIG
    from kuchikomi.commands.demo import print_reviews
    print_reviews(load_monitor(research["config"]), research["client"])
    lines = capsys.readouterr().out.splitlines()
    assert lines[1] == f"reviews ({len(DOCUMENTS)} of {len(DOCUMENTS)}):"
    assert lines[2].split() == ["brand", "sentiment", "categories", "aspects", "review"]
    row = next(line for line in lines if "Cable frayed" in line)
    assert "defect" in row and "defect -, battery +" in row
    assert "question, purchase_intent" in next(line for line in lines if "Which headphones?" in line)

    monkeypatch.setenv("KUCHIKOMI_DEMO_ALERTS", str(tmp_path / "alerts.jsonl"))
    demo = load_monitor(DEMO_CONFIG)
    dispatcher = AlertDispatcher(demo.alerts, None)
    lead = mention("s6", "ソニーのWH-1000XM5、冬のボーナスで買おうと思っています。", ["purchase_intent", "question"])
    assert [alert["rule"] for alert in dispatcher.evaluate(lead)] == ["sony-sales-leads"]
    assert dispatcher.evaluate(mention("s3", "They work as described.", ["praise"])) == []
