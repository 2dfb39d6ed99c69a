"""Deleting a hub user leaves nothing the next owner of the name inherits (issue 9, item
6): the hub's caller (`<service>-accounts`, scope custom:booking:forget) forgets a user
with a booking, a walk-in session and a queue place, through the real API on SQLite and
PostgreSQL; a new user of the same name sees nothing and is entitled to nothing of it."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import quote

import pytest

from hub_extension.booking_client import BookingServiceError, forget_user
from tests.booking_service.conftest import BookingAPI, day_start, iso, start_walk_in_hub
from tests.booking_service.test_bad_input import assert_error
from tests.booking_service.test_sessions_api import free_min_now, path
from tests.hub import User, stop_hub


@pytest.fixture(scope="module")
async def forget_hub(tmp_path_factory, postgres_cluster):
    """Hub-managed booking services with the walk-in pool 'shared'."""
    hub = await start_walk_in_hub(tmp_path_factory.mktemp("forget-hub"), postgres_cluster, "forget")
    yield hub
    stop_hub(hub.process)


@pytest.fixture(params=["booking", "booking-pg"], ids=["sqlite", "postgresql"])
def api(request, forget_hub) -> BookingAPI:
    return BookingAPI(forget_hub, request.param)


def forgetter(api) -> User:
    return User(f"{api.service}-accounts", api.hub.forget_tokens[api.service])


async def same_name_again(hub, name: str) -> User:
    """The hub deletes `name` and someone else signs up with it."""
    await hub.hub_api("DELETE", f"users/{quote(name)}")
    await hub.hub_api("POST", f"users/{quote(name)}", {})
    await hub.hub_api("POST", "groups/level-1/users", {"users": [name]})
    return User(name, await hub.token_for(name, ["custom:booking:read", "custom:booking:write"]))


async def test_a_forgotten_user_leaves_nothing_to_the_next_owner_of_the_name(api):
    hub, admin = api.hub, api.hub.booking_admin
    victim = await hub.new_user(groups=["level-1"])
    pool = await api.new_pool(admin)
    start = day_start(2)
    booking = await api.ok("POST", "bookings", victim, {"pool": pool, "package": "small", "start": iso(start),
                                                         "end": iso(start + timedelta(hours=2))})
    session = await api.ok("POST", path(victim.name, "sessions"), admin, {})
    assert session["kind"] == "walk-in"
    queued = await api.call("POST", path(victim.name, "sessions"), admin, {"server_name": "second"})
    assert queued.status == 409 and queued.json()["queue"]["position"] == 1
    assert (await free_min_now(api, "shared", admin))["cores"] == 0

    # only the hub's caller and booking admins may forget; the caller may do nothing else
    assert_error(await api.call("DELETE", f"users/{quote(victim.name)}", victim), 403, "custom:booking:forget")
    assert_error(await api.call("GET", "pools", forgetter(api)), 403, "custom:booking:read")
    forgotten = await forget_user(victim.name, url=hub.url + api.base, token=forgetter(api).token)
    assert forgotten["kept_as"].startswith(victim.name + "/deleted ")
    assert {k: forgotten[k] for k in ("bookings_cancelled", "sessions_stopped", "queue_entries_left")} == \
        {"bookings_cancelled": 1, "sessions_stopped": 1, "queue_entries_left": 1}
    again = await forget_user(victim.name, url=hub.url + api.base, token=forgetter(api).token)
    assert again == {"user": victim.name, "reason": "account deleted", "kept_as": None,
                     "bookings_cancelled": 0, "sessions_stopped": 0, "queue_entries_left": 0}

    stranger = await same_name_again(hub, victim.name)
    listed = await api.ok("GET", f"bookings?start={iso(day_start(-1))}&end={iso(day_start(30))}", stranger)
    assert listed["bookings"] == []
    assert_error(await api.call("GET", f"bookings/{booking['id']}", stranger), 404, "no booking")
    entitlement = await api.ok("GET", path(stranger.name, "entitlement"), stranger)
    assert (entitlement["booking_id"], entitlement["queue"], entitlement["sessions"]) == (None, None, [])
    # their own level's walk-in, as the forgotten session's place is free again (full
    # before: a second server of the victim's had to queue)
    assert entitlement["kind"] == "walk-in"

    # the admins' history keeps it, under the forgotten name, with the reason
    kept = await api.ok("GET", f"bookings?user={quote(forgotten['kept_as'])}&start={iso(day_start(-1))}"
                               f"&end={iso(day_start(30))}", admin)
    assert [(b["id"], b["state"], b["cancel_reason"]) for b in kept["bookings"]] == \
        [(booking["id"], "cancelled", "account deleted")]
    stopped = await api.ok("DELETE", f"sessions/{session['id']}", admin)
    assert (stopped["state"], stopped["stop_reason"], stopped["user"]) == \
        ("stopped", "account deleted", forgotten["kept_as"])


async def test_a_forgotten_users_series_ends_and_is_not_the_next_owners(api):
    hub, admin = api.hub, api.hub.booking_admin
    victim = await hub.new_user(groups=["level-1"])
    pool = await api.new_pool(admin)
    series = await api.ok("POST", "series", victim, {
        "package": "small", "pool": pool, "start": day_start(2).strftime("%Y-%m-%dT09:00"), "duration": "PT2H",
        "rrule": "FREQ=DAILY;COUNT=3"})
    forgotten = await forget_user(victim.name, url=hub.url + api.base, token=forgetter(api).token)
    assert forgotten["bookings_cancelled"] == 3
    stranger = await same_name_again(hub, victim.name)
    assert_error(await api.call("GET", f"series/{series['id']}", stranger), 404, "no series")
    assert_error(await api.call("DELETE", f"series/{series['id']}", stranger), 404, "no series")
    kept = await api.ok("GET", f"series/{series['id']}", admin)
    assert kept["user"] == forgotten["kept_as"] and kept["cancelled"] is not None
    assert {(b["phase"], b["cancel_reason"]) for b in kept["bookings"]} == {("CANCELLED", "account deleted")}


async def test_forgetting_refuses_what_is_no_hub_name_and_reports_failure(api):
    for bad, fragment in [("a%2Fb", "no '/'"), ("x" * 201, "at most 200")]:
        assert_error(await api.call("DELETE", f"users/{bad}", forgetter(api)), 400, fragment)
    assert_error(await api.call("DELETE", "users/someone?reason=", forgetter(api)), 400, "'reason'")
    with pytest.raises(BookingServiceError, match="403"):
        await forget_user("someone", url=api.hub.url + api.base, token="not-a-token")


async def test_a_forgotten_users_offers_end_and_their_sets_are_not_the_next_owners(api):
    hub, admin = api.hub, api.hub.booking_admin
    victim = await hub.new_user(groups=["level-1"])
    pool = await api.new_pool(admin, cores=1, memory_gib=4)
    start = day_start(3)
    offers = await api.ok("POST", "offersets", victim, {
        "what": {"package": "small"}, "pools": [pool], "duration": {"min": "PT1H"},
        "when": {"start": [f"{iso(start)}/PT1H"]}})
    held = offers["offers"][0]
    forgotten = await forget_user(victim.name, url=hub.url + api.base, token=forgetter(api).token)
    assert forgotten["bookings_cancelled"] == 1  # the held offer
    offer = await api.ok("GET", f"bookings/{held['id']}", admin)
    assert (offer["phase"], offer["user"], offer["transitions"][-1]["cause"]) == (
        "CANCELLED", forgotten["kept_as"], "account deleted")
    stranger = await same_name_again(hub, victim.name)
    assert_error(await api.call("GET", f"offersets/{offers['id']}", stranger), 404, "no offer set")
    # what the offer held is free: the stranger may book it
    await api.ok("POST", "bookings", stranger, {"pool": pool, "package": "small", "start": held["start"],
                                                "end": held["end"]})
