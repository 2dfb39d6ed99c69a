"""G. The lifecycle round (booking_service.lifecycle.Lifecycle.tick) over a pool of 100k
bookings, on SQLite and PostgreSQL, with the bookings' (phase, start) and (phase, end)
indexes (migration 0006) and without them (dropped in a copy of the same database).

Rounds run at moments 5 minutes apart from `NOW`: a round with due events (bookings that
start, are reclaimed, get notices) then an idle round at the same moment (all done
already), on both copies in turn. Before the figures count, the copies must agree with
each other and with a pure Python reference (each booking's phase, the notices made).
"""

from __future__ import annotations

import shutil
import time
from datetime import datetime, timedelta

import numpy as np
import psycopg
from sqlalchemy import func, insert, select, text

from booking_service import orm, store
from booking_service.domain import ACCEPTED, CANCELLED, COMPLETED, WAITING
from booking_service.lifecycle import Lifecycle
from booking_service.operations import Context, notices
from booking_service.policy import LevelPolicy

from .common import UTC, LatencyRow, epoch, prepare_database

SEED = 12
NOW = datetime(2027, 3, 1, tzinfo=UTC)  # the first round; the bookings span 30 days either side
STEP = timedelta(minutes=5)
RECLAIM_MINUTES = 30
INDEXES = ("ix_bookings_phase_start", "ix_bookings_phase_end")


class StandInHub:
    """What the loop asks the hub, answered at once: every user is a level-1 non-admin,
    no server runs (so every booking nobody starts is reclaimed)."""

    async def user(self, name):
        return {"name": name, "admin": False, "groups": []}

    async def running_servers(self):
        return set()

    async def stop_server(self, user, server_name):
        return None


def generate_bookings(size: int) -> list[tuple[int, int]]:
    """(start, end) in epoch seconds: 1 to 8 hours long, starting uniformly over the 30 days
    either side of NOW (about 70 starts an hour with 100k)."""
    rng = np.random.default_rng(SEED + size)
    minutes = rng.integers(60, 8 * 60, size=size, endpoint=True)
    start = epoch(NOW) + rng.integers(-30 * 24 * 60, 30 * 24 * 60, size=size) * 60
    return list(zip(start.tolist(), (start + minutes * 60).tolist()))


def phase_at_load(start: int, end: int) -> str:
    now = epoch(NOW)
    return COMPLETED if end <= now else WAITING if start <= now else ACCEPTED


def reference(bookings, rounds: int) -> tuple[dict[int, str], int]:
    """Each booking's phase after the rounds at NOW, NOW + STEP, ... (the warm-up included),
    and how many 'starting' notices were made, by the rules written out plainly."""
    times = [epoch(NOW) + i * int(STEP.total_seconds()) for i in range(rounds)]
    last = times[-1]
    phases, starting = {}, 0
    for i, (start, end) in enumerate(bookings, start=1):
        phase = phase_at_load(start, end)
        if phase != COMPLETED:
            reclaimed = any(start + RECLAIM_MINUTES * 60 <= t < end for t in times)
            phase = CANCELLED if reclaimed else WAITING if start <= last else ACCEPTED
        phases[i] = phase
        # told within the hour before its start, at a round before it starts
        starting += any(start - 3600 <= t < start for t in times)
    return phases, starting


def load_postgres(libpq_url: str, bookings) -> None:
    naive = lambda seconds: datetime.fromtimestamp(seconds, UTC).replace(tzinfo=None)  # noqa: E731
    created = naive(epoch(NOW) - 60 * 86400)
    with psycopg.connect(libpq_url) as conn:
        pool_id = conn.execute(
            "INSERT INTO pools (name, description, kind, version, created) VALUES ('life', 'benchmark', "
            "'reserved', %s, %s) RETURNING id", (len(bookings) + 1, created)).fetchone()[0]
        conn.execute('INSERT INTO capacity_grants (pool_id, start, "end", millicores, mib, created, created_by, '
                     "changed_version) VALUES (%s, %s, %s, 10000000, 10000000, %s, 'benchmark', 1)",
                     (pool_id, created, naive(epoch(NOW) + 90 * 86400), created))
        with conn.cursor() as cur:
            with cur.copy('COPY bookings ("user", pool_id, start, "end", millicores, mib, state, phase, created, '
                          "created_by, changed_version) FROM STDIN") as copy:
                for i, (s, e) in enumerate(bookings):
                    copy.write_row((f"user-{i % 500}", pool_id, naive(s), naive(e), 1000, 2048, "booked",
                                    phase_at_load(s, e), created, "admin", i + 2))
        conn.execute("ANALYZE")


async def load_sqlite(url: str, bookings) -> None:
    naive = lambda seconds: datetime.fromtimestamp(seconds, UTC)  # noqa: E731
    created = naive(epoch(NOW) - 60 * 86400)
    engine = store.make_engine(url)
    try:
        async with engine.begin() as conn:
            pool_id = (await conn.execute(insert(orm.Pool).values(
                name="life", description="benchmark", kind="reserved", version=len(bookings) + 1,
                created=created).returning(orm.Pool.id))).scalar_one()
            await conn.execute(insert(orm.CapacityGrant.__table__).values(
                pool_id=pool_id, start=created, end=naive(epoch(NOW) + 90 * 86400), millicores=10_000_000,
                mib=10_000_000, created=created, created_by="benchmark", changed_version=1))
            await conn.execute(insert(orm.Booking.__table__), [
                dict(user=f"user-{i % 500}", pool_id=pool_id, start=naive(s), end=naive(e), millicores=1000,
                     mib=2048, state="booked", phase=phase_at_load(s, e), created=created, created_by="admin",
                     changed_version=i + 2) for i, (s, e) in enumerate(bookings)])
            await conn.execute(text("ANALYZE"))
    finally:
        await engine.dispose()


async def outcome(engine) -> tuple[dict[int, str], int, list[str]]:
    async with engine.connect() as conn:
        phases = dict((await conn.execute(select(orm.Booking.id, orm.Booking.phase))).all())
        starting = (await conn.execute(select(func.count()).select_from(orm.Notice)
                                       .where(orm.Notice.kind == "starting"))).scalar_one()
        keys = sorted((await conn.execute(select(orm.Notice.key))).scalars())
    return phases, starting, keys


async def run(cluster, workdir, size: int, reps: int, log) -> list[LatencyRow]:
    bookings = generate_bookings(size)
    # the databases: (label, SQLAlchemy URL) with the indexes and without
    t0 = time.perf_counter()
    prepared = {}
    name = cluster.create_database("life_idx")
    await prepare_database(cluster.url(name))
    load_postgres(cluster.url(name, driver="postgresql"), bookings)
    with psycopg.connect(cluster.url(driver="postgresql"), autocommit=True) as conn:
        conn.execute("CREATE DATABASE life_bare TEMPLATE life_idx")
    prepared["PostgreSQL"] = (cluster.url("life_idx"), cluster.url("life_bare"))
    lite = workdir / "life_idx.sqlite"
    await prepare_database(f"sqlite+aiosqlite:///{lite}")
    await load_sqlite(f"sqlite+aiosqlite:///{lite}", bookings)
    shutil.copy(lite, workdir / "life_bare.sqlite")
    prepared["SQLite"] = (f"sqlite+aiosqlite:///{lite}", f"sqlite+aiosqlite:///{workdir / 'life_bare.sqlite'}")
    log(f"lifecycle: {size} bookings loaded into 4 databases in {time.perf_counter() - t0:.1f}s")

    rows = []
    expected_phases, expected_starting = reference(bookings, reps + 1)
    for db, (with_url, bare_url) in prepared.items():
        loops = {}
        for label, url in (("with 0006's indexes", with_url), ("without them", bare_url)):
            engine = store.make_engine(url)
            if label == "without them":
                async with engine.begin() as conn:
                    for index in INDEXES:
                        await conn.execute(text(f"DROP INDEX {index}"))
            ctx = Context(engine=engine, policy=LevelPolicy(), hub=StandInHub(), mail_notices=False,
                          reclaim_unstarted={1: RECLAIM_MINUTES})
            loops[label] = Lifecycle(ctx, interval=60, clock=lambda: NOW, holder="bench")
        kinds = ("due round", "idle round", "notices.emit_due, idle")
        samples = {(label, kind): [] for label in loops for kind in kinds}
        try:
            for label, loop in loops.items():  # warm-up: the catch-up at NOW, the timeline loaded
                await loop.tick(NOW)
            for i in range(1, reps + 1):
                moment = NOW + i * STEP
                # interleaved, so that load from elsewhere spoils both copies alike
                for label, loop in loops.items():
                    ctx = loop.ctx
                    leads = notices.Leads(ctx.notify_before_start, ctx.notify_before_end,
                                          ctx.notify_before_offer_expiry)
                    for kind in kinds:
                        t1 = time.perf_counter()
                        if kind.endswith("round"):
                            await loop.tick(moment)
                        else:  # the notices' part of the round alone, as measured by hand
                            await notices.emit_due(ctx, leads, moment)
                        samples[label, kind].append((time.perf_counter() - t1) * 1000)
            seen = {}
            for label, loop in loops.items():
                seen[label] = await outcome(loop.ctx.engine)
                phases, starting, _ = seen[label]
                wrong = [i for i, phase in expected_phases.items() if phases.get(i) != phase]
                assert not wrong, f"{db} {label}: {len(wrong)} bookings in the wrong phase, e.g. " \
                    f"#{wrong[0]} {phases.get(wrong[0])} (expected {expected_phases[wrong[0]]})"
                assert starting == expected_starting, (db, label, starting, expected_starting)
            assert seen["with 0006's indexes"] == seen["without them"], f"{db}: the copies differ"
        finally:
            for loop in loops.values():
                await loop.ctx.engine.dispose()
        for kind in kinds:
            base = statistics_median(samples["without them", kind])
            for label in loops:
                rows.append(LatencyRow(f"{db}, {label}", size, kind, samples[label, kind], base))
        log(f"lifecycle {db}: due round {statistics_median(samples[list(loops)[0], 'due round']):.1f} ms with the "
            f"indexes, {statistics_median(samples['without them', 'due round']):.1f} ms without; {expected_starting} starting notices as expected")
    return rows


def statistics_median(samples: list[float]) -> float:
    return float(np.median(samples))
