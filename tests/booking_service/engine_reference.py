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


# -- the offer search -------------------------------------------------------------------------

def fits_throughout(model: Model, need: Resources, start: int, end: int) -> bool:
    return need.fits_in(min_free(model, start, end))


def offer_starts(request, cursor: int, after: int, before: int):
    """Every start on the grain in [after, before) at or after `cursor`, earliest first."""
    s = max(after, cursor, request.earliest if request.earliest is not None else after)
    s = -(-s // request.grain) * request.grain
    while s < before:
        yield s
        s += request.grain


def longest_fitting(model: Model, request, start: int) -> int | None:
    """The longest duration that fits from `start`: `longest`, else the whole minutes (grain
    multiples) in between, else `shortest`; None if not even `shortest` fits."""
    candidates = {request.longest, request.shortest}
    d = request.longest // request.grain * request.grain
    while d > request.shortest:
        candidates.add(d)
        d -= request.grain
    for d in sorted(candidates, reverse=True):
        if request.shortest <= d <= request.longest and fits_throughout(model, request.need, start, start + d):
            return d
    return None


def largest_resources(model: Model, request, start: int, duration: int) -> Resources:
    """Try every amount from the most down: whole steps above the minimum, or the minimum."""
    free = min_free(model, start, start + duration)
    best = []
    for have, least, most, step in zip(free, request.need, request.most, request.step):
        options = [least, most, *range(least - least % step, most + 1, step)]
        best.append(max(v for v in options if least <= v <= most and v <= have))
    return Resources(*best)


def pool_offers(name: str, model: Model, request) -> list:
    """Walk the starts minute by minute: the first that fits (in any window, not before the
    end of the previous offer) is the next offer, with the longest duration, then the most."""
    from booking_service.engine.offers import Offer

    offers = []
    cursor = min(a for a, _ in request.windows)
    while len(offers) < request.count:
        found = None
        for a, b in request.windows:
            for s in offer_starts(request, cursor, a, b):
                if found is not None and s >= found:
                    break
                if longest_fitting(model, request, s) is not None:
                    found = s
                    break
        if found is None:
            return offers
        duration = longest_fitting(model, request, found)
        window = min(i for i, (a, b) in enumerate(request.windows) if a <= found < b)
        offers.append(Offer(name, found, duration, largest_resources(model, request, found, duration), window))
        cursor = found + duration
    return offers


def search(models: Mapping[str, Model], request) -> list:
    offers = [o for name, model in models.items() for o in pool_offers(name, model, request)]
    return sorted(offers, key=lambda o: o.key())[: request.count]


def nearest_start(models: Mapping[str, Model], request, after: int):
    """(pool, start) of the first start on the grain in [after, after + horizon) where the
    least resources fit for the shortest duration; None if there is none."""
    best = None
    for name, model in sorted(models.items()):
        after = max(after, request.earliest if request.earliest is not None else after)
        for s in offer_starts(request, after, after, after + request.horizon):
            if fits_throughout(model, request.need, s, s + request.shortest):
                if best is None or s < best[1]:
                    best = (name, s)
                break
    return best
