"""Tests of the UTC grain arithmetic: period starts, clipped block boundaries and labels."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from booking_service.engine import (
    GRAINS,
    TooManyBlocks,
    block_boundaries,
    block_label,
    from_epoch,
    grain_floor,
    grain_next,
    to_epoch,
)

UTC = timezone.utc
SETTINGS = settings(max_examples=200, deadline=None)
moments = st.datetimes(datetime(1999, 1, 1), datetime(2101, 1, 1), timezones=st.just(UTC))
grains = st.sampled_from(GRAINS)
# Ranges of up to a few dozen periods of each grain, so boundary lists stay short.
SPANS = {
    "hour": timedelta(days=2),
    "day": timedelta(days=60),
    "week": timedelta(days=400),
    "month": timedelta(days=2000),
}
PERIOD = {"hour": timedelta(hours=1), "day": timedelta(days=1), "week": timedelta(weeks=1)}


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@st.composite
def grain_ranges(draw) -> tuple[datetime, datetime, str]:
    grain = draw(grains)
    start = draw(moments)
    length = draw(st.timedeltas(timedelta(microseconds=1), SPANS[grain]))
    return start, start + length, grain


def is_grain_start(moment: datetime, grain: str) -> bool:
    return grain_floor(moment, grain) == moment


@SETTINGS
@given(moments, grains)
def test_floor_and_next_bracket_the_moment(moment, grain):
    floor, following = grain_floor(moment, grain), grain_next(moment, grain)
    assert floor <= moment < following
    assert floor.tzinfo is not None and floor.utcoffset() == timedelta(0)
    assert grain_floor(floor, grain) == floor
    assert grain_floor(following, grain) == following
    assert grain_next(floor, grain) == following
    # Nothing starts a period strictly between floor and following.
    assert grain_floor(following - timedelta(microseconds=1), grain) == floor
    assert floor.minute == floor.second == floor.microsecond == 0
    if grain != "hour":
        assert floor.hour == 0
    if grain == "week":
        assert floor.weekday() == 0 and following - floor == timedelta(weeks=1)
    if grain == "month":
        assert floor.day == 1 and following.day == 1
        assert (following.year * 12 + following.month) - (floor.year * 12 + floor.month) == 1


@SETTINGS
@given(grain_ranges())
def test_boundaries_are_grain_periods_clipped_to_the_range(case):
    start, end, grain = case
    boundaries = block_boundaries(start, end, grain, max_blocks=10_000)
    assert boundaries[0] == start and boundaries[-1] == end
    assert all(a < b for a, b in zip(boundaries, boundaries[1:]))
    inner = boundaries[1:-1]
    assert all(is_grain_start(b, grain) for b in inner)
    for a, b in zip(inner, inner[1:]):
        assert b == grain_next(a, grain)
        if grain in PERIOD:
            assert b - a == PERIOD[grain]
    # No period start was skipped at either clipped end.
    if inner:
        assert inner[0] == grain_next(start, grain)
    assert grain_next(boundaries[-2], grain) >= end
    # Every block lies within one period.
    for a, b in zip(boundaries, boundaries[1:]):
        assert b <= grain_next(a, grain)


@SETTINGS
@given(grain_ranges())
def test_too_many_blocks_exactly_when_over_the_maximum(case):
    start, end, grain = case
    count = len(block_boundaries(start, end, grain, max_blocks=10_000)) - 1
    assert len(block_boundaries(start, end, grain, max_blocks=count)) - 1 == count
    if count > 1:
        with pytest.raises(TooManyBlocks) as raised:
            block_boundaries(start, end, grain, max_blocks=count - 1)
        assert f"{count} {grain} blocks" in str(raised.value)
        assert f"maximum of {count - 1}" in str(raised.value)


def test_huge_ranges_are_refused_without_listing_them():
    with pytest.raises(TooManyBlocks, match="876600 hour blocks") as raised:
        block_boundaries(utc(2000, 1, 1), utc(2100, 1, 1), "hour", max_blocks=744)
    assert isinstance(raised.value, ValueError)
    assert "maximum of 744" in str(raised.value)


def test_weeks_across_a_year_end():
    assert block_boundaries(utc(2026, 12, 24, 15), utc(2027, 1, 13), "week", 10) == [
        utc(2026, 12, 24, 15),
        utc(2026, 12, 28),
        utc(2027, 1, 4),
        utc(2027, 1, 11),
        utc(2027, 1, 13),
    ]


def test_months_across_a_year_end():
    assert block_boundaries(utc(2026, 11, 15), utc(2027, 3, 1), "month", 10) == [
        utc(2026, 11, 15),
        utc(2026, 12, 1),
        utc(2027, 1, 1),
        utc(2027, 2, 1),
        utc(2027, 3, 1),
    ]


def test_days_across_a_leap_day():
    assert block_boundaries(utc(2028, 2, 28), utc(2028, 3, 2), "day", 10) == [
        utc(2028, 2, 28),
        utc(2028, 2, 29),
        utc(2028, 3, 1),
        utc(2028, 3, 2),
    ]
    assert grain_next(utc(2028, 2, 10), "month") == utc(2028, 3, 1)
    assert grain_next(utc(2028, 2, 29, 23, 30), "day") == utc(2028, 3, 1)


def test_range_inside_one_period_is_one_clipped_block():
    assert block_boundaries(utc(2026, 5, 5, 10), utc(2026, 5, 5, 11), "month", 1) == [
        utc(2026, 5, 5, 10),
        utc(2026, 5, 5, 11),
    ]


def test_other_time_zones_are_converted_to_utc():
    plus_two = timezone(timedelta(hours=2))
    start = datetime(2026, 3, 1, 1, 0, tzinfo=plus_two)  # 2026-02-28T23:00Z
    assert grain_floor(start, "month") == utc(2026, 2, 1)
    assert block_boundaries(start, utc(2026, 3, 1, 2), "day", 5) == [
        utc(2026, 2, 28, 23),
        utc(2026, 3, 1),
        utc(2026, 3, 1, 2),
    ]


def test_bad_arguments_are_refused():
    naive = datetime(2026, 1, 1)
    with pytest.raises(ValueError, match="no time zone"):
        block_boundaries(naive, utc(2026, 2, 1), "day", 100)
    with pytest.raises(ValueError, match="no time zone"):
        block_boundaries(utc(2026, 1, 1), naive, "day", 100)
    with pytest.raises(ValueError, match="no time zone"):
        grain_floor(naive, "day")
    with pytest.raises(ValueError, match="no time zone"):
        block_label(naive, "day")
    with pytest.raises(ValueError, match="unknown grain"):
        block_boundaries(utc(2026, 1, 1), utc(2026, 2, 1), "fortnight", 100)
    with pytest.raises(ValueError, match="before end"):
        block_boundaries(utc(2026, 1, 1), utc(2026, 1, 1), "day", 100)
    with pytest.raises(ValueError):
        block_boundaries(utc(2026, 1, 1), utc(2026, 1, 2), "day", 0)


def test_labels():
    assert block_label(utc(2026, 11, 23, 13, 30), "hour") == "13"
    assert block_label(utc(2026, 11, 23, 0), "hour") == "00"
    assert [block_label(utc(2026, 11, 23 + i), "day") for i in range(7)] == [
        "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun",
    ]
    assert block_label(utc(2026, 1, 5), "week") == "W02"
    # 2026 has 53 ISO weeks; the first days of 2027 still belong to its last one.
    assert block_label(utc(2026, 12, 28), "week") == "W53"
    assert block_label(utc(2027, 1, 1), "week") == "W53"
    assert block_label(utc(2027, 1, 4), "week") == "W01"
    assert [block_label(utc(2026, m, 1), "month") for m in (1, 2, 12)] == ["Jan", "Feb", "Dec"]


@SETTINGS
@given(moments, grains)
def test_labels_are_short_and_name_the_period(moment, grain):
    label = block_label(moment, grain)
    assert 1 <= len(label) <= 3
    assert label == block_label(grain_floor(moment, grain), grain)


@SETTINGS
@given(st.integers(-(2**33), 2**33))
def test_epoch_seconds_round_trip(seconds):
    moment = from_epoch(seconds)
    assert moment.utcoffset() == timedelta(0)
    assert to_epoch(moment) == seconds
    assert to_epoch(moment + timedelta(microseconds=999_999)) == seconds


def test_one_time_format_for_the_api():
    """engine.format_time is the service's only formatter: UTC, whole seconds, Z."""
    from datetime import timedelta as _td

    from booking_service import domain
    from booking_service.engine import format_time

    assert domain.format_time is format_time
    moment = datetime(2030, 3, 4, 10, 0, 5, 123456, tzinfo=timezone(_td(hours=1)))
    assert format_time(moment) == "2030-03-04T09:00:05Z"
    with pytest.raises(ValueError, match="no time zone"):
        format_time(datetime(2030, 1, 1))
