"""Reclaiming bookings nobody started (BookingService.reclaim_unstarted_minutes), on SQLite
and PostgreSQL with a clock the test moves: a booking of a level with a reclaim time under
which no server started is CANCELLED that long after its start, with the cause in its
transitions, and its capacity is free at once; a used booking, an admin's and one of a
level without a reclaim time are kept."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

from booking_service.domain import Caller
from booking_service.lifecycle import Lifecycle
from booking_service.operations import Context, pools
from booking_service.operations.bookings import create_booking, get_booking
from booking_service.operations.reclaim import reclaim_cause
from booking_service.policy import LevelPolicy
from tests.booking_service.conftest import iso
from tests.booking_service.test_queue_property import StandInHub, engine  # noqa: F401

ADMIN = Caller(name="admin", kind="user", level=2, admin=True, can_read=True, can_write=True)
T0 = datetime(2030, 5, 6, 8, tzinfo=timezone.utc)
H = timedelta(hours=1)
M = timedelta(minutes=1)


class Hub(StandInHub):
    def __init__(self, users):
        super().__init__()
        self.users = users

    async def user(self, name):
        return self.users.get(name)


async def test_unstarted_bookings_are_reclaimed_by_level(engine):  # noqa: F811
    hub = Hub({"basic": {"name": "basic", "groups": ["level-1"]},
               "custom": {"name": "custom", "groups": ["level-n"]},
               "boss": {"name": "boss", "groups": ["level-1"], "admin": True},
               "unlisted": {"name": "unlisted", "groups": ["level-0"]}})
    ctx = Context(engine=engine, policy=LevelPolicy(), hub=hub, reclaim_unstarted={1: 30, 2: 90})
    pool = f"p-{uuid.uuid4().hex[:8]}"
    await pools.create_pool(ctx, {"name": pool, "kind": "reserved"}, T0)
    await pools.add_capacity(ctx, pool, {"start": "2030-05-01T00:00:00Z", "end": "2030-06-01T00:00:00Z",
                                         "cores": 4, "memory_gib": 4}, "admin", T0)
    start = T0 + H
    ids = {}
    for user in ("basic", "custom", "boss", "unlisted"):
        ids[user] = (await create_booking(ctx, ADMIN, {
            "pool": pool, "user": user, "resources": {"cores": 1, "memory_gib": 1},
            "start": iso(start), "end": iso(start + 4 * H)}, T0))["id"]
    loop = Lifecycle(ctx, interval=60, clock=lambda: T0, holder="t")

    async def phases():
        return {u: (await get_booking(ctx, ADMIN, i, T0))["phase"] for u, i in ids.items()}

    await loop.tick(start + 29 * M)
    assert set((await phases()).values()) == {"WAITING"}
    await loop.tick(start + 30 * M)
    assert await phases() == {"basic": "CANCELLED", "custom": "WAITING", "boss": "WAITING", "unlisted": "WAITING"}
    reclaimed = await get_booking(ctx, ADMIN, ids["basic"], T0)
    assert reclaimed["transitions"][-1] == {"from": "WAITING", "to": "CANCELLED", "at": iso(start + 30 * M),
                                            "cause": reclaim_cause(30), "by": "lifecycle"}
    assert reclaimed["state"] == "cancelled" and reclaimed["cancel_reason"] == reclaim_cause(30)
    # what it held is free at once: a fourth core over the same hours fits
    await create_booking(ctx, ADMIN, {"pool": pool, "user": "next", "resources": {"cores": 1, "memory_gib": 1},
                                      "start": iso(start + 31 * M), "end": iso(start + 2 * H)}, start + 31 * M)
    await loop.tick(start + 90 * M)
    assert await phases() == {"basic": "CANCELLED", "custom": "CANCELLED", "boss": "WAITING", "unlisted": "WAITING"}


async def test_a_used_booking_is_kept(engine):  # noqa: F811
    from booking_service.operations.packages import create_package
    from booking_service.operations.sessions import start_session

    hub = Hub({"basic": {"name": "basic", "groups": ["level-1"]}})
    ctx = Context(engine=engine, policy=LevelPolicy(), hub=hub, reclaim_unstarted={1: 10})
    pool = f"p-{uuid.uuid4().hex[:8]}"
    package = f"k-{uuid.uuid4().hex[:6]}"
    await create_package(ctx, {"name": package, "notebook_cores": 1, "notebook_memory_gib": 1}, T0)
    await pools.create_pool(ctx, {"name": pool, "kind": "reserved"}, T0)
    await pools.add_capacity(ctx, pool, {"start": "2030-05-01T00:00:00Z", "end": "2030-06-01T00:00:00Z",
                                         "cores": 4, "memory_gib": 4}, "admin", T0)
    booking = await create_booking(ctx, ADMIN, {"pool": pool, "user": "basic", "package": package,
                                                "start": iso(T0 + H), "end": iso(T0 + 3 * H)}, T0)
    spawner = Caller(name="spawner", kind="service", level=-1, admin=False, can_read=True, can_write=True,
                     sessions=True)
    status, _ = await start_session(ctx, spawner, "basic", {"booking": booking["id"]}, T0 + H + 5 * M)
    assert status in (200, 201)
    await Lifecycle(ctx, interval=60, clock=lambda: T0, holder="t").tick(T0 + 2 * H)
    assert (await get_booking(ctx, ADMIN, booking["id"], T0))["phase"] == "RUNNING"
