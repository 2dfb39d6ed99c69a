"""Notices (operations.notices) on SQLite and PostgreSQL, with a clock the test moves: the
lifecycle loop makes each time-based notice exactly once at its lead time, even when two
processes make them at once; moves a user cares about (FAILED, cancelled by an admin,
released by the lifecycle) make one, their own cancellation none; a freed walk-in place
makes one; mail is tried again after a failure and given up after MAIL_TRIES; forgetting a
user keeps theirs as history, unmailed; over random rounds of the loop (hypothesis, against
a slow obvious reference) each lead-time notice comes once iff a round fell in its lead; and
the API lists them unread first, marks them read, and keeps each user to their own."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from booking_service.domain import EXPIRED, FAILED, Caller
from booking_service.lifecycle import SYSTEM, Lifecycle
from booking_service.operations import Context, notices, pools
from booking_service.operations.bookings import cancel_booking, create_booking
from booking_service.operations.offers import create_offer_set
from booking_service.operations.packages import create_package
from booking_service.operations.phases import move
from booking_service.operations.sessions import start_session, stop_session
from booking_service.policy import LevelPolicy
from booking_service.store import locked_pool
from tests.booking_service.conftest import iso
from tests.booking_service.test_queue_property import StandInHub, engine  # noqa: F401 (a fresh database on each)

T0 = datetime(2030, 7, 1, 8, tzinfo=timezone.utc)
M = timedelta(minutes=1)
ADMIN = Caller(name="admin", kind="user", level=2, admin=True, can_read=True, can_write=True)


def person(name: str) -> Caller:
    return Caller(name=name, kind="user", level=2, admin=False, can_read=True, can_write=True)


async def new_pool(ctx, kind="reserved", cores=4) -> str:
    name = f"p-{uuid.uuid4().hex[:8]}"
    await pools.create_pool(ctx, {"name": name, "kind": kind}, T0)
    await pools.add_capacity(ctx, name, {"start": "2030-06-01T00:00:00Z", "end": "2030-09-01T00:00:00Z",
                                         "cores": cores, "memory_gib": 16}, "admin", T0)
    return name


async def kinds(ctx, user: str) -> list[str]:
    return sorted(n["kind"] for n in (await notices.list_notices(ctx, ADMIN, user, T0))["notices"])


async def test_time_based_notices_come_once_at_their_lead_times(engine):
    ctx = Context(engine=engine, policy=LevelPolicy(), notify_before_start=60 * M, notify_before_end=15 * M,
                  notify_before_offer_expiry=2 * M)
    pool = await new_pool(ctx)
    alice = f"alice-{uuid.uuid4().hex[:6]}"
    start = T0 + 3 * 60 * M
    booking = await create_booking(ctx, ADMIN, {"pool": pool, "user": alice, "resources": {"cores": 1, "memory_gib": 1},
                                                "start": iso(start), "end": iso(start + 60 * M)}, T0)
    loop = Lifecycle(ctx, interval=60, clock=lambda: T0, holder="test")

    await loop.tick(start - 61 * M)
    assert await kinds(ctx, alice) == []
    for minutes in (60, 59, 30, 1):  # every round inside the lead time: still one
        await loop.tick(start - minutes * M)
    listed = (await notices.list_notices(ctx, ADMIN, alice, T0))["notices"]
    assert [n["kind"] for n in listed] == ["starting"]
    assert listed[0]["booking_id"] == booking["id"] and "starts in 60 minutes" in listed[0]["text"]
    assert listed[0]["mail"] == "off"  # no hub to mail through

    # a booking alice makes herself, already inside its lead time: she knows; none
    own = await create_booking(ctx, person(alice), {"pool": pool, "resources": {"cores": 1, "memory_gib": 1},
                                                     "start": iso(start + 10 * M), "end": iso(start + 20 * M)},
                               start - M)
    await loop.tick(start - M)
    assert [n["booking_id"] for n in (await notices.list_notices(ctx, ADMIN, alice, T0))["notices"]] == [booking["id"]]
    await cancel_booking(ctx, person(alice), own["id"], start - M)

    await loop.tick(start + 44 * M)
    assert await kinds(ctx, alice) == ["starting"]
    await loop.tick(start + 45 * M)
    await loop.tick(start + 50 * M)
    assert await kinds(ctx, alice) == ["ending", "starting"]

    # offers: one notice per set, 2 minutes before they expire (5 minutes' hold)
    later = start + 2 * 60 * M
    request = {"what": {"resources": {"cores": {"min": 1}, "memory_gib": {"min": 1}}}, "pools": [pool],
               "when": {"start": [f"{iso(later + 60 * M)}/PT1H"]}, "duration": {"min": "PT1H"}}
    offered = await create_offer_set(ctx, person(alice), request, later)
    assert offered["result"] == "YES"
    await loop.tick(later + 2 * M)
    assert "offer_expiring" not in await kinds(ctx, alice)
    await loop.tick(later + 3 * M)
    await loop.tick(later + 4 * M)
    assert (await kinds(ctx, alice)).count("offer_expiring") == 1


async def test_two_processes_at_once_make_one_notice(engine):
    one, two = (Context(engine=engine, policy=LevelPolicy()) for _ in range(2))
    pool = await new_pool(one)
    bob = f"bob-{uuid.uuid4().hex[:6]}"
    start = T0 + 30 * M
    for k in range(3):
        await create_booking(one, ADMIN, {"pool": pool, "user": bob, "resources": {"cores": 1, "memory_gib": 1},
                                          "start": iso(start + k * M), "end": iso(start + 60 * M)}, T0)
    leads = notices.Leads(before_start=60 * M)
    made = await asyncio.gather(*(notices.emit_due(ctx, leads, T0) for ctx in (one, two, one, two)))
    assert sum(made) == 3
    assert await kinds(one, bob) == ["starting"] * 3


async def test_moves_a_user_cares_about_make_a_notice(engine):
    ctx = Context(engine=engine, policy=LevelPolicy())
    pool = await new_pool(ctx)
    carol = f"carol-{uuid.uuid4().hex[:6]}"

    async def book(hours):
        return await create_booking(ctx, ADMIN, {
            "pool": pool, "user": carol, "resources": {"cores": 1, "memory_gib": 1},
            "start": iso(T0 + hours * 60 * M), "end": iso(T0 + (hours + 1) * 60 * M)}, T0)

    mine, theirs, failing, released = [await book(h) for h in (10, 12, 14, 16)]
    await cancel_booking(ctx, person(carol), mine["id"], T0)
    assert await kinds(ctx, carol) == []  # their own doing: nothing new to them
    await cancel_booking(ctx, ADMIN, theirs["id"], T0)
    for booking, target, cause, by in ((failing, FAILED, "the data set could not be staged", SYSTEM.name),
                                       (released, EXPIRED, "not started within 15 minutes of its start",
                                        SYSTEM.name)):
        async with locked_pool(ctx.engine, ctx.cache, pool) as change:
            row = type("Row", (), {"id": booking["id"], "phase": booking["phase"]})
            try:
                await move(change, row, target, now=T0, cause=cause, by=by)
            except Exception as e:  # EXPIRED from ACCEPTED needs the reclaim topic's move
                assert target == EXPIRED and getattr(e, "status", None) == 409
                await move(change, row, "CANCELLED", now=T0, cause=cause, by=by)
    listed = {n["kind"]: n for n in (await notices.list_notices(ctx, ADMIN, carol, T0))["notices"]}
    assert sorted(listed) == ["cancelled", "failed", "reclaimed"]
    assert "cancelled by admin" in listed["cancelled"]["text"]
    assert "could not be staged" in listed["failed"]["text"]
    assert "not started within" in listed["reclaimed"]["text"]


async def test_a_freed_walk_in_place_makes_a_notice(engine):
    run = uuid.uuid4().hex[:8]
    walk_in = f"walk-{run}"
    ctx = Context(engine=engine, policy=LevelPolicy(levels={1: {"name": "basic", "walk_in": walk_in}}),
                  walk_in_pool=None, hub=StandInHub())
    pool = await new_pool(ctx, kind="shared", cores=1)
    ctx.walk_in_pool = pool
    await create_package(ctx, {"name": walk_in, "notebook_cores": 1, "notebook_memory_gib": 1}, T0)
    first, second = f"first-{run}", f"second-{run}"
    ctx.hub.groups = {first: ["level-1"], second: ["level-1"]}
    _, session = await start_session(ctx, SYSTEM, first, {}, T0)
    with pytest.raises(Exception):
        await start_session(ctx, SYSTEM, second, {}, T0)  # queued
    assert await kinds(ctx, second) == []
    await stop_session(ctx, SYSTEM, session["id"], T0 + M)
    (notice,) = (await notices.list_notices(ctx, ADMIN, second, T0))["notices"]
    assert notice["kind"] == "queue_place" and "until 2030-07-01T08:06:00Z" in notice["text"]


async def test_mail_is_tried_again_and_given_up(engine):
    ctx = Context(engine=engine, policy=LevelPolicy())
    dave, erin = f"dave-{uuid.uuid4().hex[:6]}", f"erin-{uuid.uuid4().hex[:6]}"
    async with engine.begin() as conn:
        for user in (dave, erin):
            await notices.add(conn, user=user, kind="starting", key=f"test:{user}", text="soon", now=T0)
    calls = []

    async def send(user, subject, text):
        calls.append(user)
        if user == dave and calls.count(dave) < 3:
            raise OSError("the hub is restarting")
        if user == erin:
            raise OSError("never")
        return "sent"

    async with engine.begin() as conn:  # a cause from elsewhere: one line, bounded
        await notices.add(conn, user=erin, kind="failed", key=f"test:{erin}:long", now=T0,
                          text="step said:\r\nBcc: x@example.org\x00" + "y" * 5000)
    (long,) = [n for n in (await notices.list_notices(ctx, ADMIN, erin, T0))["notices"] if n["kind"] == "failed"]
    assert long["text"].startswith("step said: Bcc: x@example.org y") and len(long["text"]) == notices.MAX_TEXT
    async with engine.begin() as conn:
        await conn.execute(notices.update(notices.orm.Notice).where(notices.orm.Notice.id == long["id"])
                           .values(mail_state="off"))
    for _ in range(notices.MAIL_TRIES + 2):
        await notices.mail_pending(ctx, send, T0 + M)
    states = {u: [n["mail"] for n in (await notices.list_notices(ctx, ADMIN, u, T0))["notices"]
                  if n["kind"] == "starting"][0] for u in (dave, erin)}
    assert states == {dave: "sent", erin: "failed"}
    assert calls.count(dave) == 3 and calls.count(erin) == notices.MAIL_TRIES


# -- the API, over HTTP through the hub, on both databases


async def test_notices_api(api, admin, hub):
    pool = await api.new_pool(admin)
    user = await hub.new_user(groups=["level-2"])
    other = await hub.new_user(groups=["level-2"])
    soon = datetime.now(timezone.utc).replace(microsecond=0) + 20 * M
    booking = await api.ok("POST", "bookings", admin, {"pool": pool, "user": user.name, "resources": {
        "cores": 1, "memory_gib": 1}, "start": iso(soon), "end": iso(soon + 60 * M)})
    await api.ok("DELETE", f"bookings/{booking['id']}", admin)
    listed = await api.ok("GET", f"users/{user.name}/notices", user)
    assert listed["unread"] == 1
    (notice,) = [n for n in listed["notices"] if n["kind"] == "cancelled"]
    assert notice["booking_id"] == booking["id"] and notice["read"] is None

    for who, path in ((other, f"users/{user.name}/notices"), (other, f"users/{user.name}/notices/{notice['id']}")):
        resp = await api.call("GET" if path.endswith("notices") else "POST", path, who, {"read": True})
        assert resp.status == 403 and resp.json()["message"], resp.body
    resp = await api.call("POST", f"users/{other.name}/notices/{notice['id']}", other, {"read": True})
    assert resp.status == 404 and "no notice" in resp.json()["message"]
    for body in ({}, {"read": "yes"}, {"read": True, "extra": 1}):
        resp = await api.call("POST", f"users/{user.name}/notices/{notice['id']}", user, body)
        assert resp.status == 400, (body, resp.body)
    resp = await api.call("POST", f"users/{user.name}/notices/99999999999", user, {"read": True})
    assert resp.status == 404

    marked = await api.ok("POST", f"users/{user.name}/notices/{notice['id']}", user, {"read": True}, status=200)
    assert marked["read"] is not None
    again = await api.ok("POST", f"users/{user.name}/notices/{notice['id']}", user, {"read": True}, status=200)
    assert again["read"] == marked["read"]  # the first reading stays
    listed = await api.ok("GET", f"users/{user.name}/notices", user)
    assert listed["unread"] == 0
    assert (await api.ok("GET", f"users/{user.name}/notices", admin))["notices"][0]["id"] == notice["id"]


async def test_forgetting_a_user_keeps_their_notices_as_history_and_mails_nothing(engine):
    from booking_service.operations.forget import forget_user

    ctx = Context(engine=engine, policy=LevelPolicy())
    pool = await new_pool(ctx)
    fay = f"fay-{uuid.uuid4().hex[:6]}"
    made = await create_booking(ctx, ADMIN, {"pool": pool, "user": fay, "resources": {"cores": 1, "memory_gib": 1},
                                             "start": iso(T0 + 60 * M), "end": iso(T0 + 120 * M)}, T0)
    await cancel_booking(ctx, ADMIN, made["id"], T0)
    await create_booking(ctx, ADMIN, {"pool": pool, "user": fay, "resources": {"cores": 1, "memory_gib": 1},
                                      "start": iso(T0 + 180 * M), "end": iso(T0 + 240 * M)}, T0)
    forgotten = await forget_user(ctx, ADMIN, fay, "account deleted", T0)
    assert forgotten["bookings_cancelled"] == 1
    assert await kinds(ctx, fay) == []  # whoever gets the name next hears nothing of theirs
    kept = (await notices.list_notices(ctx, ADMIN, forgotten["kept_as"], T0))["notices"]
    assert [(n["kind"], n["mail"]) for n in kept] == [("cancelled", "off")]  # and the forgetting told nobody


# -- a property: over random rounds of the loop, each lead-time notice comes exactly once,
# -- if and only if some round fell inside its lead time (the slow obvious reference)

@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(start=st.integers(1, 180), length=st.integers(1, 120), lead_start=st.integers(1, 90),
       lead_end=st.integers(1, 90), rounds=st.lists(st.integers(0, 400), min_size=1, max_size=12))
async def test_lead_time_notices_come_once_iff_a_round_fell_in_their_lead(engine, start, length, lead_start,
                                                                          lead_end, rounds):
    ctx = Context(engine=engine, policy=LevelPolicy())
    pool = await new_pool(ctx)  # examples share the database: a pool and a user of their own
    user = f"h-{uuid.uuid4().hex[:8]}"
    begins, ends = T0 + start * M, T0 + (start + length) * M
    await create_booking(ctx, ADMIN, {"pool": pool, "user": user, "resources": {
        "cores": 1, "memory_gib": 1}, "start": iso(begins), "end": iso(ends)}, T0)
    leads = notices.Leads(before_start=lead_start * M, before_end=lead_end * M, before_offer_expiry=None)
    times = [T0 + r * M for r in sorted(rounds)]
    for now in times:
        await notices.emit_due(ctx, leads, now)
    # the reference: told of the start by a round in [start - lead, start); of the end by
    # a round while it is under way and within the lead of its end
    expect_start = any(begins - leads.before_start <= t < begins for t in times)
    expect_end = any(begins <= t < ends and ends - leads.before_end <= t for t in times)
    assert await kinds(ctx, user) == sorted(["starting"] * expect_start + ["ending"] * expect_end)
