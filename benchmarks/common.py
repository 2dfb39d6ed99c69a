"""Shared pieces of the benchmarks: timing statistics, the result rows and their table,
the exact (pure Python) reference sums, and database set-up helpers."""

from __future__ import annotations

import math
import os
import statistics
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import insert, select

from booking_service import orm, store
from booking_service.app import DEFAULT_PACKAGES
from booking_service.operations.packages import parse_package

UTC = timezone.utc


def percentile(samples: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty sample."""
    ordered = sorted(samples)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


async def timed(call: Callable[[], Awaitable], reps: int, *, budget_s: float | None = None,
                min_reps: int = 5) -> list[float]:
    """Run `call` up to `reps` times, one after the other, and return each duration in ms.

    With `budget_s`, stop early once that much time went by and at least `min_reps` ran
    (the seed SQL at 100k bookings takes seconds a query; the table shows the n used).
    """
    samples: list[float] = []
    began = time.perf_counter()
    for _ in range(reps):
        t0 = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - t0) * 1000)
        if budget_s is not None and len(samples) >= min_reps and time.perf_counter() - began > budget_s:
            break
    return samples


@dataclass
class LatencyRow:
    benchmark: str
    bookings: int
    query: str
    samples: list[float]
    seed_median: float | None = None  # the seed SQL's median for the same bookings and query

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def p90(self) -> float:
        return percentile(self.samples, 90)

    def vs_seed(self) -> str:
        if self.seed_median is None:
            return ""
        if self.benchmark == "seed SQL":
            return "1"
        ratio = self.seed_median / self.median
        return f"{ratio:,.0f}" if ratio >= 10 else f"{ratio:,.1f}"


@dataclass
class ThroughputRow:
    target: str
    clients: int
    requests: int
    created: int  # 201
    refused: int  # 409
    other: dict[int, int]  # any other status -> count
    seconds: float
    latencies: list[float]
    booked_rows: int = 0
    overbooked: bool | None = None
    notes: list[str] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)  # role -> CPU seconds used in the run

    @property
    def decisions_per_s(self) -> float:
        return (self.created + self.refused) / self.seconds

    @property
    def created_per_s(self) -> float:
        return self.created / self.seconds


def _fmt_ms(value: float) -> str:
    return f"{value:,.2f}" if value < 10 else f"{value:,.1f}" if value < 1000 else f"{value:,.0f}"


def render_table(headers: list[str], rows: list[list[str]], right: Iterable[int] = ()) -> str:
    right = set(right)
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]

    def line(cells):
        return " | ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    return "\n".join([line(headers), "-+-".join("-" * w for w in widths), *(line(r) for r in rows)])


def latency_table(rows: list[LatencyRow]) -> str:
    headers = ["benchmark", "bookings", "query", "n", "median ms", "p90 ms", "seed/this"]
    body = [
        [r.benchmark, f"{r.bookings // 1000}k", r.query, str(len(r.samples)), _fmt_ms(r.median),
         _fmt_ms(r.p90), r.vs_seed()]
        for r in rows
    ]
    return render_table(headers, body, right={3, 4, 5, 6})


def case_table(rows: list[LatencyRow], ratio: str = "seed/this") -> str:
    """A latency table for in-process rows that have no booking count (H, I)."""
    body = [[r.benchmark, r.query, str(len(r.samples)), _fmt_ms(r.median), _fmt_ms(r.p90), r.vs_seed()]
            for r in rows]
    return render_table(["benchmark", "case", "n", "median ms", "p90 ms", ratio], body, right={2, 3, 4, 5})


def throughput_table(rows: list[ThroughputRow]) -> str:
    headers = ["admission (POST /bookings)", "clients", "requests", "201", "409", "other", "seconds",
               "decisions/s", "201/s", "p50 ms", "p90 ms", "overbooked"]
    body = []
    for r in rows:
        other = sum(r.other.values())
        body.append([
            r.target, str(r.clients), str(r.requests), str(r.created), str(r.refused),
            str(other) if not other else f"{other} {dict(sorted(r.other.items()))}",
            f"{r.seconds:.1f}", f"{r.decisions_per_s:,.0f}", f"{r.created_per_s:,.0f}",
            _fmt_ms(statistics.median(r.latencies)), _fmt_ms(percentile(r.latencies, 90)),
            {None: "not checked", True: "YES", False: "no"}[r.overbooked],
        ])
    return render_table(headers, body, right=set(range(1, 11)))


CPU_ROLES = ["client", "proxy", "service", "postgres", "hub", "irq", "others"]


def cpu_table(rows: list[ThroughputRow]) -> str:
    headers = ["CPU ms per request", *CPU_ROLES, "total", "busy of 2 CPUs" if os.cpu_count() == 2 else "busy"]
    body = []
    for r in rows:
        if not r.cpu:
            continue
        total = sum(r.cpu.values())
        body.append([r.target, *(f"{1000 * r.cpu.get(role, 0.0) / r.requests:.2f}" for role in CPU_ROLES),
                     f"{1000 * total / r.requests:.2f}", f"{100 * total / (r.seconds * (os.cpu_count() or 1)):.0f}%"])
    return render_table(headers, body, right=set(range(1, len(headers))))


# --- exact references ---------------------------------------------------------------------

def exact_min_free(entries: list[tuple[int, int, int, int]], start: int, end: int) -> tuple[int, int]:
    """The least free (millicores, mib) over [start, end), each on its own, by summing the
    entries (start, end, millicores, mib; grants positive, bookings negative) active at
    `start` and at every entry boundary inside the range, where alone the sum changes."""
    active = [e for e in entries if e[0] < end and e[1] > start]
    moments = {start} | {t for e in active for t in e[:2] if start < t < end}
    best_c = best_m = None
    for moment in moments:
        c = sum(e[2] for e in active if e[0] <= moment < e[1])
        m = sum(e[3] for e in active if e[0] <= moment < e[1])
        best_c = c if best_c is None else min(best_c, c)
        best_m = m if best_m is None else min(best_m, m)
    return best_c, best_m


def sweep_violations(grants: list[tuple[int, int, int, int]], bookings: list[tuple[int, int, int, int]]):
    """Every moment where the bookings need more than the grants give, in either
    dimension, by an exact sweep over half-open intervals (an end at t frees before a
    start at t takes). Returns a list of (moment, free_millicores, free_mib) below zero."""
    events = []
    for s, e, c, m in grants:
        events.append((s, c, m))
        events.append((e, -c, -m))
    for s, e, c, m in bookings:
        events.append((s, -c, -m))
        events.append((e, c, m))
    events.sort()
    bad = []
    free_c = free_m = 0
    i = 0
    while i < len(events):
        moment = events[i][0]
        while i < len(events) and events[i][0] == moment:  # apply all changes at this moment
            free_c += events[i][1]
            free_m += events[i][2]
            i += 1
        if free_c < 0 or free_m < 0:
            bad.append((moment, free_c, free_m))
    return bad


def epoch(moment: datetime) -> int:
    return int(moment.timestamp())


# --- database helpers ---------------------------------------------------------------------

async def prepare_database(url: str) -> None:
    """Migrate the schema and add the default packages, as a fresh service would."""
    engine = store.make_engine(url)
    try:
        await store.upgrade(engine)
        now = datetime.now(UTC).replace(microsecond=0)
        async with engine.begin() as conn:
            if not (await conn.execute(select(orm.PackageTemplate.id).limit(1))).first():
                await conn.execute(
                    insert(orm.PackageTemplate),
                    [dict(parse_package(spec), version=1, created=now) for spec in DEFAULT_PACKAGES],
                )
    finally:
        await engine.dispose()


async def load_pool_rows(url: str, pool_name: str):
    """The pool's grants and booked bookings, as (start, end, millicores, mib) in epoch seconds."""
    engine = store.make_engine(url)
    try:
        async with engine.connect() as conn:
            pool_id = (await conn.execute(select(orm.Pool.id).where(orm.Pool.name == pool_name))).scalar_one()
            grants = (await conn.execute(
                select(orm.CapacityGrant.start, orm.CapacityGrant.end, orm.CapacityGrant.millicores,
                       orm.CapacityGrant.mib).where(orm.CapacityGrant.pool_id == pool_id))).all()
            bookings = (await conn.execute(
                select(orm.Booking.start, orm.Booking.end, orm.Booking.millicores, orm.Booking.mib)
                .where(orm.Booking.pool_id == pool_id, orm.Booking.state == "booked"))).all()
    finally:
        await engine.dispose()
    as_ints = lambda rows: [(epoch(s), epoch(e), c, m) for s, e, c, m in rows]  # noqa: E731
    return as_ints(grants), as_ints(bookings)


# --- CPU accounting -----------------------------------------------------------------------

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _proc_stat(pid: int):
    """(ppid, cpu seconds user+system) of a live process, or None."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2:].split()  # after "pid (comm) "
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def cpu_snapshot(roles: dict[int, str]) -> dict[str, float]:
    """CPU seconds used so far by the processes `roles` names (pid -> role) and all their
    descendants (a descendant counts for its nearest named ancestor)."""
    stats, parent = {}, {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            found = _proc_stat(int(entry.name))
            if found is not None:
                parent[int(entry.name)], stats[int(entry.name)] = found
    # Everything the machine did, to tell how much went to processes outside the benchmark.
    cpu_line = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    ticks = [int(x) for x in cpu_line]
    totals: dict[str, float] = {"machine": sum(ticks[:3]) / CLOCK_TICKS,  # user, nice, system
                                "irq": sum(ticks[5:8]) / CLOCK_TICKS}  # irq, softirq, steal
    for pid, seconds in stats.items():
        role, up = None, pid
        while up in parent and role is None:
            role = roles.get(up)
            up = parent[up] if up != parent[up] else None
        if role is not None:
            totals[role] = totals.get(role, 0.0) + seconds
    return totals


def cpu_used(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """CPU seconds per role between two snapshots, plus "irq" (interrupts and softirqs, mostly
    loopback networking) and "others": processes outside the benchmark's (other users)."""
    used = {role: after.get(role, 0.0) - before.get(role, 0.0) for role in after}
    machine = used.pop("machine", 0.0)
    used["others"] = max(0.0, machine - sum(v for k, v in used.items() if k != "irq"))
    return used
