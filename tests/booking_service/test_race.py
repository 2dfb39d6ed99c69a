"""Many clients booking the last units of capacity at once: the database decides, and no
pool is ever overbooked, on SQLite and on PostgreSQL with two service processes."""

from __future__ import annotations

import asyncio
import random
from datetime import timedelta

import pytest

from tests.booking_service.conftest import BookingAPI, day_start, iso

RACERS = 48


@pytest.fixture(params=[("booking",), ("booking-pg", "booking-pg2")], ids=["sqlite", "postgresql-2-processes"])
def services(request, hub):
    return [BookingAPI(hub, name) for name in request.param]


async def test_exactly_the_free_units_are_sold(services, admin):
    first = services[0]
    pool = await first.new_pool(admin, cores=5, memory_gib=100)
    package = await first.new_package(admin, cores=1, memory_gib=2)
    start = day_start(1)
    slot = {"pool": pool, "package": package, "start": iso(start), "end": iso(start + timedelta(hours=2))}
    answers = await asyncio.gather(*(
        services[i % len(services)].call("POST", "bookings", admin, {**slot, "user": f"racer-{i}"})
        for i in range(RACERS)
    ))
    statuses = sorted(a.status for a in answers)
    assert statuses.count(201) == 5, statuses
    assert statuses.count(409) == RACERS - 5, statuses
    for service in services:  # every process sees the same, exact state
        view = await service.ok("GET", f"pools/{pool}/availability?start={iso(start)}&end={iso(start + timedelta(hours=2))}&grain=hour", admin)
        assert [b["free_max"]["cores"] for b in view["blocks"]] == [0.0, 0.0]


async def test_overlapping_windows_never_overbook(services, admin):
    """Random overlapping windows: every accepted set fits at every moment, and every refused
    request really did not fit (bookings only add up, so it cannot fit the final set either)."""
    first = services[0]
    capacity = 3
    pool = await first.new_pool(admin, cores=capacity, memory_gib=100)
    package = await first.new_package(admin, cores=1, memory_gib=1)
    start = day_start(1)
    rng = random.Random(7)
    windows = []
    for _ in range(RACERS):
        a = rng.randrange(0, 20)
        windows.append((a, a + rng.randrange(1, 6)))  # hours

    async def book(i, window):
        service = services[i % len(services)]
        resp = await service.call("POST", "bookings", admin, {
            "pool": pool, "package": package, "user": f"racer-{i}",
            "start": iso(start + timedelta(hours=window[0])), "end": iso(start + timedelta(hours=window[1])),
        })
        assert resp.status in (201, 409), resp.body
        return resp.status == 201

    accepted = await asyncio.gather(*(book(i, w) for i, w in enumerate(windows)))
    taken = [w for w, ok in zip(windows, accepted) if ok]
    refused = [w for w, ok in zip(windows, accepted) if not ok]
    assert taken and refused

    def in_use(hour):
        return sum(1 for a, b in taken if a <= hour < b)

    assert max(in_use(h) for h in range(30)) <= capacity
    for a, b in refused:
        assert max(in_use(h) for h in range(a, b)) == capacity
    view = await first.ok("GET", f"pools/{pool}/availability?start={iso(start)}&end={iso(start + timedelta(hours=30))}&grain=hour", admin)
    assert [capacity - b["free_min"]["cores"] for b in view["blocks"]] == [in_use(h) for h in range(30)]
