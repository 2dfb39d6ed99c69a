"""Recurring bookings: an RFC 5545 RRULE expanded (with dateutil) into the occurrences of a
series, on the wall clock of the user's time zone, bounded in count and horizon however
the rule is written (pure: no I/O, no clock)."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import MAXYEAR, date, datetime, timedelta
from zoneinfo import ZoneInfo

from dateutil.rrule import rrulestr

from .domain import EARLIEST, LATEST, UTC, Invalid, format_time, read_iso

# What RFC 5545 (section 3.3.10) lets a RECUR value hold. dateutil also reads BYEASTER,
# which follows the moon, not the calendar: the bound below relies on the calendar alone.
RULE_PARTS = frozenset({"FREQ", "UNTIL", "COUNT", "INTERVAL", "BYSECOND", "BYMINUTE", "BYHOUR", "BYDAY",
                        "BYMONTHDAY", "BYYEARDAY", "BYWEEKNO", "BYMONTH", "BYSETPOS", "WKST"})
MAX_RULE_LENGTH = 500
MAX_INTERVAL = 1000
# RFC 5545's ranges of the numeric parts (0 excluded where it says so); BYSECOND stops at
# 59, as Python's times do (RFC 5545 allows 60 for a leap second).
_RANGES = {"BYSECOND": (0, 59, False), "BYMINUTE": (0, 59, False), "BYHOUR": (0, 23, False),
           "BYMONTHDAY": (1, 31, True), "BYYEARDAY": (1, 366, True), "BYWEEKNO": (1, 53, True),
           "BYMONTH": (1, 12, False), "BYSETPOS": (1, 366, True)}
_PART = re.compile(r"[A-Z]+=[A-Z0-9,+\-]+")


@dataclass(frozen=True)
class Rule:
    """A series' rule as given: its RRULE text without UNTIL (which `until` holds, as a
    local wall-clock time) and whether it has a COUNT."""

    text: str
    until: datetime | None  # naive, on the series' wall clock
    count: int | None


@dataclass(frozen=True)
class Occurrence:
    index: int
    local: datetime  # naive wall-clock start in the series' zone
    start: datetime  # UTC
    end: datetime  # UTC


def parse_local_start(value, zone: ZoneInfo | None) -> datetime:
    """A series' first start as a naive wall-clock time in `zone` (None: UTC): a local time
    (2026-10-24T20:00), or a time with an offset, which is read on the zone's clock."""
    if not isinstance(value, str) or not 0 < len(value) <= 40:
        raise Invalid("'start' must be a local time such as 2026-10-24T20:00 (read in 'tz')")
    moment = read_iso(value)
    if moment is None:
        raise Invalid(f"'start' is not an ISO 8601 time: {value!r} (example: 2026-10-24T20:00)")
    if moment.tzinfo is not None:
        try:
            moment = moment.astimezone(zone or UTC).replace(tzinfo=None)
        except OverflowError:
            moment = datetime.min
    moment = moment.replace(microsecond=0)
    if not EARLIEST.replace(tzinfo=None) <= moment <= LATEST.replace(tzinfo=None):
        raise Invalid(f"'start' must lie between {format_time(EARLIEST)} and {format_time(LATEST)}")
    return moment


def _until(value: str, zone: ZoneInfo | None) -> datetime:
    """RFC 5545 UNTIL: a date, a floating local time, or a UTC time (…Z), as wall-clock time."""
    try:
        if len(value) == 8:
            # a date: the series runs through that whole day
            return datetime.strptime(value, "%Y%m%d").replace(hour=23, minute=59, second=59)
        if value.endswith("Z"):
            return datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).astimezone(
                zone or UTC).replace(tzinfo=None)
        return datetime.strptime(value, "%Y%m%dT%H%M%S")
    except (ValueError, OverflowError):
        raise Invalid(f"'rrule' has an UNTIL that is no RFC 5545 date or time: {value!r} "
                      f"(examples: UNTIL=20261130, UNTIL=20261130T080000Z)") from None


def parse_rule(value, zone: ZoneInfo | None) -> Rule:
    """Check an RRULE (with or without the "RRULE:" prefix) and split off its UNTIL; dateutil
    reads the rest. Raises Invalid (400) with what is wrong."""
    if not isinstance(value, str) or not 0 < len(value) <= MAX_RULE_LENGTH:
        raise Invalid(f"'rrule' must be an RFC 5545 RRULE of at most {MAX_RULE_LENGTH} characters, "
                      f"such as FREQ=DAILY;COUNT=7")
    text = value.strip().upper()
    if text.startswith("RRULE:"):
        text = text[len("RRULE:"):]
    parts = [p for p in text.split(";") if p]
    if not parts or not all(_PART.fullmatch(p) for p in parts):
        raise Invalid(f"'rrule' must be NAME=VALUE parts joined by ';' (such as FREQ=WEEKLY;BYDAY=SA,SU;COUNT=12), "
                      f"not {value!r}")
    named = {}
    for part in parts:
        name, _, given = part.partition("=")
        if name not in RULE_PARTS:
            raise Invalid(f"'rrule' has the part {name}, which RFC 5545 does not know; "
                          f"it knows {', '.join(sorted(RULE_PARTS))}")
        if name in named:
            raise Invalid(f"'rrule' gives {name} twice")
        named[name] = given
    if "FREQ" not in named:
        raise Invalid("'rrule' needs a FREQ (such as FREQ=DAILY)")
    if "UNTIL" in named and "COUNT" in named:
        raise Invalid("'rrule' may give COUNT or UNTIL, not both (RFC 5545)")
    if "UNTIL" not in named and "COUNT" not in named:
        raise Invalid("'rrule' must end: give COUNT (how many times) or UNTIL (the last day)")
    for name, (low, high, signed) in _RANGES.items():
        for number in named.get(name, "").split(",") if name in named else ():
            text = number[1:] if signed and number[:1] in "+-" else number
            if not text.isdigit() or not low <= int(text) <= high:
                raise Invalid(f"'rrule' has {name}={named[name]}; each value must be "
                              + (f"from {low} to {high}" + (f" or -{high} to -{low}" if signed else "")))
    interval = named.get("INTERVAL", "1")
    # INTERVAL=0 would have dateutil look at the same day for ever
    if not interval.isdigit() or not 1 <= int(interval) <= MAX_INTERVAL:
        raise Invalid(f"'rrule' has INTERVAL={interval}; INTERVAL must be a whole number from 1 to {MAX_INTERVAL}")
    count = None
    if "COUNT" in named:
        if not named["COUNT"].isdigit() or len(named["COUNT"]) > 6 or int(named["COUNT"]) == 0:
            raise Invalid(f"'rrule' has COUNT={named['COUNT']}; COUNT must be a whole number from 1")
        count = int(named["COUNT"])
    until = _until(named.pop("UNTIL"), zone) if "UNTIL" in named else None
    rest = ";".join(f"{k}={v}" for k, v in named.items())
    try:
        rrulestr(rest, dtstart=datetime(2026, 1, 1))  # dateutil's own checks of the parts
    except (ValueError, TypeError, KeyError, IndexError, OverflowError) as e:
        raise Invalid(f"'rrule' is not a rule: {str(e)[:200]} ({value!r})") from None
    return Rule(rest, until, count)


def _year_kind(year: int) -> tuple[int, bool]:
    # Two years with the same weekday on 1 January and the same leap-ness have the same
    # calendar: every day, weekday, week number and year day falls alike.
    return date(year, 1, 1).weekday(), calendar.isleap(year)


def twin_shift(first: int, last: int) -> timedelta:
    """How far to move the years `first` to `last` so they land on years with the same
    calendars as late as possible, ending by year MAXYEAR - 1.

    dateutil checks UNTIL only when a day passes the rule's filters, so a rule no day
    passes (FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30) walks on day by day until year 9999,
    seconds of CPU. Expanded on the twin years late in the calendar instead, it runs out
    of years a year or two after the horizon, whatever the rule. The Gregorian calendar
    repeats every 400 years, so a twin always exists."""
    kinds = [_year_kind(y) for y in range(first, last + 1)]
    for shift in range(MAXYEAR - 1 - last, -1, -1):
        if all(_year_kind(first + i + shift) == kind for i, kind in enumerate(kinds)):
            return date(first + shift, 1, 1) - date(first, 1, 1)
    return timedelta(0)  # not reached: shift 400 * n matches


def local_starts(rule: Rule, dtstart: datetime, horizon_end: datetime, limit: int) -> list[datetime]:
    """The rule's wall-clock starts from `dtstart` up to its UNTIL (included) and before
    `horizon_end` (naive), at most `limit` of them; fast for any rule, including one that
    yields nothing."""
    end = horizon_end - timedelta(seconds=1) if rule.until is None else min(rule.until,
                                                                           horizon_end - timedelta(seconds=1))
    if end < dtstart:
        return []
    shift = twin_shift(dtstart.year, end.year)
    twin = rrulestr(rule.text, dtstart=dtstart + shift)
    if rule.count is None:  # dateutil refuses COUNT and UNTIL together
        twin = twin.replace(until=end + shift)
    found = []
    try:
        for moment in twin:
            if moment - shift > end or len(found) >= limit:
                break
            found.append(moment - shift)
    except (ValueError, OverflowError):
        pass  # the twin ran out of calendar past the horizon: all there is has been found
    except (TypeError, IndexError, KeyError):  # parts that dateutil accepts but cannot expand
        raise Invalid(f"'rrule' cannot be expanded: {rule.text!r}; check its BY parts") from None
    return found


def wall_clock(moment: datetime, zone: ZoneInfo | None) -> datetime:
    """A naive wall-clock time in `zone` as UTC: in the hour skipped in spring it reads the
    clock as before the change (fold 0), in the hour repeated in autumn the first one."""
    return moment.replace(tzinfo=zone or UTC).astimezone(UTC)


def expand(rule: Rule, dtstart: datetime, zone: ZoneInfo | None, duration: timedelta, *,
           max_occurrences: int, max_days: int) -> list[Occurrence]:
    """The series' occurrences, or Invalid (400) saying why the rule cannot be booked.

    Each starts at the rule's wall-clock time and ends `duration` later on the same wall
    clock: 20:00 for PT12H ends at 08:00 every morning, also on the night the clocks change
    (it then lasts 11 or 13 hours). RFC 5545 counts hours exactly; a booking is for the
    hours on the clock, as the user wrote them."""
    horizon_end = dtstart + timedelta(days=max_days)
    if rule.until is not None and rule.until >= horizon_end:
        raise Invalid(f"'rrule' runs until {rule.until.isoformat()}, more than the {max_days} days after the "
                      f"start a series may reach (by {horizon_end.isoformat()}); make a shorter series.")
    starts = local_starts(rule, dtstart, horizon_end, max_occurrences + 1)
    if len(starts) > max_occurrences:
        raise Invalid(f"'rrule' gives more than the {max_occurrences} occurrences a series may have; "
                      f"make a shorter series.")
    if rule.count is not None and len(starts) < rule.count:
        raise Invalid(f"'rrule' asks for COUNT={rule.count} occurrences but gives "
                      f"{'none' if not starts else len(starts)} within the {max_days} days after the start "
                      f"a series may reach" + ("; no day matches it (is it impossible, like 30 February?)."
                                               if not starts else "; make a shorter series."))
    if not starts:
        raise Invalid(f"'rrule' gives no occurrence from {dtstart.isoformat()} until {rule.until.isoformat()}; "
                      f"no day matches it (is it impossible, like 30 February?).")
    occurrences = []
    for index, local in enumerate(starts):
        start = wall_clock(local, zone)
        end = wall_clock(local + duration, zone)
        if end <= start:  # both sides of a clock change, within its hour
            end = start + duration
        if end > LATEST:
            raise Invalid(f"Occurrence {index} of the series would end after {format_time(LATEST)}")
        if occurrences and start < occurrences[-1].end:
            raise Invalid(f"The occurrences overlap: occurrence {index} starts ({format_time(start)}) before "
                          f"occurrence {index - 1} ends ({format_time(occurrences[-1].end)}); repeat less often "
                          f"or book shorter.")
        occurrences.append(Occurrence(index, local, start, end))
    return occurrences
