"""The one way a time is written, checked against the obvious slow way, in any time zone."""

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, strategies as st

from aglais_common.times import for_people, format_time, parse_api_time

zones = st.builds(lambda minutes: timezone(timedelta(minutes=minutes)), st.integers(-23 * 60 - 59, 23 * 60 + 59))
moments = st.datetimes(min_value=datetime(1000, 1, 2), max_value=datetime(9999, 12, 30), timezones=zones)


@given(moments)
def test_format_time_is_strftime_in_utc(moment):
    assert format_time(moment) == moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@given(moments)
def test_what_is_written_reads_back_to_the_same_second(moment):
    assert parse_api_time(format_time(moment)) == moment.astimezone(timezone.utc).replace(microsecond=0)


@given(moments)
def test_for_people_is_the_utc_minute(moment):
    utc = moment.astimezone(timezone.utc)
    assert for_people(moment) == utc.strftime("%Y-%m-%d %H:%M") + " UTC"
    assert for_people(moment, date_only=True) == utc.strftime("%Y-%m-%d")


def test_a_naive_time_is_refused_not_guessed():
    with pytest.raises(ValueError, match="no time zone"):
        format_time(datetime(2030, 1, 1))
