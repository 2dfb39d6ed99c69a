"""Slow, obviously correct answers for the availability engine, by summing the active entries
at each moment directly; the property tests hold the numpy timeline to them."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence

from booking_service.engine import Block, Resources

# key -> (start, end, millicores, mib), the model of what a timeline holds.
Model = dict[Hashable, tuple[int, int, int, int]]
# ("set", (key, start, end, millicores, mib)) or ("remove", key)
Op = tuple[str, object]


def model_of(entries: Iterable[tuple[Hashable, int, int, int, int]]) -> Model:
    """The entries kept after entering them one by one (empty ones remove their key)."""
    model: Model = {}
    for key, start, end, millicores, mib in entries:
        model.pop(key, None)
        if start < end:
            model[key] = (start, end, millicores, mib)
    return model


def apply(model: Model, ops: Sequence[Op]) -> Model:
    model = dict(model)
    for name, arg in ops:
        if name == "set":
            key, start, end, millicores, mib = arg
            model.pop(key, None)
            if start < end:
                model[key] = (start, end, millicores, mib)
        else:
            model.pop(arg, None)
    return model


def free_at(model: Model, moment: int) -> Resources:
    active = [e for e in model.values() if e[0] <= moment < e[1]]
    return Resources(sum(e[2] for e in active), sum(e[3] for e in active))


def moments(model: Model, start: int, end: int) -> list[int]:
    """Start and every entry boundary inside (start, end): the free function only changes there."""
    inside = {t for e in model.values() for t in e[:2] if start < t < end}
    return [start, *sorted(inside)]


def min_free(model: Model, start: int, end: int) -> Resources:
    frees = [free_at(model, t) for t in moments(model, start, end)]
    return Resources(min(f.millicores for f in frees), min(f.mib for f in frees))


def max_free(model: Model, start: int, end: int) -> Resources:
    frees = [free_at(model, t) for t in moments(model, start, end)]
    return Resources(max(f.millicores for f in frees), max(f.mib for f in frees))


def copies(free: Resources, footprint: Resources) -> int:
    return max(0, min(free.millicores // footprint.millicores, free.mib // footprint.mib))


def blocks(
    model: Model, boundaries: Sequence[int], packages: Mapping[str, Resources]
) -> list[Block]:
    result = []
    for start, end in zip(boundaries, boundaries[1:]):
        frees = [free_at(model, t) for t in moments(model, start, end)]
        result.append(
            Block(
                start=start,
                end=end,
                free_min=min_free(model, start, end),
                free_max=max_free(model, start, end),
                packages={
                    name: (min(copies(f, p) for f in frees), max(copies(f, p) for f in frees))
                    for name, p in packages.items()
                },
            )
        )
    return result


def earliest_fits(
    model: Model, need: Resources, duration: int, after: int, until: int, limit: int
) -> list[int]:
    """Try every whole second as a start; a fit found continues the search where it ends."""
    found: list[int] = []
    start = after
    while start + duration <= until and len(found) < limit:
        if need.fits_in(min_free(model, start, start + duration)):
            found.append(start)
            start += duration
        else:
            start += 1
    return found


# -- calendar periods in a time zone ----------------------------------------------------------

# Since 1999 every zone's offset is a multiple of 15 minutes and every change of offset falls
# on a quarter hour of UTC, so every period of every grain starts at one of these instants.
QUARTER_HOUR = 15 * 60


def clock_starts_a_period(before, after, grain: str) -> bool:
    """Whether the wall clock, reading `before` a moment ago and `after` now (local, naive),
    has begun a new period of the grain: an hour when its hour changes or it goes back (a
    repeated hour is a second hour), a day, week or month when its date says so."""
    if grain == "hour":
        return (after.date(), after.hour) != (before.date(), before.hour) or after < before
    if grain == "day":
        return after.date() != before.date()
    if grain == "week":
        return after.isocalendar()[:2] != before.isocalendar()[:2]
    return (after.year, after.month) != (before.year, before.month)


def zone_boundaries(start: int, end: int, grain: str, zone) -> list[int]:
    """[start, ..., end] in epoch seconds: every quarter hour strictly inside the range at which
    `zone`'s clock begins a period, found by reading the clock just before and at each."""
    from datetime import datetime, timedelta, timezone

    tick = timedelta(microseconds=1)
    found = [start]
    moment = (start // QUARTER_HOUR + 1) * QUARTER_HOUR
    while moment < end:
        at = datetime.fromtimestamp(moment, timezone.utc)
        before = (at - tick).astimezone(zone).replace(tzinfo=None)
        if clock_starts_a_period(before, at.astimezone(zone).replace(tzinfo=None), grain):
            found.append(moment)
        moment += QUARTER_HOUR
    return found + [end]
