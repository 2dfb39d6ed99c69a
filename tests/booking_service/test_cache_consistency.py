"""Two service processes' in-memory timelines stay exact: random bookings, cancellations,
end moves and capacity grants through either of two independent caches on one database
always answer what a fresh read of the database answers."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from booking_service import store
from booking_service.domain import BookingError, Caller, epoch
from booking_service.operations import Context, bookings, find_pool, pools
from booking_service.operations.packages import create_package
from booking_service.policy import LevelPolicy
from booking_service.store import TimelineCache

NOW = datetime(2030, 1, 7, tzinfo=timezone.utc)
ADMIN = Caller(name="admin", kind="user", level=2, admin=True, can_read=True, can_write=True)


def at(hours: int) -> str:
    return (NOW + timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")


operations = st.lists(
    st.one_of(
        st.tuples(st.just("book"), st.integers(0, 1), st.integers(0, 40), st.integers(1, 12), st.integers(1, 3)),
        st.tuples(st.just("cancel"), st.integers(0, 1), st.integers(0, 30)),
        st.tuples(st.just("move"), st.integers(0, 1), st.integers(0, 30), st.integers(1, 20)),
        st.tuples(st.just("grant"), st.integers(0, 1), st.integers(0, 40), st.integers(1, 12), st.integers(1, 3)),
    ),
    min_size=1, max_size=25,
)


@pytest.fixture(params=["sqlite", "postgresql"])
async def database(request, tmp_path_factory, postgres_cluster):
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('cache')}/booking.sqlite"
    else:
        url = postgres_cluster.url(postgres_cluster.create_database())
    engine = store.make_engine(url)
    await store.upgrade(engine)
    yield engine
    await engine.dispose()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=operations)
async def test_two_caches_agree_with_the_database(database, ops):
    processes = [Context(engine=database, policy=LevelPolicy(), cache=TimelineCache()) for _ in range(2)]
    ctx = processes[0]
    pool = f"p{abs(hash(tuple(ops))) % 10**12}"
    await pools.create_pool(ctx, {"name": pool, "kind": "reserved"}, NOW)
    await pools.add_capacity(ctx, pool, {"start": at(0), "end": at(48), "cores": 4, "memory_gib": 4}, "admin", NOW)
    package = f"unit-{pool}"
    await create_package(ctx, {"name": package, "notebook_cores": 1, "notebook_memory_gib": 1}, NOW)
    made = []
    for op in ops:
        kind, who = op[0], processes[op[1]]
        try:
            if kind == "book":
                _, _, start, length, units = op
                booking = await bookings.create_booking(who, ADMIN, {
                    "pool": pool, "resources": {"cores": units, "memory_gib": units},
                    "start": at(start), "end": at(start + length)}, NOW)
                made.append(booking["id"])
            elif kind == "grant":
                _, _, start, length, units = op
                await pools.add_capacity(who, pool, {"start": at(start), "end": at(start + length),
                                                     "cores": units, "memory_gib": units}, "admin", NOW)
            elif made:
                target = made[op[2] % len(made)]
                if kind == "cancel":
                    await bookings.cancel_booking(who, ADMIN, target, NOW)
                else:
                    await bookings.move_end(who, ADMIN, target, {"end": at(op[3])}, NOW)
        except BookingError:
            pass  # refusals are part of the story; they must change nothing
        truth = await fresh_timeline(database, pool)
        for process in processes:
            async with database.connect() as conn:
                row = await find_pool(conn, pool)
                cached = await process.cache.current(conn, row.id, row.version)
            for hour in range(0, 50):
                moment = epoch(NOW) + hour * 3600
                assert cached.min_free(moment, moment + 3600) == truth.min_free(moment, moment + 3600)
        assert min(truth.min_free(epoch(NOW) + h * 3600, epoch(NOW) + (h + 1) * 3600).millicores
                   for h in range(48)) >= 0, "overbooked"


async def fresh_timeline(engine, pool_name):
    """What a brand-new process would load."""
    async with engine.connect() as conn:
        row = await find_pool(conn, pool_name)
        return await TimelineCache().current(conn, row.id, row.version)


def test_rows_that_feed_a_timeline_are_written_only_through_the_pool_change():
    """Each rule of how a row counts is stated once, in store.SOURCES: no operation writes a
    SOURCES table (or records into the cached timeline) by hand."""
    import re
    from pathlib import Path

    package = Path(store.__file__).parent
    tables = "|".join(source.table.__name__ for source in store.SOURCES)
    by_hand = re.compile(rf"\b(insert|update|delete)\(orm\.({tables})\)|\.record\(")
    for path in [*package.glob("operations/*.py"), package / "lifecycle.py", package / "app.py"]:
        found = by_hand.findall(path.read_text())
        if path.name == "app.py":  # seeding writes a fresh pool's first grant before any cache exists
            found = [f for f in found if f != ("insert", "CapacityGrant")]
        assert not found, f"{path.name} writes {found} by hand; use PoolChange.insert/update"
