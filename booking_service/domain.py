"""Plain-data vocabulary of the booking service: times, resources and the errors a
person can act on, with the parsing of what clients send (pure: no I/O, no clock)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .engine import Resources
from .engine.calendar import format_time, from_epoch, to_epoch as epoch  # noqa: F401 (the service's names for them)

UTC = timezone.utc
MILLICORES_PER_CORE = 1000
MIB_PER_GIB = 1024
# Sizes beyond these are typos, not requests: the largest nodes sold today have a few
# hundred cores and some TiB of memory; a pool grant may sum many of them.
MAX_CORES = 1_000_000
MAX_MEMORY_GIB = 100_000_000
# Times outside this window are refused rather than stored: they are always mistakes
# (a year 10000 end, an epoch in milliseconds read as seconds).
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)
# the scope of the hub's own caller that forgets deleted users (operations.forget)
FORGET_SCOPE = "custom:booking:forget"
NAME_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?$")


class BookingError(Exception):
    """An error the client can act on: carries the HTTP status and a message for a person."""

    status = 400

    def __init__(self, message: str, *, status: int | None = None, **extra):
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        self.extra = extra


class Invalid(BookingError):
    status = 400


class Forbidden(BookingError):
    status = 403


class NotFound(BookingError):
    status = 404


class Conflict(BookingError):
    status = 409


def no_such_pool(name: str) -> NotFound:
    return NotFound(f"There is no pool named '{name}'; GET /pools lists them.")


def read_iso(value: str) -> datetime | None:
    """datetime.fromisoformat with a trailing Z read as UTC; None if it is no ISO 8601 time."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def parse_time(value, field: str) -> datetime:
    """An ISO 8601 time with an offset (or Z), as an aware UTC datetime in whole seconds."""
    if not isinstance(value, str) or not value:
        raise Invalid(f"'{field}' must be an ISO 8601 time such as 2026-01-31T09:00:00Z")
    moment = read_iso(value)
    if moment is None:
        raise Invalid(f"'{field}' is not a valid ISO 8601 time: {value!r} (example: 2026-01-31T09:00:00Z)")
    if moment.tzinfo is None:
        raise Invalid(
            f"'{field}' needs a time zone: write {value}Z for UTC, or add an offset like +01:00"
        )
    try:
        moment = moment.astimezone(UTC).replace(microsecond=0)
    except OverflowError:  # 9999-12-31T23:59:59-01:00 is in no year datetime knows
        moment = None
    if moment is None or not EARLIEST <= moment <= LATEST:
        raise Invalid(f"'{field}' must lie between {format_time(EARLIEST)} and {format_time(LATEST)}")
    return moment


# An IANA name: letters, digits and -+_ in up to three parts (Europe/London,
# America/Argentina/Buenos_Aires, Etc/GMT+5); no dots, so no path can leave the zone database.
_ZONE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_+-]{0,30}(?:/[A-Za-z0-9][A-Za-z0-9_+-]{0,30}){0,2}")


def parse_zone(value) -> ZoneInfo | None:
    """The IANA time zone `value` names (None for UTC, the default)."""
    if value is None or value in ("", "UTC", "Etc/UTC"):
        return None
    if not isinstance(value, str) or not _ZONE_NAME.fullmatch(value):
        raise Invalid(f"'tz' must be an IANA time zone name such as Europe/London, not {value!r}")
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise Invalid(f"'tz' names no time zone this service knows: {value!r} (use an IANA name such as Europe/London)") from None


def parse_range(start, end, *, max_span: timedelta | None = None) -> tuple[datetime, datetime]:
    begin = parse_time(start, "start")
    finish = parse_time(end, "end")
    if finish <= begin:
        raise Invalid(f"'end' ({format_time(finish)}) must be after 'start' ({format_time(begin)})")
    if max_span is not None and finish - begin > max_span:
        raise Invalid(
            f"The range from {format_time(begin)} to {format_time(finish)} is longer than the "
            f"{max_span.days} days this query answers; ask for a shorter range."
        )
    return begin, finish


def _number(value, field: str, *, allow_zero: bool, maximum: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Invalid(f"'{field}' must be a number")
    # compared before any arithmetic: an int of hundreds of digits has no float
    if isinstance(value, int) and abs(value) > maximum:
        raise Invalid(f"'{field}' is more than the {maximum:,} this service accepts")
    if not math.isfinite(value):
        raise Invalid(f"'{field}' must be a number")
    if value < 0 or (value == 0 and not allow_zero):
        raise Invalid(f"'{field}' must be {'zero or more' if allow_zero else 'more than zero'}, not {value}")
    if value > maximum:
        raise Invalid(f"'{field}' is {value}, more than the {maximum:,} this service accepts")
    return value


def _in_units(value, field: str, *, per_unit: int, unit: str, maximum: float, allow_zero: bool,
              too_fine: str) -> int:
    """A number of cores or GiB as a whole count of the stored unit (millicores, MiB)."""
    number = _number(value, field, allow_zero=allow_zero, maximum=maximum)
    units = round(number * per_unit)
    if number != 0 and units == 0:
        # 5e-10 cores is not "no cores": it would hold nothing and start unlimited
        raise Invalid(f"'{field}' is {value}, which is less than the smallest size, {unit}")
    if abs(units - number * per_unit) > 1e-6:
        raise Invalid(f"'{field}' {too_fine}, not {value}")
    return units


def parse_cores(value, field: str = "cores", *, allow_zero: bool = False, maximum: float = MAX_CORES) -> int:
    """Cores with at most three decimals (Kubernetes' millicores), in millicores."""
    return _in_units(value, field, per_unit=MILLICORES_PER_CORE, unit="0.001 cores (a millicore)",
                     maximum=maximum, allow_zero=allow_zero, too_fine="can have at most three decimals (a millicore)")


def parse_memory(value, field: str = "memory_gib", *, allow_zero: bool = False,
                 maximum: float = MAX_MEMORY_GIB) -> int:
    """Memory in GiB that is a whole number of MiB, in MiB."""
    return _in_units(value, field, per_unit=MIB_PER_GIB, unit="1/1024 GiB (a MiB)", maximum=maximum,
                     allow_zero=allow_zero, too_fine="must be a whole number of MiB (a multiple of 1/1024 GiB)")


def parse_resources(body, field: str = "resources", *, maximum: Resources | None = None) -> Resources:
    """{"cores", "memory_gib"}, each within `maximum` (in millicores and MiB) if given."""
    if not isinstance(body, dict):
        raise Invalid(f"'{field}' must be an object like {{\"cores\": 2, \"memory_gib\": 8}}")
    unknown = set(body) - {"cores", "memory_gib"}
    if unknown:
        raise Invalid(f"'{field}' has unknown fields: {', '.join(sorted(unknown))}")
    for key in ("cores", "memory_gib"):
        if key not in body:
            raise Invalid(f"'{field}' needs '{key}'")
    cores, memory = MAX_CORES, MAX_MEMORY_GIB
    if maximum is not None:
        cores, memory = maximum.millicores / MILLICORES_PER_CORE, maximum.mib / MIB_PER_GIB
    return Resources(
        parse_cores(body["cores"], f"{field}.cores", maximum=cores),
        parse_memory(body["memory_gib"], f"{field}.memory_gib", maximum=memory),
    )


def resources_json(resources: Resources) -> dict:
    return {
        "cores": resources.millicores / MILLICORES_PER_CORE,
        "memory_gib": resources.mib / MIB_PER_GIB,
    }


def parse_name(value, field: str) -> str:
    if not isinstance(value, str) or not NAME_PATTERN.match(value):
        raise Invalid(
            f"'{field}' must be 1 to 64 lower-case letters, digits, '.', '_' or '-', "
            f"starting and ending with a letter or digit"
        )
    return value


def require_fields(body, required: set[str], optional: set[str] = frozenset()) -> dict:
    if not isinstance(body, dict):
        raise Invalid("The request body must be a JSON object")
    missing = required - set(body)
    if missing:
        raise Invalid(f"Missing field(s): {', '.join(sorted(missing))}")
    unknown = set(body) - required - set(optional)
    if unknown:
        raise Invalid(
            f"Unknown field(s): {', '.join(sorted(unknown))}; "
            f"accepted: {', '.join(sorted(required | set(optional)))}"
        )
    return body


@dataclass(frozen=True)
class Caller:
    """Who is asking: a hub user or service, their level, and what their token allows."""

    name: str
    kind: str  # "user" or "service"
    level: int
    admin: bool
    can_read: bool
    can_write: bool
    sessions: bool = False  # may start and stop sessions for anyone (the spawner)
    forget: bool = False  # may forget a deleted hub user (the hub's own caller)


# -- ISO 8601 durations and intervals (the offer requests', as the ExecutionBroker's) --------

_DURATION = re.compile(
    r"P(?!$)(?:(?P<weeks>\d{1,6})W)?(?:(?P<days>\d{1,6})D)?"
    r"(?:T(?=\d)(?:(?P<hours>\d{1,8})H)?(?:(?P<minutes>\d{1,10})M)?(?:(?P<seconds>\d{1,12})S)?)?")


def parse_duration(value, field: str) -> timedelta:
    """An ISO 8601 duration of weeks, days, hours, minutes and seconds (PT1H30M, P2D, P1W);
    years and months have no fixed length, so they are refused."""
    if not isinstance(value, str) or len(value) > 40:
        raise Invalid(f"'{field}' must be an ISO 8601 duration such as PT1H or PT90M")
    match = _DURATION.fullmatch(value.strip().upper())
    if match is None or value.strip().upper().endswith("T"):
        raise Invalid(f"'{field}' is not an ISO 8601 duration of weeks, days, hours, minutes or seconds: "
                      f"{value!r} (examples: PT1H, PT1H30M, P1D)")
    parts = {k: int(v) for k, v in match.groupdict().items() if v is not None}
    duration = timedelta(weeks=parts.get("weeks", 0), days=parts.get("days", 0), hours=parts.get("hours", 0),
                         minutes=parts.get("minutes", 0), seconds=parts.get("seconds", 0)) \
        if sum(parts.values()) < 10**9 else None
    if duration is None or duration > LATEST - EARLIEST:
        raise Invalid(f"'{field}' ({value}) is longer than this service handles")
    if duration <= timedelta(0):
        raise Invalid(f"'{field}' must be longer than zero, not {value}")
    return duration


def parse_interval(value, field: str) -> tuple[datetime, datetime]:
    """An ISO 8601 interval `start/duration` (2026-01-31T09:00:00Z/PT1H) or `start/end`."""
    if not isinstance(value, str) or value.count("/") != 1 or len(value) > 100:
        raise Invalid(f"'{field}' must be an ISO 8601 interval such as 2026-01-31T09:00:00Z/PT1H "
                      f"(start/duration) or start/end")
    first, second = value.split("/")
    start = parse_time(first, field)
    end = start + parse_duration(second, field) if second.strip().upper().startswith("P") else parse_time(second, field)
    if end <= start:
        raise Invalid(f"'{field}' ends ({format_time(end)}) before it starts ({format_time(start)})")
    if end > LATEST:
        raise Invalid(f"'{field}' must end by {format_time(LATEST)}")
    return start, end


# -- the booking lifecycle (seed 004) -----------------------------------------------------------

OFFERED, ACCEPTED, PREPARING, WAITING, RUNNING, RELEASING, COMPLETED = (
    "OFFERED", "ACCEPTED", "PREPARING", "WAITING", "RUNNING", "RELEASING", "COMPLETED")
CANCELLED, FAILED, EXPIRED, REJECTED = "CANCELLED", "FAILED", "EXPIRED", "REJECTED"
PHASES = (OFFERED, ACCEPTED, PREPARING, WAITING, RUNNING, RELEASING, COMPLETED, CANCELLED, FAILED, EXPIRED, REJECTED)
# Where a phase may go: only forward. A booking made directly starts ACCEPTED, an offer
# OFFERED. PREPARING is while its preparation steps run (operations/preparation.py; without
# steps a booking waits from its start); a server may start before the lifecycle loop moved its booking on, hence
# ACCEPTED -> RUNNING; a booking nobody used ends COMPLETED from ACCEPTED or WAITING.
MOVES: dict[str | None, frozenset[str]] = {
    None: frozenset({OFFERED, ACCEPTED}),
    OFFERED: frozenset({ACCEPTED, REJECTED, EXPIRED, CANCELLED}),
    ACCEPTED: frozenset({PREPARING, WAITING, RUNNING, COMPLETED, CANCELLED, FAILED}),
    PREPARING: frozenset({WAITING, CANCELLED, FAILED}),
    WAITING: frozenset({RUNNING, COMPLETED, CANCELLED, FAILED}),
    RUNNING: frozenset({RELEASING, COMPLETED, CANCELLED, FAILED}),
    RELEASING: frozenset({COMPLETED, FAILED}),
}
FINAL = frozenset(PHASES) - set(MOVES)
# Phases that hold capacity, and how `bookings.state` (what counts in the timeline) follows.
LIVE = frozenset({ACCEPTED, PREPARING, WAITING, RUNNING, RELEASING})
_WHY_NOT = {
    EXPIRED: "the offer expired; ask for new offers (POST /offersets)",
    REJECTED: "the offer was rejected (another offer of its set was accepted, or it was declined)",
    CANCELLED: "it was cancelled",
    COMPLETED: "it is over",
    FAILED: "it failed",
}


def state_of(phase: str) -> str:
    """The coarse `bookings.state` of a phase: 'offered' (held for an offer), 'booked' (holds
    capacity; COMPLETED too, as history over its range) or 'cancelled' (holds nothing)."""
    if phase == OFFERED:
        return "offered"
    return "booked" if phase in LIVE or phase == COMPLETED else "cancelled"


def check_move(current: str | None, target: str, what: str) -> None:
    """Raise Conflict (409) unless `current` may move to `target`; `what` names the booking."""
    if target not in PHASES:
        raise Invalid(f"'{target}' is no phase; phases are {', '.join(PHASES)}")
    if target in MOVES.get(current, ()):
        return
    if current in _WHY_NOT:
        raise Conflict(f"{what} is {current} and cannot become {target}: {_WHY_NOT[current]}.")
    raise Conflict(f"{what} is {current} and cannot become {target}; from {current} it may become "
                   f"{', '.join(sorted(MOVES.get(current, ()))) or 'nothing'} (phases only move forward).")
