"""A start's choice (`booking` in POST /users/{user}/sessions) and what the entitlement
offers to choose from (`bookings`, `walk_in`), through the real API on SQLite and
PostgreSQL, with the walk-in pool 'shared' (room for one small at a time): a named
booking starts exactly that booking, the walk-in is chosen even while a booking is on,
and every choice that cannot start is refused with a clear 4xx that records nothing."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from booking_service import store
from booking_service.domain import Caller, Forbidden
from booking_service.operations import Context, pools
from booking_service.operations.sessions import entitlement, start_session
from booking_service.policy import LevelPolicy
from tests.booking_service.conftest import BookingAPI, iso, start_walk_in_hub
from tests.booking_service.test_bad_input import assert_error
from tests.booking_service.test_queue_property import StandInHub
from tests.booking_service.test_sessions_api import path, stop
from tests.hub import stop_hub

HOUR = timedelta(hours=1)


@pytest.fixture(scope="module")
async def choice_hub(tmp_path_factory, postgres_cluster):
    hub = await start_walk_in_hub(tmp_path_factory.mktemp("choice-hub"), postgres_cluster, "choice")
    yield hub
    stop_hub(hub.process)


@pytest.fixture(params=["booking", "booking-pg"], ids=["sqlite", "postgresql"])
def api(request, choice_hub) -> BookingAPI:
    return BookingAPI(choice_hub, request.param)


def now() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


async def level_user(hub, level: str = "level-1"):
    return await hub.new_user(groups=[level])


async def book(api, user, pool: str, start: datetime, hours: float = 1, package: str = "small") -> dict:
    return await api.ok("POST", "bookings", user, {"pool": pool, "package": package, "start": iso(start),
                                                    "end": iso(start + hours * HOUR)})


async def running(api, user) -> list:
    return (await api.ok("GET", path(user.name, "entitlement"), user))["sessions"]


async def test_the_entitlement_lists_bookings_on_now_and_to_come_and_the_walk_in(api, choice_hub):
    admin, user = choice_hub.booking_admin, await level_user(choice_hub)
    pool = await api.new_pool(admin, start=now() - HOUR)
    later = await book(api, user, pool, now() + 3 * HOUR, package="medium")
    current = await book(api, user, pool, now(), 2)
    cancelled = await book(api, user, pool, now() + 5 * HOUR)
    await api.ok("DELETE", f"bookings/{cancelled['id']}", user)
    ent = await api.ok("GET", path(user.name, "entitlement"), user)
    assert (ent["kind"], ent["booking_id"]) == ("booking", current["id"])
    assert [(b["id"], b["status"], b["package"]["name"], b["pool"]) for b in ent["bookings"]] == [
        (current["id"], "active", "small", pool), (later["id"], "upcoming", "medium", pool)]
    assert ent["bookings"][1]["start"] == later["start"] and ent["bookings"][1]["end"] == later["end"]
    assert ent["bookings"][1]["package"]["spark"]["workers"] == 2  # what the home page says it starts
    # the walk-in is offered too, with the state of the shared pool
    walk_in = ent["walk_in"]
    assert (walk_in["state"], walk_in["pool"], walk_in["package"]["name"], walk_in["position"]) == (
        "free", "shared", "small", None)


async def test_a_named_booking_starts_exactly_that_booking(api, choice_hub):
    admin, user = choice_hub.booking_admin, await level_user(choice_hub)
    first, second = await api.new_pool(admin, start=now() - HOUR), await api.new_pool(admin, start=now() - HOUR)
    one = await book(api, user, first, now(), package="small")
    two = await book(api, user, second, now(), package="medium")
    session = await api.ok("POST", path(user.name, "sessions"), admin, {"booking": two["id"], "server_name": "b"})
    assert (session["kind"], session["booking_id"], session["pool"], session["package"]["name"]) == (
        "booking", two["id"], second, "medium")
    default = await api.ok("POST", path(user.name, "sessions"), admin, {"server_name": "d"})
    assert default["booking_id"] == one["id"]  # no choice: the booking on now that started first
    for s in (session, default):
        await stop(api, admin, s["id"])


async def test_the_walk_in_may_be_chosen_while_a_booking_is_on(api, choice_hub):
    admin, user = choice_hub.booking_admin, await level_user(choice_hub)
    pool = await api.new_pool(admin, start=now() - HOUR)
    await book(api, user, pool, now())
    session = await api.ok("POST", path(user.name, "sessions"), admin, {"booking": "walk-in"})
    assert (session["kind"], session["booking_id"], session["pool"]) == ("walk-in", None, "shared")
    ent = await api.ok("GET", path(user.name, "entitlement"), user)
    assert ent["kind"] == "booking" and ent["walk_in"]["state"] == "running"
    # someone else now finds the shared pool full, and is told where they would queue
    other = await level_user(choice_hub)
    walk_in = (await api.ok("GET", path(other.name, "entitlement"), other))["walk_in"]
    assert (walk_in["state"], walk_in["position"], walk_in["queued"]) == ("queue", 1, False)
    refused = await api.call("POST", path(other.name, "sessions"), admin, {"booking": "walk-in"})
    assert_error(refused, 409, "You are number 1 in the queue")
    walk_in = (await api.ok("GET", path(other.name, "entitlement"), other))["walk_in"]
    assert (walk_in["state"], walk_in["position"], walk_in["queued"]) == ("queue", 1, True)
    await api.ok("DELETE", path(other.name, "queue"), other)
    await stop(api, admin, session["id"])


async def test_choices_that_cannot_start_are_refused_and_record_nothing(api, choice_hub):
    hub = choice_hub
    admin, user, other = hub.booking_admin, await level_user(hub), await level_user(hub)
    pool = await api.new_pool(admin, start=now() - 3 * HOUR)
    ended = await book(api, user, pool, now() - timedelta(seconds=30))  # "now" (a minute's grace)
    ended = await api.ok("PATCH", f"bookings/{ended['id']}", user, {"end": iso(now())})  # ended: the earliest end
    future = await book(api, user, pool, now() + 2 * HOUR)
    cancelled = await book(api, user, pool, now() + 4 * HOUR)
    await api.ok("DELETE", f"bookings/{cancelled['id']}", user)
    theirs = await book(api, other, pool, now())
    for who, body, status, fragment in [
        (user, {"booking": theirs["id"]}, 404, f"has no booking {theirs['id']}"),
        (user, {"booking": 2**31 - 1}, 404, "has no booking"),
        (user, {"booking": ended["id"]}, 409, f"Booking {ended['id']} ended at {ended['end']}"),
        (user, {"booking": future["id"]}, 409, f"starts at {future['start']}; its server can start from then on"),
        (user, {"booking": cancelled["id"]}, 409, "is cancelled"),
        (user, {"booking": "walk in"}, 400, "'booking' must be the id of one of your bookings"),
        (user, {"booking": str(theirs["id"])}, 400, "(a whole number) or \"walk-in\""),
        (user, {"booking": True}, 400, "'booking' must be"),
        (user, {"booking": 0}, 400, "'booking' must be"),
        (user, {"booking": 2**31}, 400, "'booking' must be"),
        (user, {"booking": 1.5}, 400, "'booking' must be"),
        (user, {"booking": [future["id"]]}, 400, "'booking' must be"),
        (user, {"booking": {"id": 1}}, 400, "'booking' must be"),
        (user, {"booking": None}, 400, "'booking' must be"),
    ]:
        assert_error(await api.call("POST", path(who.name, "sessions"), admin, body), status, fragment)
    assert await running(api, user) == []
    queue = (await api.ok("GET", path(user.name, "entitlement"), user))["queue"]
    assert queue is None  # no refusal joined the walk-in queue


async def test_the_walk_in_of_a_level_without_one_is_refused(tmp_path):
    """No default level lacks a walk-in package, so the service is configured with one
    here, in process (its database real, the hub a stand-in that knows the user's groups)."""
    engine = store.make_engine(f"sqlite+aiosqlite:///{tmp_path}/b.sqlite")
    await store.upgrade(engine)
    hub = StandInHub()
    hub.groups["ann"] = ["level-0"]
    ctx = Context(engine=engine, policy=LevelPolicy(levels={0: {"name": "anonymous", "walk_in": None}}),
                  walk_in_pool="shared", hub=hub)
    spawner = Caller(name="booking-spawner", kind="service", level=-1, admin=False, can_read=True, can_write=True,
                     sessions=True)
    try:
        await pools.create_pool(ctx, {"name": "shared", "kind": "shared"}, now())
        walk_in = (await entitlement(ctx, spawner, "ann", now()))["walk_in"]
        assert walk_in == {"state": "none", "pool": None, "package": None, "position": None, "queued": False,
                           "reason": "Without a booking, your account level (anonymous) cannot start a server; "
                                     "book a package on the calendar."}
        with pytest.raises(Forbidden, match=r"^You chose the walk-in, but: Without a booking, your account level "
                                            r"\(anonymous\) cannot start a server"):
            await start_session(ctx, spawner, "ann", {"booking": "walk-in"}, now())
    finally:
        await engine.dispose()
