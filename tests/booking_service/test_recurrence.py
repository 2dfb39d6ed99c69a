"""The expansion of recurring bookings (booking_service/recurrence.py): the same starts as
dateutil's own expansion over random rules, on the wall clock across daylight saving
changes, bounded work for rules no day matches, and clear refusals of bad rules."""

from __future__ import annotations

from datetime import MAXYEAR, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from dateutil.rrule import rrulestr
from hypothesis import given, settings
from hypothesis import strategies as st

from booking_service.domain import Invalid
from booking_service.recurrence import expand, local_starts, parse_local_start, parse_rule, twin_shift

LONDON = ZoneInfo("Europe/London")
H = timedelta(hours=1)


def test_nightly_at_20_stays_20_local_across_the_october_change():
    # 2026-10-25 01:00 UTC: London goes from BST (UTC+1) back to GMT
    rule = parse_rule("FREQ=DAILY;COUNT=7", LONDON)
    occurrences = expand(rule, datetime(2026, 10, 22, 20), LONDON, 12 * H, max_occurrences=100, max_days=180)
    assert [o.start.astimezone(LONDON).strftime("%d %H:%M") for o in occurrences] == [
        f"{day} 20:00" for day in range(22, 29)]
    assert [o.start.hour for o in occurrences] == [19, 19, 19, 20, 20, 20, 20]  # in UTC
    # each ends at 08:00 on the wall clock: the night of the change lasts 13 hours
    assert {o.end.astimezone(LONDON).strftime("%H:%M") for o in occurrences} == {"08:00"}
    assert [(o.end - o.start) / H for o in occurrences] == [12, 12, 13, 12, 12, 12, 12]


def test_spring_change_and_a_skipped_local_time():
    rule = parse_rule("FREQ=DAILY;COUNT=3", LONDON)
    # 2027-03-28 01:00 GMT the clocks go to 02:00 BST: 01:30 that day does not exist
    occurrences = expand(rule, datetime(2027, 3, 27, 1, 30), LONDON, H, max_occurrences=10, max_days=10)
    assert [o.start.isoformat() for o in occurrences] == [
        "2027-03-27T01:30:00+00:00", "2027-03-28T01:30:00+00:00", "2027-03-29T00:30:00+00:00"]
    assert all(o.end > o.start for o in occurrences)


IMPOSSIBLE = [
    "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30;COUNT=1",
    "FREQ=MONTHLY;BYMONTH=4;BYMONTHDAY=31;COUNT=2",
    "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30;COUNT=3",
    "FREQ=HOURLY;BYMONTH=2;BYMONTHDAY=31;COUNT=1",
    "FREQ=MINUTELY;BYMONTH=2;BYMONTHDAY=30;COUNT=1",
    "FREQ=SECONDLY;BYMONTH=2;BYMONTHDAY=31;BYSETPOS=1;COUNT=1",
    "FREQ=WEEKLY;BYMONTH=11;BYMONTHDAY=31;UNTIL=20270101",
]


@pytest.mark.parametrize("text", IMPOSSIBLE)
def test_a_rule_no_day_matches_ends_with_no_occurrence(text):
    """dateutil checks UNTIL only on days that pass the rule, so these would walk on to year
    9999 (seconds of CPU each); expanded on twin years near its end, they stop within a few
    decades of calendar past the horizon."""
    start = datetime(2026, 10, 22, 20)
    horizon = start + timedelta(days=180)
    assert local_starts(parse_rule(text, LONDON), start, horizon, 101) == []
    # the work is bounded: the twin of the horizon's last year is within decades of the calendar's end
    assert MAXYEAR - 40 < (horizon + twin_shift(start.year, horizon.year)).year <= MAXYEAR - 1
    with pytest.raises(Invalid, match="no day matches it"):
        expand(parse_rule(text, LONDON), start, LONDON, H, max_occurrences=100, max_days=180)


@pytest.mark.parametrize("first,last", [(2000, 2000), (2026, 2027), (2099, 2101), (2199, 2200), (2100, 2100)])
def test_twin_years_have_the_same_calendars(first, last):
    shift = twin_shift(first, last)
    assert shift.days % 7 == 0
    for year in range(first, last + 1):
        twin = datetime(year, 1, 1) + shift
        assert (twin.month, twin.day) == (1, 1)
        assert (datetime(twin.year, 3, 1) - datetime(twin.year, 2, 28)).days == (
            datetime(year, 3, 1) - datetime(year, 2, 28)).days
    assert (datetime(last, 12, 31) + shift).year <= MAXYEAR - 1


weekdays = st.lists(st.sampled_from(["MO", "TU", "WE", "TH", "FR", "SA", "SU"]), min_size=1, max_size=3, unique=True)


@st.composite
def rules(draw):
    """Rules that always match some days soon, so the reference (dateutil alone) is quick."""
    freq = draw(st.sampled_from(["DAILY", "WEEKLY", "MONTHLY", "YEARLY"]))
    parts = [f"FREQ={freq}", f"INTERVAL={draw(st.integers(1, 3))}"]
    if freq in ("WEEKLY", "DAILY") and draw(st.booleans()):
        parts.append("BYDAY=" + ",".join(draw(weekdays)))
    if freq == "MONTHLY":
        parts.append(draw(st.sampled_from([f"BYMONTHDAY={draw(st.integers(1, 28))}", "BYDAY=-1FR", "BYDAY=1MO,2TU",
                                           f"BYMONTHDAY={draw(st.integers(-28, -1))}"])))
        if draw(st.booleans()):
            parts.append("BYSETPOS=1")
    if freq == "YEARLY":
        parts.append(draw(st.sampled_from(["BYWEEKNO=1,20,52;BYDAY=MO", "BYYEARDAY=1,100,-1", "BYMONTH=2,6",
                                           "BYWEEKNO=53;BYDAY=TH"])))
    if draw(st.booleans()):
        parts.append(f"BYHOUR={draw(st.integers(0, 23))}")
    parts.append(f"COUNT={draw(st.integers(1, 12))}")
    return ";".join(parts)


@settings(max_examples=300, deadline=None)
@given(text=rules(), year=st.integers(2000, 2190), day=st.integers(0, 364), minute=st.integers(0, 24 * 60 - 1),
       days=st.integers(1, 3660))
def test_the_starts_are_dateutils_own(text, year, day, minute, days):
    start = datetime(year, 1, 1) + timedelta(days=day, minutes=minute)
    horizon = start + timedelta(days=days)
    expected = [t for t in rrulestr(text, dtstart=start) if t < horizon]
    assert local_starts(parse_rule(text, None), start, horizon, 13) == expected


@pytest.mark.parametrize("text,message", [
    ("FREQ=DAILY", "must end: give COUNT"),
    ("FREQ=DAILY;COUNT=2;UNTIL=20270101", "COUNT or UNTIL, not both"),
    ("COUNT=3", "needs a FREQ"),
    ("FREQ=DAILY;COUNT=0", "COUNT must be a whole number"),
    ("FREQ=DAILY;COUNT=3;BYEASTER=0", "RFC 5545 does not know"),
    ("FREQ=FORTNIGHTLY;COUNT=3", "is not a rule"),
    ("FREQ=DAILY;COUNT=3;COUNT=4", "gives COUNT twice"),
    ("FREQ=DAILY;UNTIL=2027-01-01", "no RFC 5545 date or time"),
    ("FREQ=DAILY;UNTIL=2027 01 01", "NAME=VALUE parts"),
    ("FREQ=DAILY;UNTIL=20271399", "no RFC 5545 date or time"),
    ("FREQ=DAILY;BYDAY=XX;COUNT=2", "is not a rule"),
    ("FREQ=DAILY;COUNT=2\nDTSTART:20270101", "NAME=VALUE parts"),
    ("x" * 501, "at most 500 characters"),
    (7, "must be an RFC 5545 RRULE"),
])
def test_bad_rules_are_refused_with_what_is_wrong(text, message):
    with pytest.raises(Invalid, match=message):
        parse_rule(text, LONDON)


def test_limits_of_a_series():
    start = datetime(2026, 11, 2, 9)
    with pytest.raises(Invalid, match="more than the 10 occurrences"):
        expand(parse_rule("FREQ=DAILY;COUNT=11", None), start, None, H, max_occurrences=10, max_days=180)
    with pytest.raises(Invalid, match="gives 30 within the 30 days"):
        expand(parse_rule("FREQ=DAILY;COUNT=40", None), start, None, H, max_occurrences=100, max_days=30)
    with pytest.raises(Invalid, match="more than the 30 days after the start"):
        expand(parse_rule("FREQ=WEEKLY;UNTIL=20270101", None), start, None, H, max_occurrences=100, max_days=30)
    with pytest.raises(Invalid, match="occurrences overlap"):
        expand(parse_rule("FREQ=HOURLY;COUNT=3", None), start, None, 2 * H, max_occurrences=100, max_days=30)
    with pytest.raises(Invalid, match="gives no occurrence from"):
        expand(parse_rule("FREQ=WEEKLY;BYDAY=SA;UNTIL=20261106", None), start, None, H, max_occurrences=10, max_days=30)
    # UNTIL in UTC is read on the series' clock; a date runs through its day
    two = expand(parse_rule("FREQ=DAILY;UNTIL=20261103T090000Z", LONDON), start, LONDON, H,
                 max_occurrences=10, max_days=30)
    assert len(two) == 2
    assert len(expand(parse_rule("FREQ=DAILY;UNTIL=20261103", LONDON), start, LONDON, H,
                      max_occurrences=10, max_days=30)) == 2


def test_local_starts_read_on_the_zone_clock():
    assert parse_local_start("2026-10-24T20:00", LONDON) == datetime(2026, 10, 24, 20)
    assert parse_local_start("2026-10-24T19:00:00Z", LONDON) == datetime(2026, 10, 24, 20)
    for bad in ("tomorrow", "", 5, "2026-13-01T00:00", "1999-01-01T00:00"):
        with pytest.raises(Invalid, match="'start'"):
            parse_local_start(bad, LONDON)


part_values = {
    "FREQ": st.sampled_from(["SECONDLY", "MINUTELY", "HOURLY", "DAILY", "WEEKLY", "MONTHLY", "YEARLY", "NEVER"]),
    "INTERVAL": st.integers(-2, 2000).map(str),
    "COUNT": st.integers(-1, 200).map(str),
    "UNTIL": st.sampled_from(["20270101", "20261231T235959Z", "20260101T000000", "2027"]),
    "BYSECOND": st.integers(-1, 61).map(str),
    "BYMINUTE": st.integers(-1, 60).map(str),
    "BYHOUR": st.integers(-1, 24).map(str),
    "BYDAY": st.sampled_from(["MO", "SA,SU", "+1MO", "-1FR", "53TU", "+99MO", "-5SU", "XX"]),
    "BYMONTHDAY": st.integers(-32, 32).map(str),
    "BYYEARDAY": st.integers(-367, 367).map(str),
    "BYWEEKNO": st.integers(-54, 54).map(str),
    "BYMONTH": st.integers(0, 13).map(str),
    "BYSETPOS": st.integers(-367, 367).map(str),
    "WKST": st.sampled_from(["MO", "SU", "XX"]),
}
any_rule = st.lists(st.sampled_from(sorted(part_values)), min_size=1, max_size=6, unique=True).flatmap(
    lambda names: st.tuples(*(part_values[n].map(lambda v, n=n: f"{n}={v}") for n in names))).map(";".join)


@settings(max_examples=400, deadline=None)
@given(text=any_rule, day=st.integers(0, 365 * 150), days=st.integers(1, 3660))
def test_any_rule_is_expanded_or_refused_and_always_ends(text, day, days):
    """Whatever the parts, impossible combinations included: a 400 (Invalid) or at most
    `limit` starts, every one in range; never an endless walk or another exception."""
    start = datetime(2026, 1, 1, 20) + timedelta(days=day)
    try:
        found = local_starts(parse_rule(text, LONDON), start, start + timedelta(days=days), 101)
    except Invalid:
        return
    assert len(found) <= 101 and all(start <= t < start + timedelta(days=days) for t in found)
    assert found == sorted(set(found))
