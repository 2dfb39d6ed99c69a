"""The free-resource timeline of one pool: capacity grants (positive) plus usages (negative)
as a step function of time, answering the calendar's questions with vectorised numpy."""

from __future__ import annotations

import operator
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

Int64Array = npt.NDArray[np.int64]
# (key, start, end, millicores, mib): one grant or usage over the half-open [start, end).
Entry = tuple[Hashable, int, int, int, int]


class Resources(NamedTuple):
    """An amount of compute: CPU in millicores (1 core = 1000) and memory in MiB."""

    millicores: int
    mib: int

    def fits_in(self, free: Resources) -> bool:
        """True when this amount fits in `free` in both dimensions."""
        return self.millicores <= free.millicores and self.mib <= free.mib

    # Componentwise arithmetic replaces tuple concatenation and repetition on purpose.
    def __add__(self, other: Resources) -> Resources:  # type: ignore[override]
        return Resources(self.millicores + other.millicores, self.mib + other.mib)

    def __sub__(self, other: Resources) -> Resources:
        return Resources(self.millicores - other.millicores, self.mib - other.mib)

    def scale(self, n: int) -> Resources:
        return Resources(self.millicores * n, self.mib * n)


ZERO = Resources(0, 0)


@dataclass(frozen=True)
class Block:
    """What one calendar block [start, end) offers: the least and most free resources in it,
    and per package name the (min, max) number of copies that fit at a moment of the block."""

    start: int
    end: int
    free_min: Resources
    free_max: Resources
    packages: dict[str, tuple[int, int]]


def _resources(row: Sequence[int]) -> Resources:
    return Resources(int(row[0]), int(row[1]))


class Timeline:
    """Keyed entries and their sum, the free function, kept as sorted breakpoints `t` and one
    (millicores, mib) row per segment. Rows are "padded": row 0 holds the value before t[0],
    row p the value on [t[p-1], t[p]), and the last row the value after t[-1] (always zero,
    since every entry ends). So the row holding moment x is searchsorted(t, x, "right")."""

    __slots__ = ("_entries", "_t", "_free")

    def __init__(self) -> None:
        self._entries: dict[Hashable, tuple[int, int, int, int]] = {}
        self._t: Int64Array = np.empty(0, dtype=np.int64)
        self._free: Int64Array = np.zeros((1, 2), dtype=np.int64)

    @classmethod
    def build(cls, entries: Iterable[Entry]) -> Timeline:
        """A timeline holding `entries`; a repeated key keeps its last entry, as set() would."""
        timeline = cls()
        store = timeline._entries = {
            key: (start, end, millicores, mib) for key, start, end, millicores, mib in entries
        }
        if not store:
            return timeline
        rows = np.array(list(store.values()))
        if rows.dtype.kind != "i":
            raise TypeError("entry times and amounts must be integers")
        rows = rows.astype(np.int64, copy=False)
        empty = rows[:, 0] >= rows[:, 1]
        if empty.any():
            # A key whose last entry is empty is absent, as after set() with start >= end.
            for key, is_empty in zip(list(store), empty.tolist()):
                if is_empty:
                    del store[key]
            rows = rows[~empty]
            if not store:
                return timeline
        # Each entry adds its amount at its start and takes it back at its end; a running
        # sum over the time-sorted events gives the free function.
        times = np.concatenate((rows[:, 0], rows[:, 1]))
        deltas = np.concatenate((rows[:, 2:], -rows[:, 2:]))
        order = np.argsort(times)
        times = times[order]
        level = np.cumsum(deltas[order], axis=0)
        # Several events may share a time: the segment starting there gets the level after
        # the last of them, whatever order the sort left them in.
        last = np.flatnonzero(np.append(times[1:] != times[:-1], True))
        timeline._t = times[last]
        timeline._free = np.vstack((np.zeros((1, 2), dtype=np.int64), level[last]))
        return timeline

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._entries

    def get(self, key: Hashable) -> tuple[int, int, int, int] | None:
        """The (start, end, millicores, mib) stored under `key`, or None."""
        return self._entries.get(key)

    @property
    def breakpoints(self) -> Int64Array:
        """The sorted breakpoints (a read-only view)."""
        view = self._t.view()
        view.flags.writeable = False
        return view

    def set(self, key: Hashable, start: int, end: int, millicores: int, mib: int) -> None:
        """Enter an entry under `key`, replacing any previous one; start >= end only removes."""
        start, end, millicores, mib = map(operator.index, (start, end, millicores, mib))
        self.remove(key)
        if start < end:
            self._entries[key] = (start, end, millicores, mib)
            self._add(start, end, millicores, mib)

    def remove(self, key: Hashable) -> None:
        """Take out the entry under `key`, if there is one."""
        old = self._entries.pop(key, None)
        if old is not None:
            start, end, millicores, mib = old
            self._add(start, end, -millicores, -mib)

    def _add(self, start: int, end: int, millicores: int, mib: int) -> None:
        i = self._breakpoint(start)
        j = self._breakpoint(end)
        # Breakpoint t[i] starts row i + 1, so [start, end) is rows i + 1 .. j.
        self._free[i + 1 : j + 1] += (millicores, mib)

    def _breakpoint(self, x: int) -> int:
        """The index of breakpoint x in t, inserting it first if needed."""
        i = int(np.searchsorted(self._t, x))
        if i == len(self._t) or self._t[i] != x:
            self._t = np.insert(self._t, i, x)
            # Both halves of the split segment keep its value.
            self._free = np.insert(self._free, i, self._free[i], axis=0)
        return i

    def compact(self) -> None:
        """Drop the breakpoints where the free function does not change (left by removals)."""
        changes = np.any(self._free[1:] != self._free[:-1], axis=1)
        self._t = self._t[changes]
        self._free = np.vstack((self._free[:1], self._free[1:][changes]))

    def free_at(self, moment: int) -> Resources:
        """The free resources at `moment`."""
        return _resources(self._free[np.searchsorted(self._t, moment, side="right")])

    def _rows(self, start: int, end: int) -> Int64Array:
        if start >= end:
            raise ValueError(f"empty range: start {start} is not before end {end}")
        first = np.searchsorted(self._t, start, side="right")
        last = np.searchsorted(self._t, end, side="left")
        return self._free[first : last + 1]

    def min_free(self, start: int, end: int) -> Resources:
        """The least free millicores and least free MiB over [start, end), each on its own."""
        return _resources(self._rows(start, end).min(axis=0))

    def max_free(self, start: int, end: int) -> Resources:
        """The most free millicores and most free MiB over [start, end), each on its own."""
        return _resources(self._rows(start, end).max(axis=0))

    def blocks(self, boundaries: Sequence[int], packages: Mapping[str, Resources]) -> list[Block]:
        """One Block per [boundaries[i], boundaries[i+1]), with package (min, max) counts."""
        if len(boundaries) < 2:
            return []
        edges = np.asarray(boundaries)
        if edges.ndim != 1 or edges.dtype.kind != "i":
            raise TypeError("block boundaries must be a flat sequence of integers")
        if np.any(edges[1:] <= edges[:-1]):
            raise ValueError("block boundaries must be strictly increasing")
        footprints = {name: Resources(*footprint) for name, footprint in packages.items()}
        for name, footprint in footprints.items():
            if footprint.millicores <= 0 or footprint.mib <= 0:
                raise ValueError(f"package {name!r} has footprint {footprint}; both must be > 0")

        # Block j covers rows first[j] .. last[j]; only that stretch of rows is looked at.
        first = np.searchsorted(self._t, edges[:-1], side="right")
        last = np.searchsorted(self._t, edges[1:], side="left")
        offset = first[0]
        rows = self._free[offset : last[-1] + 1]
        starts = first - offset
        ends = last - offset
        # Neighbouring blocks share a row when the edge between them is no breakpoint, so
        # reduceat runs over the disjoint [first[j], first[j+1]) (just row first[j] when they
        # are equal) and each block's last row is folded in separately.
        free_min = np.minimum(np.minimum.reduceat(rows, starts, axis=0), rows[ends])
        free_max = np.maximum(np.maximum.reduceat(rows, starts, axis=0), rows[ends])

        counts: dict[str, tuple[list[int], list[int]]] = {}
        for name, footprint in footprints.items():
            # Floor and min are monotone, so the fewest copies come from free_min; the most
            # need per-row counts, as the best CPU and best memory moments may differ.
            fewest = _copies(free_min, footprint)
            per_row = _copies(rows, footprint)
            most = np.maximum(np.maximum.reduceat(per_row, starts), per_row[ends])
            counts[name] = (fewest.tolist(), most.tolist())

        edge_list = edges.tolist()
        min_list = free_min.tolist()
        max_list = free_max.tolist()
        return [
            Block(
                start=edge_list[j],
                end=edge_list[j + 1],
                free_min=Resources(*min_list[j]),
                free_max=Resources(*max_list[j]),
                packages={name: (fewest[j], most[j]) for name, (fewest, most) in counts.items()},
            )
            for j in range(len(edge_list) - 1)
        ]

    def runs(self, need: Resources, after: int, until: int) -> tuple[Int64Array, Int64Array]:
        """The maximal intervals [run_start[i], run_end[i]) within [after, until) where `need`
        fits at every moment, in order (after < until)."""
        first = np.searchsorted(self._t, after, side="right")
        last = np.searchsorted(self._t, until, side="left")
        # Rows first .. last cover [after, until); clip the outer two to that range.
        seg_start = np.concatenate(([after], self._t[first:last]))
        seg_end = np.concatenate((self._t[first:last], [until]))
        rows = self._free[first : last + 1]
        fits = (rows[:, 0] >= need.millicores) & (rows[:, 1] >= need.mib)
        # Runs of consecutive fitting segments are the intervals where `need` fits throughout.
        change = np.diff(fits.astype(np.int8), prepend=0, append=0)
        return seg_start[np.flatnonzero(change == 1)], seg_end[np.flatnonzero(change == -1) - 1]

    def earliest_fits(
        self, need: Resources, duration: int, after: int, until: int, limit: int = 3
    ) -> list[int]:
        """Up to `limit` non-overlapping starts s, earliest first, with after <= s and
        s + duration <= until, where `need` fits at every moment of [s, s + duration)."""
        if duration <= 0:
            raise ValueError(f"duration must be positive, not {duration}")
        if limit <= 0 or until - after < duration:
            return []
        run_start, run_end = self.runs(need, after, until)
        long_enough = run_end - run_start >= duration
        # Every long enough run yields at least one start, so `limit` runs are plenty.
        starts = run_start[long_enough][:limit].tolist()
        ends = run_end[long_enough][:limit].tolist()
        found: list[int] = []
        for start, end in zip(starts, ends):
            # Alternatives do not overlap: the next one may begin where this one ends.
            while start + duration <= end and len(found) < limit:
                found.append(start)
                start += duration
        return found


def _copies(free: Int64Array, footprint: Resources) -> Int64Array:
    """How many copies of `footprint` fit in each (millicores, mib) row, never below zero."""
    copies = np.minimum(free[:, 0] // footprint.millicores, free[:, 1] // footprint.mib)
    return np.maximum(copies, 0)
