"""Offer sets racing bookings and each other, on SQLite and on PostgreSQL with two service
processes: what the answers hold (accepted bookings plus held offers) never exceeds the
pool at any moment; racing accepts of one set give exactly one booking; and an offer that
expired frees its capacity at once, before any sweep (two processes' views on one
database, with a clock the test moves)."""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from booking_service.domain import BookingError, Caller
from booking_service.lifecycle import Lifecycle
from booking_service.operations import Context, pools
from booking_service.operations.bookings import create_booking, get_booking
from booking_service.operations.offers import create_offer_set, get_offer_set, update_offer
from booking_service.policy import LevelPolicy
from tests.booking_service.conftest import BookingAPI, day_start, iso
from tests.booking_service.test_queue_property import engine  # noqa: F401 (a fresh database on each)

H = timedelta(hours=1)


@pytest.fixture(params=[("booking",), ("booking-pg", "booking-pg2")], ids=["sqlite", "postgresql-2-processes"])
def services(request, hub):
    return [BookingAPI(hub, name) for name in request.param]


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def test_offer_sets_and_bookings_never_overcommit(services, admin):
    capacity = 3
    pool = await services[0].new_pool(admin, cores=capacity, memory_gib=100)
    package = await services[0].new_package(admin, cores=1, memory_gib=1)
    start = day_start(1)
    rng = random.Random(12)

    async def ask(i):
        service = services[i % len(services)]
        if i % 2:
            a = rng.randrange(0, 10)
            resp = await service.call("POST", "bookings", admin, {
                "pool": pool, "package": package, "user": f"racer-{i}",
                "start": iso(start + a * H), "end": iso(start + (a + rng.randrange(1, 4)) * H)})
            assert resp.status in (201, 409), resp.body
            return [resp.json()] if resp.status == 201 else []
        a = rng.randrange(0, 8)
        resp = await service.call("POST", "offersets", admin, {
            "what": {"package": package}, "pools": [pool], "duration": {"min": "PT1H", "max": "PT3H"},
            "when": {"start": [f"{iso(start + a * H)}/PT2H", f"{iso(start + (a + 4) * H)}/PT2H"]}})
        assert resp.status == 201, resp.body
        return resp.json()["offers"]

    # one booking first, so that one is sure to be admitted (in the race, offer sets can take
    # the whole pool before any booking comes, a 409 for every booking), then the race
    held = await ask(1)
    held += [h for answer in await asyncio.gather(*(ask(i) for i in range(2, 41))) for h in answer]
    assert any(h["phase"] == "OFFERED" for h in held) and any(h["phase"] == "ACCEPTED" for h in held)
    moments = sorted({parse(h[k]) for h in held for k in ("start", "end")})

    def in_use(t):
        return sum(h["resources"]["cores"] for h in held if parse(h["start"]) <= t < parse(h["end"]))

    assert max(in_use(t) for t in moments) <= capacity
    for service in services:  # every process sees the same holds
        view = await service.ok("GET", f"pools/{pool}/availability?start={iso(start)}&end={iso(start + 16 * H)}"
                                       "&grain=hour", admin)
        assert min(b["free_min"]["cores"] for b in view["blocks"]) >= 0


async def test_racing_accepts_of_one_set_make_exactly_one_booking(services, admin):
    pool = await services[0].new_pool(admin, cores=4, memory_gib=100)
    start = day_start(2)
    answer = await services[0].ok("POST", "offersets", admin, {
        "what": {"package": "small"}, "pools": [pool], "duration": {"min": "PT1H"},
        "when": {"start": [f"{iso(start + 3 * i * H)}/PT1H" for i in range(4)]}})
    assert len(answer["offers"]) == 4
    calls = [services[k % len(services)].call("POST", f"offersets/{answer['id']}/offers/{k % 4}", admin,
                                              {"phase": "ACCEPTED"}) for k in range(24)]
    answers = await asyncio.gather(*calls)
    statuses = sorted(r.status for r in answers)
    assert statuses == [200] + [409] * 23, statuses
    (won,) = [r.json() for r in answers if r.status == 200]
    for service in services:
        view = await service.ok("GET", f"offersets/{answer['id']}", admin)
        assert sorted(o["phase"] for o in view["offers"]) == ["ACCEPTED"] + ["REJECTED"] * 3
        assert [o["id"] for o in view["offers"] if o["phase"] == "ACCEPTED"] == [won["id"]]


# -- expiry, with a clock the test moves: two Contexts (two processes' caches) on one database

ADMIN = Caller(name="admin", kind="user", level=2, admin=True, can_read=True, can_write=True)
T0 = datetime(2030, 5, 6, 8, tzinfo=timezone.utc)


async def test_an_expired_offer_frees_its_capacity_at_once_and_cannot_be_accepted(engine):
    one, two = Context(engine=engine, policy=LevelPolicy()), Context(engine=engine, policy=LevelPolicy())
    pool = f"p-{uuid.uuid4().hex[:8]}"
    await pools.create_pool(one, {"name": pool, "kind": "reserved"}, T0)
    await pools.add_capacity(one, pool, {"start": "2030-05-01T00:00:00Z", "end": "2030-06-01T00:00:00Z",
                                         "cores": 1, "memory_gib": 4}, "admin", T0)
    nine = T0 + H
    request = {"what": {"resources": {"cores": {"min": 1}, "memory_gib": {"min": 1}}}, "pools": [pool],
               "when": {"start": [f"{iso(nine)}/PT1H"]}, "duration": {"min": "PT2H"}}
    offers = await create_offer_set(one, ADMIN, request, T0)
    assert offers["result"] == "YES"
    slot = {"pool": pool, "resources": {"cores": 1, "memory_gib": 1}, "start": iso(nine), "end": iso(nine + H)}
    with pytest.raises(BookingError) as held:  # the offer holds the only core
        await create_booking(two, ADMIN, slot, T0 + timedelta(minutes=4))
    assert held.value.status == 409

    later = T0 + timedelta(minutes=6)  # past the 5 minutes' hold; no sweep has run
    booking = await create_booking(two, ADMIN, slot, later)
    assert booking["phase"] == "ACCEPTED"
    offer = await get_booking(one, ADMIN, offers["offers"][0]["id"], later)
    assert offer["phase"] == "EXPIRED" and offer["transitions"][-1]["by"] == "lifecycle"
    with pytest.raises(BookingError) as expired:
        await update_offer(one, ADMIN, offers["id"], 0, {"phase": "ACCEPTED"}, later)
    assert expired.value.status == 409 and "expired" in expired.value.message

    # an offer nobody touches expires in the lifecycle loop's sweep
    second = await create_offer_set(one, ADMIN, {**request, "when": {"start": [f"{iso(nine + 5 * H)}/PT1H"]}}, later)
    loop = Lifecycle(one, interval=60, clock=lambda: later, holder="test")
    await loop.tick(later + timedelta(minutes=5))
    offer = await get_booking(one, ADMIN, second["offers"][0]["id"], later)
    assert (offer["phase"], offer["state"]) == ("EXPIRED", "cancelled")


async def test_accepting_an_expired_offer_is_a_409_and_the_expiry_sticks(engine):
    """The accept's own transaction rolls back with its 409; the expiry it found must not:
    the offer reads EXPIRED (with its transition) at once, not OFFERED until a sweep."""
    ctx = Context(engine=engine, policy=LevelPolicy())
    pool = f"p-{uuid.uuid4().hex[:8]}"
    await pools.create_pool(ctx, {"name": pool, "kind": "reserved"}, T0)
    await pools.add_capacity(ctx, pool, {"start": "2030-05-01T00:00:00Z", "end": "2030-06-01T00:00:00Z",
                                         "cores": 4, "memory_gib": 16}, "admin", T0)
    nine = T0 + H
    offers = await create_offer_set(ctx, ADMIN, {
        "what": {"resources": {"cores": {"min": 1}, "memory_gib": {"min": 1}}}, "pools": [pool],
        "when": {"start": [f"{iso(nine)}/PT1H", f"{iso(nine + 3 * H)}/PT1H"]}, "duration": {"min": "PT1H"}}, T0)
    assert [o["phase"] for o in offers["offers"]] == ["OFFERED", "OFFERED"]
    later = T0 + timedelta(minutes=6)
    for target in ("ACCEPTED", "REJECTED"):
        with pytest.raises(BookingError) as refused:
            await update_offer(ctx, ADMIN, offers["id"], 0, {"phase": target}, later)
        assert refused.value.status == 409 and "EXPIRED" in refused.value.message.upper()
    assert [o["phase"] for o in (await get_offer_set(ctx, ADMIN, offers["id"], later))["offers"]] == [
        "EXPIRED", "EXPIRED"]
    seen = await get_booking(ctx, ADMIN, offers["offers"][0]["id"], later)
    assert [(t["from"], t["to"], t["by"]) for t in seen["transitions"]] == [
        (None, "OFFERED", "admin"), ("OFFERED", "EXPIRED", "lifecycle")]
