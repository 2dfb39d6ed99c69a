"""Tests of the grain arithmetic, in UTC and in time zones: period starts, clipped block
boundaries and labels."""

from __future__ import annotations

import functools
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

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
from tests.booking_service import engine_reference

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


# -- in a time zone -----------------------------------------------------------------------

# Zones with what makes calendars hard: daylight saving either side of the equator, at 01:00
# UTC, at midnight (Havana, Santiago), half-hour and 45-minute offsets, a half-hour change
# (Lord Howe), negative DST (Dublin), a skipped day (Apia, 2011), Ramadan changes (Casablanca).
ZONES = ["UTC", "Europe/London", "Europe/Dublin", "America/New_York", "America/Havana", "America/Santiago",
         "America/Sao_Paulo", "Australia/Lord_Howe", "Asia/Kolkata", "Asia/Kathmandu", "Pacific/Chatham",
         "Pacific/Apia", "Africa/Casablanca", "Asia/Tehran", "Europe/Berlin"]
zone_moments = st.datetimes(datetime(1999, 6, 1), datetime(2040, 1, 1), timezones=st.just(UTC))


@functools.cache
def changes_of_offset(name: str) -> tuple[datetime, ...]:
    """The instants `name` changed its offset between 1999 and 2040 (a daily scan, then
    bisection to the second), where calendars break if anywhere."""
    zone, found = ZoneInfo(name), []
    day, last = utc(1999, 6, 1), utc(2040, 1, 1)
    while day < last:
        following = day + timedelta(days=1)
        if day.astimezone(zone).utcoffset() != following.astimezone(zone).utcoffset():
            lo, hi = day, following
            while hi - lo > timedelta(seconds=1):
                mid = lo + (hi - lo) / 2
                lo, hi = (lo, mid) if mid.astimezone(zone).utcoffset() != lo.astimezone(zone).utcoffset() else (mid, hi)
            found.append(hi.replace(microsecond=0))
        day = following
    return tuple(found)


@st.composite
def zoned_moments(draw) -> tuple[datetime, ZoneInfo]:
    """A zone and a moment in it: half the time within a few hours of one of its changes."""
    name = draw(st.sampled_from(ZONES))
    changes = changes_of_offset(name)
    if changes and draw(st.booleans()):
        moment = draw(st.sampled_from(changes)) + draw(st.timedeltas(-timedelta(hours=3), timedelta(hours=3)))
    else:
        moment = draw(zone_moments)
    return moment, ZoneInfo(name)

ZONE_SPANS = {"hour": timedelta(days=3), "day": timedelta(days=40), "week": timedelta(days=120),
              "month": timedelta(days=400)}
ZONE_SETTINGS = settings(max_examples=60, deadline=None)


def test_a_zone_is_needed_for_its_daylight_saving_days():
    london = ZoneInfo("Europe/London")
    days = block_boundaries(utc(2026, 3, 28), utc(2026, 3, 31), "day", 10, london)
    assert days == [utc(2026, 3, 28), utc(2026, 3, 29), utc(2026, 3, 29, 23), utc(2026, 3, 30, 23),
                    utc(2026, 3, 31)]
    assert [b - a for a, b in zip(days[1:], days[2:-1])] == [timedelta(hours=23), timedelta(hours=24)]
    autumn = block_boundaries(utc(2026, 10, 24, 23), utc(2026, 10, 26, 0), "day", 10, london)
    assert autumn == [utc(2026, 10, 24, 23), utc(2026, 10, 26, 0)]  # the 25th: 25 hours in one block
    assert block_boundaries(utc(2026, 10, 24, 22), utc(2026, 10, 26, 1), "day", 10, london)[1:3] == [
        utc(2026, 10, 24, 23), utc(2026, 10, 26, 0)]
    # the repeated hour is two hours on the clock, both "01"
    hours = block_boundaries(utc(2026, 10, 25, 0), utc(2026, 10, 25, 2), "hour", 10, london)
    assert hours == [utc(2026, 10, 25, 0), utc(2026, 10, 25, 1), utc(2026, 10, 25, 2)]
    assert [block_label(h, "hour", london) for h in hours[:-1]] == ["01", "01"]
    # weeks start on the local Monday's midnight, months on the local 1st
    assert grain_floor(utc(2026, 6, 3, 12), "week", london) == utc(2026, 5, 31, 23)
    assert grain_floor(utc(2026, 6, 30, 23, 30), "month", london) == utc(2026, 6, 30, 23)
    assert block_label(utc(2026, 6, 30, 23, 30), "month", london) == "Jul"


def test_a_day_that_starts_in_a_gap_starts_when_the_clock_jumps():
    havana = ZoneInfo("America/Havana")  # 2026-03-08: 00:00 local becomes 01:00
    assert grain_floor(utc(2026, 3, 8, 12), "day", havana) == utc(2026, 3, 8, 5)
    assert grain_next(utc(2026, 3, 7, 12), "day", havana) == utc(2026, 3, 8, 5)
    apia = ZoneInfo("Pacific/Apia")  # 2011-12-30 never happened there
    assert grain_next(utc(2011, 12, 29, 12), "day", apia) == utc(2011, 12, 30, 10)
    assert block_label(utc(2011, 12, 30, 10), "day", apia) == "Sat"
    # Lord Howe goes back half an hour, 02:00 to 01:30 (15:00 UTC): the clock's hour "01"
    # that follows is half an hour long and starts at the change, found by bisection
    lord_howe = ZoneInfo("Australia/Lord_Howe")
    assert grain_floor(utc(2026, 4, 4, 15, 10), "hour", lord_howe) == utc(2026, 4, 4, 15)
    assert grain_next(utc(2026, 4, 4, 14, 40), "hour", lord_howe) == utc(2026, 4, 4, 15)
    assert grain_next(utc(2026, 4, 4, 15), "hour", lord_howe) == utc(2026, 4, 4, 15, 30)


@ZONE_SETTINGS
@given(zoned_moments(), grains)
def test_in_a_zone_floor_and_next_bracket_the_moment(case, grain):
    moment, zone = case
    floor, following = grain_floor(moment, grain, zone), grain_next(moment, grain, zone)
    assert floor <= moment < following and floor.utcoffset() == timedelta(0)
    assert grain_floor(floor, grain, zone) == floor and grain_floor(following, grain, zone) == following
    assert grain_next(floor, grain, zone) == following
    assert grain_floor(following - timedelta(microseconds=1), grain, zone) == floor
    assert block_label(moment, grain, zone) == block_label(floor, grain, zone)
    # Chatham's clock jumps from 02:45 to 03:45: its hour "03" lasts a quarter of an hour
    assert (timedelta(minutes=15) if grain == "hour" else timedelta(hours=22)) <= following - floor


@ZONE_SETTINGS
@given(zoned_moments(), grains, st.data())
def test_in_a_zone_blocks_are_where_the_clock_begins_a_period(case, grain, data):
    """Against the slow obvious answer: read the zone's clock at every quarter hour."""
    start, zone = case
    end = start + data.draw(st.timedeltas(timedelta(seconds=1), ZONE_SPANS[grain]))
    boundaries = block_boundaries(start, end, grain, 10_000, zone)
    expected = engine_reference.zone_boundaries(to_epoch(start), to_epoch(end), grain, zone)
    assert [to_epoch(b) for b in boundaries[1:-1]] == expected[1:-1], (zone, start, end, grain)
    assert boundaries[0] == start and boundaries[-1] == end


@ZONE_SETTINGS
@given(zoned_moments(), grains)
def test_in_a_zone_too_many_blocks_is_exact_near_the_maximum(case, grain):
    start, zone = case
    end = start + ZONE_SPANS[grain] / 4
    count = len(block_boundaries(start, end, grain, 10_000, zone)) - 1
    assert len(block_boundaries(start, end, grain, count, zone)) - 1 == count
    if count > 1:
        with pytest.raises(TooManyBlocks, match=f"(about )?{count - 1}|{count} {grain} blocks"):
            block_boundaries(start, end, grain, count - 1, zone)


def test_in_a_zone_huge_ranges_are_refused_without_listing_them():
    with pytest.raises(TooManyBlocks, match="about 876600 hour blocks"):
        block_boundaries(utc(2000, 1, 1), utc(2100, 1, 1), "hour", 744, ZoneInfo("Europe/London"))
