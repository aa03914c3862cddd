"""Search on the real node: the query syntax, width/case folding, CJK phrases, filters, paging, CLI output."""
import csv
import io
import json
from datetime import datetime, timezone

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from index.research.query import BrandNames, QuerySyntaxError, parse_query
from index.research.search import Filters, iter_documents, parse_when, search
from tests.support.cli import kuchikomi
from tests.support.research_corpus import BRANDS, DOCUMENTS, ids, where

BRAND_NAMES = BrandNames(BRANDS)


def found(research, query="", **filters) -> set[str]:
    page = search(research["client"], research["alias"], Filters(query=query, **filters), BRAND_NAMES, size=100)
    assert page.total == len(page.hits)
    return ids(page.hits)


@pytest.mark.parametrize("query, expected", [
    ('"battery died"', {"en-2"}),
    ("battery", {"en-2", "en-3", "en-5", "en-8"}),
    ('"battery life"', {"en-3", "en-5"}),
    ("battery -anker", {"en-2", "en-3", "en-8"}),       # anker names a brand: its reviews are excluded
    ('battery -"battery life"', {"en-2", "en-8"}),
    ("掃除機 OR 吸尘器", {"ja-4", "zh-3"}),
    ("battery OR 电池", {"en-2", "en-3", "en-5", "en-8", "zh-2", "zh-3"}),
    ("壊れた", {"ja-2"}),
    ("电池", {"zh-2", "zh-3"}),
    ('"电池坏了"', {"zh-2"}),                             # the body says 电池就坏了: not the phrase
    ("音质很好", {"zh-1"}),
    ("site:jd.example.cn sentiment:negative", {"zh-2"}),
    ("rating:>=4 brand:panasonic", {"ja-3", "zh-4"}),
    ("rating:1", {"ja-2", "zh-2", "en-2"}),
    ("rating:2..3", {"ja-4", "ja-5", "zh-3", "en-3", "en-5"}),
    ("lang:zh 电池", {"zh-2", "zh-3"}),
    ('title:"battery died"', {"en-2"}),
    ("body:died -title:died", set()),
])
def test_query_syntax_finds_exactly_the_matching_reviews(research, query, expected):
    assert found(research, query) == expected


def test_width_and_case_variants_find_the_same_reviews(research):
    # Half-width katakana, full-width Latin and upper case are folded at index and query time.
    assert found(research, "ﾊﾞｯﾃﾘｰ") == found(research, "バッテリー") == {"ja-2", "ja-4"}
    assert found(research, "ＢＡＴＴＥＲＹ") == found(research, "Battery") == {"en-2", "en-3", "en-5", "en-8"}
    # As a phrase, "sony" is text only: Sony, SONY and the full-width ＳＯＮＹ of ja-5.
    assert found(research, '"sony"') == {"en-1", "en-2", "en-6", "en-8", "ja-5"}
    assert found(research, '"ｿﾆｰ"') == found(research, '"ソニー"') == {"ja-1", "ja-2"}
    # As a word it names the brand, so ソニー and 索尼 reviews are found as well.
    sony = where(brand=lambda d: "Sony" in d["brands"])
    assert found(research, "sony") == found(research, "ｿﾆｰ") == found(research, "索尼") == sony


def test_filters_match_python_selection(research):
    assert found(research, brands=["sony"], sentiments=["negative"]) == where(
        brand=lambda d: "Sony" in d["brands"], label=lambda d: d["sentiment"]["label"] == "negative")
    assert found(research, min_rating=4) == where(r=lambda d: d["rating"] and d["rating"]["value"] >= 4)
    assert found(research, max_rating=2, languages=["EN"]) == where(
        r=lambda d: d["rating"] and d["rating"]["value"] <= 2, lang=lambda d: d["language"] == "en")
    assert found(research, sites=["Reddit.example.com"]) == where(site=lambda d: d["site"] == "reddit.example.com")
    assert found(research, "battery", brands=["ソニー"]) == {"en-2", "en-8"}


def test_date_ranges_are_inclusive_and_use_the_fetch_time_when_undated(research):
    assert found(research, since="2024-03-01", until="2024-03-15") == {"ja-5", "ja-6", "zh-4", "zh-5", "en-5"}
    assert found(research, since="2024-02") == where(d=lambda d: (d["published_at"] or "9") >= "2024-02")
    assert found(research, until="2024-01") == where(d=lambda d: (d["published_at"] or "9") < "2024-02")
    assert found(research, since="2024-03-24") == {"en-8"}  # no publication date: fetched 2024-03-25


def test_paging_with_search_after_visits_every_review_once(research):
    seen, after = [], None
    while True:
        page = search(research["client"], research["alias"], Filters(), BRAND_NAMES, size=4, sort="newest",
                      after=after)
        seen += [hit["doc_id"] for hit in page.hits]
        if not page.next_cursor:
            break
        after = page.next_cursor
    assert sorted(seen) == sorted(ids(DOCUMENTS)) and len(seen) == len(DOCUMENTS)
    dates = [next(d for d in DOCUMENTS if d["doc_id"] == i)["published_at"] or "2024-03-25" for i in seen]
    assert dates == sorted(dates, reverse=True)
    streamed = [doc["doc_id"] for doc in iter_documents(research["client"], research["alias"], Filters(),
                                                        BRAND_NAMES, page_size=5)]
    assert sorted(streamed) == sorted(seen)


@pytest.mark.parametrize("query, message", [
    ('"unclosed phrase', "not closed"),
    ("OR battery", "OR needs a term"),
    ("battery OR", "OR needs a term"),
    ("colour:red", "unknown field 'colour'"),
    ("sentiment:angry", "sentiment:angry"),
    ("rating:six", "not a star rating"),
    ("rating:9", "outside 1..5"),
])
def test_malformed_queries_say_what_is_wrong(query, message):
    with pytest.raises(QuerySyntaxError, match=message):
        parse_query(query, BRAND_NAMES)


def test_bad_dates_and_cursors_are_query_errors(research):
    with pytest.raises(QuerySyntaxError, match="not a date"):
        parse_when("last tuesday", end=False)
    with pytest.raises(QuerySyntaxError, match="before the year 1"):
        parse_when("99999999y", end=False)
    with pytest.raises(QuerySyntaxError, match="before the year 1"):
        search(research["client"], research["alias"], Filters(since="1" * 5000 + "h"), BRAND_NAMES)
    with pytest.raises(QuerySyntaxError, match="cursor"):
        search(research["client"], research["alias"], Filters(), BRAND_NAMES, after="bm90LWEtY3Vyc29y")


@pytest.mark.parametrize("text, end, message", [
    ("9" * 400 + "d", False, r"^'9{40}…' reaches back before the year 1$"),  # int / 24 overflowed a float
    ("9" * 5000 + "h", False, "reaches back before the year 1"),            # int() refuses 4,300 digits
    ("999999999h", True, "reaches back before the year 1"),
    ("9999-12-31", True, "past the last date there is"),                    # the day after overflowed
    ("2024-13", False, "not a date"),
    ("2024-02-30", False, "not a date"),
])
def test_dates_out_of_range_are_query_errors(text, end, message):
    with pytest.raises(QuerySyntaxError, match=message):
        parse_when(text, end=end)


def test_dates_at_the_edges_still_parse():
    now = datetime(2024, 5, 1, tzinfo=timezone.utc)
    assert parse_when("0d", end=False, now=now) == "2024-05-01T00:00:00+00:00"
    assert parse_when("0000000030d", end=False, now=now) == "2024-04-01T00:00:00+00:00"
    assert parse_when("12h", end=False, now=now) == "2024-04-30T12:00:00+00:00"
    assert parse_when("9999-12-31", end=False) == "9999-12-31T00:00:00+00:00"


@pytest.mark.parametrize("command", ["search", "report", "export"])
@pytest.mark.parametrize("option, value, message", [
    ("--since", "9" * 400 + "d", "reaches back before the year 1"),
    ("--until", "9999-12-31", "past the last date there is (9999-12-31)"),
    ("--since", "2024-02-30", "is not a date"),
    ("--min-rating", "1e400", "rating inf is outside 1..5 stars"),
])
def test_cli_bad_dates_and_numbers_are_one_line(research, command, option, value, message):
    result = kuchikomi(command, option, value, "-c", research["config"])
    assert result.returncode == 2 and result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1 and message in result.stderr
    assert result.stderr.startswith("kuchikomi: ")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(list('ab 電池ｿﾆｰ"-:|()*?\\/[]{}~^!<>=.,1259') +
                               [" OR ", "rating:", "title:", "brand:", "site:", "sentiment:", "lang:"]),
                max_size=20).map("".join) | st.text(max_size=30))
def test_any_typed_query_is_a_result_or_a_clear_error(research, text):
    """Whatever a user types reaches Elasticsearch only as a query it accepts."""
    try:
        query = parse_query(text, BRAND_NAMES)
    except QuerySyntaxError as exc:
        assert str(exc)
        return
    research["client"].search(index=research["alias"], body={"query": query, "size": 1})


def run_cli(*args, check=True):
    result = kuchikomi(*args)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def test_cli_search_outputs_table_jsonl_and_csv(research):
    config = str(research["config"])
    table = run_cli("search", "battery", "--brand", "Sony", "-c", config)
    assert len(table.stdout.splitlines()) == 2 and "2 matching reviews" in table.stderr
    assert "Battery died" in table.stdout and "Customer service" in table.stdout
    lines = run_cli("search", "--language", "zh", "--format", "jsonl", "--sort", "oldest", "--all",
                    "--size", "2", "-c", config).stdout.splitlines()
    assert [json.loads(line)["doc_id"] for line in lines] == ["zh-1", "zh-2", "zh-3", "zh-4", "zh-5"]
    rows = list(csv.DictReader(io.StringIO(run_cli("search", "rating:1", "--format", "csv", "-c", config).stdout)))
    assert {row["doc_id"] for row in rows} == {"ja-2", "zh-2", "en-2"} and rows[0]["stars"] == "1.0"


def test_cli_search_pages_with_the_printed_cursor(research):
    config = str(research["config"])
    first = run_cli("search", "--sort", "newest", "--size", "10", "--format", "jsonl", "-c", config)
    cursor = first.stderr.split("--after ")[1].split()[0]
    second = run_cli("search", "--sort", "newest", "--size", "10", "--format", "jsonl", "--after", cursor,
                     "-c", config)
    pages = [json.loads(line)["doc_id"] for out in (first, second) for line in out.stdout.splitlines()]
    assert sorted(pages) == sorted(ids(DOCUMENTS))


def test_cli_search_syntax_error_is_one_clear_line(research):
    result = run_cli("search", '"battery', "-c", str(research["config"]), check=False)
    assert result.returncode == 2
    assert result.stderr.strip() == 'kuchikomi: a quoted phrase is not closed: add the closing "'
