"""A start's choice through the hub's REST API, as the home page and programs make it:
`POST /hub/api/users/{name}/server` with user_options naming a booking, the walk-in and
a flavour, against the real hub, booking service and servers. Every refusal is a clear
4xx that starts nothing, holds nothing and leaves nothing for the next start."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from urllib.parse import quote

from tests.booking_service.conftest import iso
from tests.spawner.conftest import booked_now, new_user

HOUR = timedelta(hours=1)


async def start(hub, user, user_options=None, raw=None):
    body = raw if raw is not None else ({} if user_options is None else {"user_options": user_options})
    return await hub.request("POST", f"hub/api/users/{quote(user.name)}/server", token=hub.admin_token, body=body)


async def started(hub, servers, user, user_options=None) -> dict:
    """Start, wait until ready, and return the server's environment."""
    resp = await start(hub, user, user_options)
    assert resp.status in (201, 202), resp.body
    await servers.wait_ready(user)
    return (await servers.process(user)).env()


async def test_a_named_booking_starts_that_booking_and_no_options_the_one_on_now(spawn_hub, servers, booking_api):
    user, first = await booked_now(spawn_hub, booking_api, "small", 2 * HOUR)
    pool = await booking_api.new_pool(spawn_hub.booking_admin, cores=8, memory_gib=32,
                                      start=datetime.now(timezone.utc) - HOUR)
    now = datetime.now(timezone.utc)
    second = await booking_api.ok("POST", "bookings", user, {"pool": pool, "package": "medium", "start": iso(now),
                                                              "end": iso(now + HOUR)})
    env = await started(spawn_hub, servers, user, {"booking": second["id"], "flavour": "jupyter"})
    assert (env["AGLAIS_BOOKING_ID"], env["AGLAIS_PACKAGE"], env["AGLAIS_POOL"]) == (str(second["id"]), "medium", pool)
    await servers.stop(user)
    # the choice was for that start only: without options, the booking on now that began first
    env = await started(spawn_hub, servers, user)
    assert (env["AGLAIS_BOOKING_ID"], env["AGLAIS_PACKAGE"]) == (str(first["id"]), "small")
    await servers.stop(user)


async def test_the_walk_in_is_chosen_while_a_booking_is_on(spawn_hub, servers, booking_api):
    user, booking = await booked_now(spawn_hub, booking_api, "medium", HOUR)
    env = await started(spawn_hub, servers, user, {"booking": "walk-in"})
    assert (env["AGLAIS_SESSION_KIND"], env["AGLAIS_BOOKING_ID"], env["AGLAIS_PACKAGE"]) == ("walk-in", "", "small")
    ent = await booking_api.ok("GET", f"users/{user.name}/entitlement", user)
    assert ent["kind"] == "booking" and ent["walk_in"]["state"] == "running"
    await servers.stop(user)


async def test_every_choice_that_cannot_start_is_a_clear_4xx_that_starts_nothing(spawn_hub, servers, booking_api):
    admin = spawn_hub.booking_admin
    user, current = await booked_now(spawn_hub, booking_api, "small", HOUR)
    _, theirs = await booked_now(spawn_hub, booking_api, "small", HOUR)
    now = datetime.now(timezone.utc).replace(microsecond=0)
    future = await booking_api.ok("POST", "bookings", user, {"pool": current["pool"], "package": "small",
                                                              "start": iso(now + 2 * HOUR), "end": iso(now + 3 * HOUR)})
    ended = await booking_api.ok("POST", "bookings", user, {"pool": current["pool"], "package": "small",
                                                             "start": iso(now - timedelta(seconds=30)),
                                                             "end": iso(now + HOUR)})
    ended = await booking_api.ok("PATCH", f"bookings/{ended['id']}", user, {"end": iso(datetime.now(timezone.utc))})
    refusals = [
        # the booking service's refusals, passed on by the spawner
        ({"booking": theirs["id"]}, 404, f"has no booking {theirs['id']}"),
        ({"booking": future["id"]}, 409, f"Booking {future['id']} starts at {future['start']}"),
        ({"booking": ended["id"]}, 409, f"Booking {ended['id']} ended at"),
        # the shape, checked by the spawner before it asks anyone
        ({"booking": str(current["id"])}, 400, "booking must be the id of one of your bookings (a whole number)"),
        ({"booking": True}, 400, "booking must be the id"),
        ({"booking": 0}, 400, "booking must be the id"),
        ({"booking": [current["id"]]}, 400, "booking must be the id"),
        ({"booking": "walkin"}, 400, "or \"walk-in\""),
        ({"flavour": "rstudio"}, 400, "flavour must be one of jupyter, zeppelin"),
        ({"flavour": 3}, 400, "flavour must be one of"),
        ({"bookng": current["id"]}, 400, "Unknown user_options: bookng; accepted: booking"),
    ]
    for options, status, fragment in refusals:
        resp = await start(spawn_hub, user, options)
        assert resp.status == status and fragment in resp.json()["message"], (options, resp.status, resp.body)
        assert not (await servers.model(user)).get("servers"), options
        ent = await booking_api.ok("GET", f"users/{user.name}/entitlement", user)
        assert ent["sessions"] == [] and ent["queue"] is None, options
    # the hub's own check of the body's shape
    resp = await start(spawn_hub, user, raw={"user_options": ["booking"]})
    assert resp.status == 400 and "user_options must be an object" in resp.json()["message"]
    # nothing of a refused start is kept: a start without options gets the booking on now
    env = await started(spawn_hub, servers, user)
    assert env["AGLAIS_BOOKING_ID"] == str(current["id"])
    await servers.stop(user)
    assert (await booking_api.ok("GET", f"bookings/{theirs['id']}", admin))["status"] == "active"  # untouched
