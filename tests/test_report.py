"""Reports and exports on the real node: every number checked against a count made in Python."""
import csv
import json
from collections import Counter, defaultdict

import pyarrow.parquet as pq
from elasticsearch import Elasticsearch

from index.research.query import BrandNames
from index.research.report import mentions, rating_trend, share_of_voice, significant_terms, top_sites
from index.research.search import Filters, iter_documents
from tests.support.cli import kuchikomi
from tests.support.research_corpus import BRANDS, DOCUMENTS, FETCHED_AT, ids, where

BRAND_NAMES = BrandNames(BRANDS)


def date_of(doc) -> str:
    return doc["published_at"] or FETCHED_AT


def stars(doc):
    return None if doc["rating"] is None else 1 + 4 * doc["rating"]["normalized"]


def run(report, research, filters=None, **options):
    return report(research["client"], research["alias"], filters or Filters(), BRAND_NAMES, **options).rows


def test_share_of_voice_matches_python_counts(research):
    counts = Counter(brand for doc in DOCUMENTS for brand in doc["brands"])
    rows = {row["brand"]: row for row in run(share_of_voice, research)}
    assert {brand: row["mentions"] for brand, row in rows.items()} == counts
    total = sum(counts.values())
    for brand, row in rows.items():
        labels = Counter(d["sentiment"]["label"] for d in DOCUMENTS if brand in d["brands"])
        assert (row["positive"], row["neutral"], row["negative"]) == (labels["positive"], labels["neutral"],
                                                                      labels["negative"])
        assert abs(row["share"] - counts[brand] / total) < 1e-4
        assert abs(row["net_sentiment"] - (labels["positive"] - labels["negative"]) / counts[brand]) < 1e-4


def test_mentions_over_time_match_python_counts(research):
    expected = Counter((date_of(d)[:7], brand) for d in DOCUMENTS for brand in d["brands"] or ["(no brand)"])
    rows = run(mentions, research, interval="month")
    assert {(row["period"][:7], row["brand"]): row["mentions"] for row in rows} == expected
    negative_en = Counter((date_of(d)[:7], b) for d in DOCUMENTS if d["language"] == "en"
                          and d["sentiment"]["label"] == "negative" for b in d["brands"])
    rows = run(mentions, research, Filters(languages=["en"], sentiments=["negative"]), interval="month")
    assert {(row["period"][:7], row["brand"]): row["negative"] for row in rows} == negative_en


def test_top_sites_and_rating_trend_match_python(research):
    by_site = defaultdict(list)
    for doc in DOCUMENTS:
        by_site[doc["site"]].append(doc)
    rows = run(top_sites, research, top=3)
    assert [row["reviews"] for row in rows] == sorted((len(v) for v in by_site.values()), reverse=True)[:3]
    for row in rows:
        rated = [stars(d) for d in by_site[row["site"]] if stars(d) is not None]
        assert row["reviews"] == len(by_site[row["site"]])
        assert abs(row["average_stars"] - sum(rated) / len(rated)) < 1e-3
    ratings = defaultdict(list)
    for doc in DOCUMENTS:
        for brand in doc["brands"] or ["(no brand)"]:
            if stars(doc) is not None:
                ratings[(date_of(doc)[:7], brand)].append(stars(doc))
    trend = {(row["period"][:7], row["brand"]): row for row in run(rating_trend, research, interval="month")}
    assert set(trend) == set(ratings)
    for key, values in ratings.items():
        assert trend[key]["rated"] == len(values)
        assert abs(trend[key]["average_stars"] - sum(values) / len(values)) < 1e-3


def test_significant_terms_of_a_brands_negative_reviews(research):
    rows = run(significant_terms, research, Filters(brands=["Sony"]))
    terms = [row["term"] for row in rows]
    # "battery" is in 2 of Sony's 3 negative English reviews and in none of its positive ones.
    assert terms[0] == "battery"
    assert not {"the", "my"} & set(terms)
    negative_sony = where(b=lambda d: "Sony" in d["brands"], s=lambda d: d["sentiment"]["label"] == "negative")
    for row in rows:
        assert row["negative_reviews"] <= len(negative_sony)


def run_cli(*args):
    result = kuchikomi(*args)
    assert result.returncode == 0, result.stderr
    return result


def test_cli_report_prints_tables_and_writes_csv_and_png(research, tmp_path):
    out = tmp_path / "report"
    result = run_cli("report", "--interval", "month", "--out", str(out), "-c", str(research["config"]))
    assert "Share of voice" in result.stdout and "kakaku.example.jp" in result.stdout
    for name in ("mentions", "share_of_voice", "top_sites", "rating_trend", "significant_terms"):
        png = (out / f"{name}.png").read_bytes()
        assert png.startswith(b"\x89PNG") and len(png) > 10_000
    with open(out / "share_of_voice.csv", encoding="utf-8") as handle:
        written = {row["brand"]: int(row["mentions"]) for row in csv.DictReader(handle)}
    assert written == Counter(brand for doc in DOCUMENTS for brand in doc["brands"])


def test_exports_stream_every_matching_review_in_each_format(research, tmp_path):
    config = str(research["config"])
    negative = where(s=lambda d: d["sentiment"]["label"] == "negative")
    lines = run_cli("export", "--sentiment", "negative", "-c", config).stdout.splitlines()
    assert ids(json.loads(line) for line in lines) == negative and len(lines) == len(negative)
    run_cli("export", "--format", "csv", "-o", str(tmp_path / "zh.csv"), "--language", "zh", "-c", config)
    with open(tmp_path / "zh.csv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert ids(rows) == where(lang=lambda d: d["language"] == "zh")
    assert {row["body"] for row in rows} == {d["body"] for d in DOCUMENTS if d["language"] == "zh"}
    result = run_cli("export", "--format", "parquet", "-o", str(tmp_path / "all.parquet"), "-q", "battery",
                     "-c", config)
    assert "exported 4 reviews" in result.stderr
    table = pq.read_table(tmp_path / "all.parquet").to_pylist()
    assert ids(table) == {"en-2", "en-3", "en-5", "en-8"}
    assert next(row for row in table if row["doc_id"] == "en-2")["brands"] == ["Sony"]


class CountingClient(Elasticsearch):
    searches = 0

    def search(self, *args, **kwargs):
        CountingClient.searches += 1
        return super().search(*args, **kwargs)


def test_export_holds_one_page_at_a_time(research):
    client = CountingClient([research["url"]])
    documents = iter_documents(client, research["alias"], Filters(), BRAND_NAMES, page_size=5)
    next(documents)
    assert CountingClient.searches == 1  # the first review is out before the rest is fetched
    assert 1 + sum(1 for _ in documents) == len(DOCUMENTS)
    assert CountingClient.searches == len(DOCUMENTS) // 5 + 1
