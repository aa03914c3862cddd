"""Dates in the forms review sites print them, relative ones resolved against the fetch time."""
from datetime import datetime, timezone

import pytest

from crawlers.extraction.dates import to_iso8601

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


@pytest.mark.parametrize("text", ["1e10", "1E10", "1.5e10", "1e3", "99999999999", "-5", "12.5", "+1"])
def test_a_bare_number_that_is_no_unix_time_is_no_date(text):
    assert to_iso8601(text, relative_to=FETCHED) is None  # dateparser alone reads "1e10" as an hour ago


def test_unix_times_in_seconds_and_milliseconds():
    assert to_iso8601("1411567255", relative_to=FETCHED) == "2014-09-24T14:00:55+00:00"
    assert to_iso8601("1411567255000", relative_to=FETCHED) == "2014-09-24T14:00:55+00:00"
