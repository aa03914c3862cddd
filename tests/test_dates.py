"""Dates in the forms review sites print them, relative ones resolved against the fetch time."""
from datetime import datetime, timezone

import pytest

from crawlers.extraction.dates import ParsedDate, parse_date, to_iso8601

FETCHED = datetime(2024, 5, 10, 12, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize("text, expected", [
    ("2021年9月30日", "2021-09-30"),
    ("3/13/2020", "2020-03-13"),
    ("14 novembre 2018", "2018-11-14"),
    ("March 2, 2017", "2017-03-02"),
    ("2021-09-30T11:16:21Z", "2021-09-30T11:16:21+00:00"),
    ("2025-01-23T22:27:30+00:00", "2025-01-23T22:27:30+00:00"),
    ("3日前", "2024-05-07T12:00:00+00:00"),
    ("2 hours ago", "2024-05-10T10:00:00+00:00"),
    ("3天前", "2024-05-07T12:00:00+00:00"),
    ("昨天", "2024-05-09T12:00:00+00:00"),
    ("yesterday", "2024-05-09T12:00:00+00:00"),
])
def test_common_and_relative_forms(text, expected):
    assert to_iso8601(text, relative_to=FETCHED) == expected


@pytest.mark.parametrize("text", ["", "soon", "March 2", "last version"])
def test_unreadable_or_yearless_dates_stay_unknown(text):
    assert to_iso8601(text, relative_to=FETCHED) is None


SHANGHAI_EVENING = datetime(2024, 5, 10, 12, 0, tzinfo=timezone.utc)  # 20:00 in Shanghai, 21:00 in Tokyo


@pytest.mark.parametrize("text, zone, expected", [
    ("刚刚", "Asia/Shanghai", "2024-05-10T20:00:00+08:00"),
    ("3分钟前", "Asia/Shanghai", "2024-05-10T19:57:00+08:00"),
    ("5小时前", None, "2024-05-10T07:00:00+00:00"),
    ("昨天 12:30", "Asia/Shanghai", "2024-05-09T12:30:00+08:00"),
    ("06-14", "Asia/Shanghai", "2023-06-14"),  # this year would be in the future: last year's
    ("05-09", "Asia/Shanghai", "2024-05-09"),
    ("7-6 08:15", "Asia/Shanghai", "2023-07-06T08:15:00+08:00"),
    ("2008/01/07(月) 14:10:06", "Asia/Tokyo", "2008-01-07T14:10:06+09:00"),
    ("2019/01/07(月) 14:10:06.12", "Asia/Tokyo", "2019-01-07T14:10:06.120000+09:00"),
    ("2024-8-6 22:11", "Asia/Shanghai", "2024-08-06T22:11:00+08:00"),
    ("Fri Jun 14 20:39:20 +0800 2019", "Asia/Shanghai", "2019-06-14T20:39:20+08:00"),
    ("2010-09-01 10:06:31", "Asia/Shanghai", "2010-09-01T10:06:31+08:00"),
    (1733792485, "Asia/Shanghai", "2024-12-10T09:01:25+08:00"),  # Unix seconds
    ("1721178828000", None, "2024-07-17T01:13:48+00:00"),  # and milliseconds
])
def test_chinese_and_japanese_forms_in_the_sites_zone(text, zone, expected):
    assert to_iso8601(text, relative_to=SHANGHAI_EVENING, zone=zone) == expected


@pytest.mark.parametrize("text, expected", [
    ("2021/06", "2021-06-01"), ("June 2019", "2019-06-01"), ("2021年6月", "2021-06-01"), ("2019-06", "2019-06-01")])
def test_a_date_known_only_to_its_month_keeps_month_precision(text, expected):
    assert parse_date(text, relative_to=FETCHED) == ParsedDate(expected, "month")
    assert parse_date("2021/06/03", relative_to=FETCHED).precision is None


@pytest.mark.parametrize("number", ["1e10", "12345", "99999999999999", 1e10, "-1733792485"])
def test_a_number_that_is_no_plausible_unix_time_is_not_a_date(number):
    assert to_iso8601(number, relative_to=FETCHED) is None


@pytest.mark.parametrize("text", ["1e10", "1E10", "1.5e10", "1e3", "99999999999", "-5", "12.5", "+1"])
def test_a_bare_number_that_is_no_unix_time_is_no_date(text):
    assert to_iso8601(text, relative_to=FETCHED) is None  # dateparser alone reads "1e10" as an hour ago


def test_unix_times_in_seconds_and_milliseconds():
    assert to_iso8601("1411567255", relative_to=FETCHED) == "2014-09-24T14:00:55+00:00"
    assert to_iso8601("1411567255000", relative_to=FETCHED) == "2014-09-24T14:00:55+00:00"
