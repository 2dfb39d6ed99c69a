"""Reading a "find me a slot" request (POST /offersets) into the engine's OfferRequest, with
a clear 400 for every field of the wrong shape, and the caller's level rules applied: what
the level may not do is a 403, what it may do only in part (a longer duration, a later
window) is cut to what it may, with a message saying so."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ..domain import (
    Caller,
    Invalid,
    epoch,
    format_time,
    parse_cores,
    parse_duration,
    parse_interval,
    parse_memory,
    parse_name,
    require_fields,
)
from ..engine import Resources
from ..policy import check_booking

# the largest answer and request a client may ask for
MAX_COUNT = 20
MAX_POOLS = 50


@dataclass
class Parsed:
    package: str | None  # a package's name, or None for explicit resources
    need: Resources | None  # explicit resources: the least and the most
    most: Resources | None
    windows: list[tuple[datetime, datetime]]
    shortest: timedelta
    longest: timedelta
    pools: list[str] | None
    count: int
    messages: list[str] = field(default_factory=list)
    numbers: list[int] = field(default_factory=list)  # each kept window's index in the request
    platforms: list[str] | None = None  # the platforms to ask (booking_service.platforms); None: all


def _object(value, name: str, example: str) -> dict:
    if not isinstance(value, dict):
        raise Invalid(f"'{name}' must be an object like {example}")
    return value


def _range(body, name: str, parse, example: str) -> tuple:
    """{"min": x, "max": y} (max optional: then min) with min <= max."""
    body = _object(body, name, example)
    unknown = set(body) - {"min", "max"}
    if unknown or "min" not in body:
        raise Invalid(f"'{name}' must be an object like {example} ('max' is optional)")
    least = parse(body["min"], f"{name}.min")
    most = parse(body["max"], f"{name}.max") if "max" in body else least
    if most < least:
        raise Invalid(f"'{name}.max' must not be less than '{name}.min'")
    return least, most


def parse_offer_request(body, *, max_windows: int, default_count: int, max_resources: Resources,
                        max_window: timedelta) -> Parsed:
    body = require_fields(body, {"what", "when", "duration"}, {"pools", "count", "platforms", "steps"})  # steps: preparation
    what = _object(body["what"], "what", '{"package": "small"} or {"resources": {"cores": {"min": 1}, ...}}')
    if set(what) not in ({"package"}, {"resources"}):
        raise Invalid("'what' must be {\"package\": name} or {\"resources\": {\"cores\": {\"min\", \"max\"}, "
                      "\"memory_gib\": {\"min\", \"max\"}}}, one of them")
    package = need = most = None
    if "package" in what:
        package = parse_name(what["package"], "what.package")
    else:
        resources = _object(what["resources"], "what.resources", '{"cores": {"min": 1}, "memory_gib": {"min": 4}}')
        if set(resources) != {"cores", "memory_gib"}:
            raise Invalid("'what.resources' needs exactly 'cores' and 'memory_gib', each {\"min\", \"max\"}")
        cores = _range(resources["cores"], "what.resources.cores",
                       lambda v, f: parse_cores(v, f, maximum=max_resources.millicores / 1000), '{"min": 1, "max": 4}')
        memory = _range(resources["memory_gib"], "what.resources.memory_gib",
                        lambda v, f: parse_memory(v, f, maximum=max_resources.mib / 1024), '{"min": 4, "max": 16}')
        need, most = Resources(cores[0], memory[0]), Resources(cores[1], memory[1])

    when = _object(body["when"], "when", '{"start": ["2026-01-31T09:00:00Z/PT1H"]}')
    if set(when) != {"start"} or not isinstance(when["start"], list) or not when["start"]:
        raise Invalid("'when' must be {\"start\": [intervals]}: one or more ISO 8601 intervals in which the session "
                      "starts, such as 2026-01-31T09:00:00Z/PT1H")
    if len(when["start"]) > max_windows:
        raise Invalid(f"'when.start' has {len(when['start'])} windows; at most {max_windows} are answered at once")
    windows = []
    for i, text in enumerate(when["start"]):
        start, end = parse_interval(text, f"when.start[{i}]")
        if end - start > max_window:
            raise Invalid(f"'when.start[{i}]' is longer than the {max_window.days} days one window may be")
        windows.append((start, end))

    shortest, longest = _range(body["duration"], "duration", parse_duration, '{"min": "PT1H", "max": "PT4H"}')

    pools = body.get("pools")
    if pools is not None:
        if not isinstance(pools, list) or not pools or len(pools) > MAX_POOLS:
            raise Invalid(f"'pools' must be a list of 1 to {MAX_POOLS} pool names")
        pools = sorted({parse_name(name, "pools[]") for name in pools})
    count = body.get("count", default_count)
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_COUNT:
        raise Invalid(f"'count' must be a whole number from 1 to {MAX_COUNT}")
    platforms = body.get("platforms")
    if platforms is not None:
        if not isinstance(platforms, list) or not platforms or len(platforms) > MAX_POOLS:
            raise Invalid(f"'platforms' must be a list of 1 to {MAX_POOLS} platform names (GET /platforms lists them)")
        platforms = sorted({parse_name(name, "platforms[]") for name in platforms})
    return Parsed(package, need, most, windows, shortest, longest, pools, count, platforms=platforms)


def apply_level(parsed: Parsed, level, caller: Caller, now: datetime) -> None:
    """Refuse what the caller's level may not ask at all (403: the package, explicit
    resources, a minimum longer than it may book); cut what it may ask only in part, and
    say so in `messages`; and drop what lies in the past."""
    check_booking(level, package=parsed.package, start=now, end=now + parsed.shortest, now=now, admin=caller.admin)
    if not caller.admin:
        most = timedelta(hours=level.max_hours)
        if parsed.longest > most:
            parsed.longest = max(parsed.shortest, most)
            parsed.messages.append(f"Durations are cut to {level.max_hours:g} hours, the most your level "
                                   f"({level.name}) may book.")
    latest = None if caller.admin else now + timedelta(days=level.max_advance_days)
    kept, numbers = [], []
    for i, (start, end) in enumerate(parsed.windows):
        if end <= now:
            parsed.messages.append(f"Window {i} ({format_time(start)} to {format_time(end)}) is in the past.")
        elif latest is not None and start > latest:
            parsed.messages.append(f"Window {i} starts after {format_time(latest)}, later than your level "
                                   f"({level.name}) may book ahead ({level.max_advance_days:g} days).")
        else:
            if latest is not None and end > latest:
                end = latest + timedelta(seconds=1)
                parsed.messages.append(f"Window {i} is cut to starts by {format_time(latest)}, as far ahead as your "
                                       f"level ({level.name}) may book.")
            kept.append((max(start, now), end))
            numbers.append(i)
    parsed.windows, parsed.numbers = kept, numbers


def engine_windows(parsed: Parsed) -> list[tuple[int, int]]:
    return [(epoch(start), epoch(end)) for start, end in parsed.windows]


def iso_duration(seconds: int) -> str:
    """PT2H30M: an ISO 8601 duration in hours, minutes and seconds."""
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return "PT" + "".join(f"{n}{unit}" for n, unit in ((hours, "H"), (minutes, "M"), (secs, "S")) if n) if seconds else "PT0S"


def request_json(parsed: Parsed, *, pools: list[str] | None = None) -> dict:
    """The request as POST /offersets takes it, after the level's cuts (windows from now,
    durations at most the level's): what a remote platform is asked, so that another
    booking service answers exactly what this one would."""
    if parsed.package is not None:
        what = {"package": parsed.package}
    else:
        what = {"resources": {
            "cores": {"min": parsed.need.millicores / 1000, "max": parsed.most.millicores / 1000},
            "memory_gib": {"min": parsed.need.mib / 1024, "max": parsed.most.mib / 1024}}}
    body = {"what": what,
            "when": {"start": [f"{format_time(a)}/{format_time(b)}" for a, b in parsed.windows]},
            "duration": {"min": iso_duration(int(parsed.shortest.total_seconds())),
                         "max": iso_duration(int(parsed.longest.total_seconds()))},
            "count": parsed.count}
    if pools:
        body["pools"] = list(pools)
    return body
