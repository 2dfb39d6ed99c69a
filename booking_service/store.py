"""Database plumbing: the schema migrations (on aglais_common.db's engine set-up), the pool
write lock, and the per-pool in-memory timelines kept exact against the
database's pool version."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Callable

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from aglais_common import db
from aglais_common.db import make_engine  # noqa: F401 (the service's engine: tests and benchmarks use it)

from . import orm
from .domain import LATEST, epoch
from .engine import Timeline

MIGRATIONS = Path(__file__).parent / "migrations"
# An arbitrary constant: the key of the PostgreSQL advisory lock that keeps two
# service processes starting at once from running the migrations together.
MIGRATION_LOCK_KEY = 0x61676C61


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    await db.upgrade(engine, MIGRATIONS, lock_key=MIGRATION_LOCK_KEY, revision=revision)


async def downgrade(engine: AsyncEngine, revision: str) -> None:
    await db.downgrade(engine, MIGRATIONS, revision)


async def lock_pool(conn: AsyncConnection, pool_name: str) -> orm.Pool | None:
    """Take the pool's write lock for this transaction and bump its version.

    The bump is the transaction's first write: on PostgreSQL it takes the pool row's
    lock (other writers wait for our commit), on SQLite the database write lock
    (busy timeout). Either way writers to one pool are serialised by the database,
    across any number of service processes. Returns the pool with its new version.
    """
    row = (
        await conn.execute(
            update(orm.Pool)
            .where(orm.Pool.name == pool_name)
            .values(version=orm.Pool.version + 1)
            .returning(orm.Pool.id, orm.Pool.name, orm.Pool.kind, orm.Pool.version)
        )
    ).first()
    return row


# the bookings' states that take capacity (domain.state_of)
HOLDING = ("booked", "offered")
# "Until stopped", for a running walk-in session: the latest time the service accepts.
FOREVER = LATEST


@dataclass(frozen=True)
class Source:
    """One table whose rows add to or take from a pool's free resources: the one place
    that says how a row counts, read both by a fresh load and by a writer's own change."""

    kind: str
    table: type
    columns: tuple  # what `interval` reads (id first)
    interval: Callable  # row -> (start, end, millicores, mib), or (None, None, 0, 0) when it holds nothing

    @property
    def query(self):
        return select(*self.columns)


SOURCES = [
    Source("grant", orm.CapacityGrant,
           (orm.CapacityGrant.id, orm.CapacityGrant.start, orm.CapacityGrant.end,
            orm.CapacityGrant.millicores, orm.CapacityGrant.mib),
           lambda r: (r.start, r.end, r.millicores, r.mib)),
    Source("booking", orm.Booking,
           (orm.Booking.id, orm.Booking.start, orm.Booking.end, orm.Booking.millicores,
            orm.Booking.mib, orm.Booking.state),
           # held offers count as bookings do until they expire, are rejected or accepted
           lambda r: (r.start, r.end, -r.millicores, -r.mib) if r.state in HOLDING else (None, None, 0, 0)),
    # a session under a booking holds what the booking holds already: only walk-ins count
    Source("session", orm.Session,
           (orm.Session.id, orm.Session.started, orm.Session.stopped, orm.Session.millicores,
            orm.Session.mib, orm.Session.booking_id),
           lambda r: (None, None, 0, 0) if r.booking_id is not None
           else (r.started, r.stopped or FOREVER, -r.millicores, -r.mib)),
    # an offered queue slot is kept for its user until the hold ends
    Source("hold", orm.QueueEntry,
           (orm.QueueEntry.id, orm.QueueEntry.offered, orm.QueueEntry.hold_until, orm.QueueEntry.millicores,
            orm.QueueEntry.mib, orm.QueueEntry.state),
           lambda r: (r.offered, r.hold_until, -r.millicores, -r.mib) if r.state == "offered"
           else (None, None, 0, 0)),
]
SOURCE_OF = {source.table: source for source in SOURCES}


class TimelineCache:
    """Each pool's timeline of free resources, in memory, exact at a known pool version.

    A reader brings it up to date by reading only what changed since the version it
    holds (rows carry the version that last changed them), so a query costs one small
    round trip when nothing changed, however many bookings the pool has.
    """

    def __init__(self):
        self._timelines: dict[int, tuple[int, Timeline]] = {}
        self._loading: dict[int, asyncio.Lock] = {}

    def forget(self, pool_id: int) -> None:
        self._timelines.pop(pool_id, None)

    async def current(self, conn: AsyncConnection, pool_id: int, version: int) -> Timeline:
        """The pool's timeline at `version`, which the caller has read in this transaction
        (or holds the lock at); rows changed at versions up to it are committed and visible."""
        held = self._timelines.get(pool_id)
        if held is None:
            lock = self._loading.setdefault(pool_id, asyncio.Lock())
            async with lock:  # one full load per process, not one per waiting request
                held = self._timelines.get(pool_id)
                if held is None:
                    timeline = await self._load(conn, pool_id, 0, version, Timeline())
                    held = self._timelines[pool_id] = (version, timeline)
        held_version, timeline = held
        if held_version < version:
            timeline = await self._load(conn, pool_id, held_version, version, None)
        return timeline

    async def _load(self, conn, pool_id, since, upto, fresh: Timeline | None) -> Timeline:
        changes = []
        for source in SOURCES:
            rows = (await conn.execute(source.query.where(
                source.table.pool_id == pool_id,
                source.table.changed_version > since,
                source.table.changed_version <= upto,
            ))).all()
            changes += [((source.kind, row.id), *source.interval(row)) for row in rows]
        if fresh is not None:
            return Timeline.build(
                (key, epoch(s), epoch(e), c, m)
                for key, s, e, c, m in changes
                if s is not None
            )
        # Apply without awaiting in between, so no other task sees a half-applied
        # timeline; if another task moved it on meanwhile, start again from its version.
        held_version, timeline = self._timelines[pool_id]
        if held_version != since:
            return await self.current(conn, pool_id, upto)
        for key, s, e, c, m in changes:
            if s is None:
                timeline.remove(key)
            else:
                timeline.set(key, epoch(s), epoch(e), c, m)
        self._timelines[pool_id] = (upto, timeline)
        return timeline

    def apply(self, pool_id: int, before: int, after: int, key, start, end, millicores, mib) -> None:
        """Record our own change (version `before` -> `after`) without re-reading it."""
        held = self._timelines.get(pool_id)
        if held is None or held[0] != before:
            return  # someone else's change came in between: the next read catches up
        timeline = held[1]
        if key is None:
            pass  # only the version moves
        elif start is None:
            timeline.remove(key)
        else:
            timeline.set(key, start, end, millicores, mib)
        self._timelines[pool_id] = (after, timeline)


@dataclass
class PoolChange:
    """A write transaction holding one pool's lock: its connection, the pool (None if there
    is no such pool) and the pool's timeline as of the lock.

    Rows of the SOURCES tables are written through `insert` and `update`, which stamp
    them with this version and put them into the cached timeline as SOURCES counts
    them, so the next writer finds the cache current and reads nothing."""

    conn: AsyncConnection
    pool: object
    timeline: Timeline | None
    cache: "TimelineCache"
    recorded: bool = False

    async def insert(self, table, **values):
        """Add a row of this pool; returns it (the columns its Source reads)."""
        source = SOURCE_OF[table]
        row = (await self.conn.execute(insert(table).values(
            pool_id=self.pool.id, changed_version=self.pool.version, **values).returning(*source.columns))).one()
        self._record(source, row)
        return row

    async def update(self, table, *where, **values) -> list:
        """Change this pool's rows that match `where`; returns them as changed."""
        source = SOURCE_OF[table]
        rows = (await self.conn.execute(update(table).where(table.pool_id == self.pool.id, *where).values(
            changed_version=self.pool.version, **values).returning(*source.columns))).all()
        for row in rows:
            self._record(source, row)
        return rows

    def unchanged(self) -> None:
        """Nothing was written: the cached timeline is as current at this version."""
        self._apply(None, None, None, 0, 0)

    def _record(self, source: Source, row) -> None:
        start, end, millicores, mib = source.interval(row)
        self._apply((source.kind, row.id), start, end, millicores, mib)

    def _apply(self, key, start: datetime | None, end: datetime | None, millicores: int, mib: int) -> None:
        # The first change moves the cached timeline to this transaction's version; later
        # ones add to it (start None: the entry goes).
        before = self.pool.version if self.recorded else self.pool.version - 1
        self.cache.apply(self.pool.id, before, self.pool.version, key,
                         None if start is None else epoch(start),
                         None if end is None else epoch(end), millicores, mib)
        self.recorded = True


@asynccontextmanager
async def locked_pools(engine: AsyncEngine, cache: "TimelineCache", pool_names):
    """One write transaction holding the locks of several pools: a PoolChange per existing
    pool, all on one connection. Locks are taken in name order, so two such transactions
    never wait for each other in a circle (single-pool writers hold one lock)."""
    changes = []
    try:
        async with engine.begin() as conn:
            for name in sorted(set(pool_names)):
                pool = await lock_pool(conn, name)
                timeline = None if pool is None else await cache.current(conn, pool.id, pool.version - 1)
                changes.append(PoolChange(conn, pool, timeline, cache))
            yield changes
    except BaseException:
        for change in changes:
            if change.recorded:
                cache.forget(change.pool.id)  # the change did not commit: reload from the database
        raise


@asynccontextmanager
async def locked_pool(engine: AsyncEngine, cache: "TimelineCache", pool_name: str):
    async with locked_pools(engine, cache, [pool_name]) as (change,):
        yield change
