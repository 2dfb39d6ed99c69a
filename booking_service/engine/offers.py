"""The offer search (pure): given pools' free timelines and a request (resources at least
`need` and at most `most`, a session that STARTS inside one of several windows, a duration
between `shortest` and `longest`), the distinct offers, best first.

Best means the earliest start, then the longest duration up to `longest`, then the largest
resources up to `most`. Starts fall on whole multiples of `grain` seconds (a minute). The
offers of one pool never overlap in time, so they are true alternatives (a set holds, at
any moment, no more than one of them per pool) and never near-copies of one another: after
an offer the next one in its pool starts where it ends at the earliest.

Everything works on the timeline's runs (the maximal intervals where `need` fits at every
moment, found once per pool with numpy over the step function's breakpoints), so a search
costs a few vectorised passes however long the windows and however many bookings the pool
holds, never a loop over minutes. Seed 004 recorded the prototype's bug: it offered starts
merely after a window's start; here every offer starts inside its window.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from .timeline import Int64Array, Resources, Timeline

# Above the minimum, resources are offered in whole cores and whole GiB.
STEP = Resources(1000, 1024)


@dataclass(frozen=True)
class OfferRequest:
    need: Resources  # the least resources (a package's footprint, or the minimum asked)
    most: Resources  # the most (equal to `need` for a package)
    windows: Sequence[tuple[int, int]]  # [a, b) in epoch seconds: the session starts inside
    shortest: int  # seconds
    longest: int
    count: int = 4
    grain: int = 60
    earliest: int | None = None  # no start before this (now)
    horizon: int = 90 * 86400  # how far past a window to look for the nearest start that fits
    step: Resources = STEP

    def __post_init__(self):
        if not 0 < self.shortest <= self.longest:
            raise ValueError(f"durations must satisfy 0 < shortest <= longest, not {self.shortest}, {self.longest}")
        if not self.need.fits_in(self.most) or self.need.millicores <= 0 or self.need.mib <= 0:
            raise ValueError(f"resources must satisfy 0 < need <= most, not {self.need}, {self.most}")
        if self.grain <= 0 or self.count <= 0 or not self.windows:
            raise ValueError("grain and count must be positive and there must be a window")
        if any(a >= b for a, b in self.windows):
            raise ValueError(f"every window must have a < b: {self.windows}")


@dataclass(frozen=True)
class Offer:
    pool: str
    start: int
    duration: int
    resources: Resources
    window: int  # the index of the first requested window the start lies in

    def key(self) -> tuple:
        """Sorts best first: earliest, longest, largest (cores, then memory), then pool."""
        return (self.start, -self.duration, -self.resources.millicores, -self.resources.mib, self.pool)


@dataclass(frozen=True)
class Answer:
    offers: list[Offer]
    # window index -> (pool, start) of the nearest later start that fits (None: none within
    # the horizon), for each window in which nothing fits at all
    empty: dict[int, tuple[str, int] | None]


def _ceil(value, grain: int):
    return -(-value // grain) * grain


class _Runs:
    """Where `need` fits throughout, in one pool over [low, high): sorted run starts and ends."""

    def __init__(self, timeline: Timeline, need: Resources, low: int, high: int):
        self.start, self.end = timeline.runs(need, low, high) if low < high else (np.empty(0, np.int64),) * 2

    def first(self, shortest: int, after: int, before: int, grain: int) -> int | None:
        """The earliest start s on the grain with after <= s < before whose [s, s + shortest)
        lies inside one run."""
        start: Int64Array = self.start
        end: Int64Array = self.end
        # Runs ending before after + shortest cannot hold such a start, nor runs from `before` on.
        i = int(np.searchsorted(end, after + shortest, side="left"))
        j = int(np.searchsorted(start, before, side="left"))
        if i >= j:
            return None
        candidate = _ceil(np.maximum(start[i:j], after), grain)
        ok = (candidate < before) & (candidate + shortest <= end[i:j])
        k = int(np.argmax(ok))
        return int(candidate[k]) if ok[k] else None

    def end_of(self, moment: int) -> int:
        """The end of the run holding `moment`."""
        return int(self.end[np.searchsorted(self.start, moment, side="right") - 1])


def _windows(request: OfferRequest) -> list[tuple[int, int]]:
    """The windows with starts before `earliest` cut off (empty ones stay, as (b, b))."""
    if request.earliest is None:
        return list(request.windows)
    return [(min(max(a, request.earliest), b), b) for a, b in request.windows]


def _resources(timeline: Timeline, request: OfferRequest, start: int, duration: int) -> Resources:
    """The most free throughout, up to `most`: `most` itself if it fits, else whole steps
    (cores, GiB), but never less than the minimum (which fits: the runs say so)."""
    free = timeline.min_free(start, start + duration)
    out = []
    for have, least, most, step in zip(free, request.need, request.most, request.step):
        out.append(most if have >= most else max(least, have // step * step))
    return Resources(*out)


def pool_offers(name: str, timeline: Timeline, request: OfferRequest) -> list[Offer]:
    """Up to `count` offers in one pool, best first, none overlapping another."""
    windows = _windows(request)
    low = min(a for a, _ in windows)
    high = max(b for _, b in windows) + request.longest
    runs = _Runs(timeline, request.need, low, high)
    offers: list[Offer] = []
    cursor = low
    while len(offers) < request.count:
        found = [runs.first(request.shortest, max(a, cursor), b, request.grain) for a, b in windows]
        starts = [s for s in found if s is not None]
        if not starts:
            break
        start = min(starts)
        room = runs.end_of(start) - start
        if room >= request.longest:
            duration = request.longest
        else:
            duration = max(request.shortest, room // request.grain * request.grain)
        window = next(i for i, (a, b) in enumerate(request.windows) if a <= start < b)
        offers.append(Offer(name, start, duration, _resources(timeline, request, start, duration), window))
        cursor = start + duration
    return offers


def search(timelines: Mapping[str, Timeline], request: OfferRequest) -> Answer:
    """The best `count` offers over all the pools, and for each window in which nothing fits
    in any pool, the nearest later start that would."""
    offers = [offer for name, timeline in timelines.items() for offer in pool_offers(name, timeline, request)]
    offers.sort(key=Offer.key)
    windows = _windows(request)
    empty: dict[int, tuple[str, int] | None] = {}
    for index, (a, b) in enumerate(windows):
        if any(a <= o.start < b for o in offers):
            continue
        # Not every window that got no offer is empty: the count may have run out first.
        if a < b and any(_Runs(t, request.need, a, b + request.shortest).first(request.shortest, a, b, request.grain)
                         is not None for t in timelines.values()):
            continue
        nearest = None
        after = b if request.earliest is None else max(b, request.earliest)
        for name, timeline in timelines.items():
            until = after + request.horizon
            start = _Runs(timeline, request.need, after, until + request.shortest).first(
                request.shortest, after, until, request.grain)
            if start is not None and (nearest is None or (start, name) < (nearest[1], nearest[0])):
                nearest = (name, start)
        empty[index] = nearest
    return Answer(offers[: request.count], empty)
