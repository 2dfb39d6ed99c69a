"""Offer sets over REST on SQLite and PostgreSQL: offers are held bookings (phase OFFERED,
counted in the pool's availability), accepting one makes it a booking and frees its
siblings at once, a window with no room says NO and names the nearest later start, the
level rules apply, bad requests get clear 400s, and every booking shows its phases."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from tests.booking_service.conftest import day_start, iso
from tests.booking_service.test_bad_input import assert_error

H = timedelta(hours=1)


def when(*starts: datetime, length=H) -> dict:
    return {"start": [f"{iso(s)}/PT{int(length / H)}H" for s in starts]}


async def hour_free(api, pool, caller, start: datetime, hours: int) -> list[float]:
    view = await api.ok("GET", f"pools/{pool}/availability?start={iso(start)}&end={iso(start + hours * H)}"
                               "&grain=hour", caller)
    return [b["free_min"]["cores"] for b in view["blocks"]]


async def test_offers_are_held_and_accepting_one_frees_the_others(api, admin, user, hub):
    pool = await api.new_pool(admin, cores=4, memory_gib=16)
    nine = day_start(1) + 9 * H
    body = {"what": {"package": "small"}, "when": when(nine, nine + 4 * H, nine + 24 * H),
            "duration": {"min": "PT1H", "max": "PT2H"}, "pools": [pool]}
    answer = await api.ok("POST", "offersets", user, body)
    assert answer["result"] == "YES" and answer["user"] == user.name and answer["nearest"] is None
    offers = answer["offers"]
    # the earliest start in each window, the longest duration; small is 1 core, 4 GiB
    assert [(o["start"], o["end"], o["duration"]) for o in offers] == [
        (iso(s), iso(s + 2 * H), "PT2H") for s in (nine, nine + 4 * H, nine + 24 * H)]
    assert {(o["phase"], o["state"], o["status"], o["pool"], o["expires"]) for o in offers} == {
        ("OFFERED", "offered", "offered", pool, answer["expires"])}
    assert [o["index"] for o in offers] == [0, 1, 2]
    assert offers[0]["resources"] == {"cores": 1.0, "memory_gib": 4.0}
    expires = datetime.fromisoformat(answer["expires"].replace("Z", "+00:00"))
    assert timedelta(minutes=4) < expires - datetime.now(timezone.utc) <= timedelta(minutes=5)
    assert await hour_free(api, pool, user, nine, 6) == [3, 3, 4, 4, 3, 3]  # held like bookings

    # only its owner (and admins) see the set
    other = await hub.new_user(groups=["level-1"])
    assert_error(await api.call("GET", f"offersets/{answer['id']}", other), 404, "no offer set")
    assert (await api.ok("GET", f"offersets/{answer['id']}", admin))["offers"] == offers
    assert_error(await api.call("POST", f"offersets/{answer['id']}/offers/1", other, {"phase": "ACCEPTED"}), 404,
                 "no offer set")

    booking = await api.ok("POST", f"offersets/{answer['id']}/offers/1", user, {"phase": "ACCEPTED"}, status=200)
    assert (booking["id"], booking["phase"], booking["state"], booking["expires"]) == (
        offers[1]["id"], "ACCEPTED", "booked", None)
    assert [(t["from"], t["to"]) for t in booking["transitions"]] == [(None, "OFFERED"), ("OFFERED", "ACCEPTED")]
    assert await hour_free(api, pool, user, nine, 6) == [4, 4, 4, 4, 3, 3]  # the siblings' holds are gone
    view = await api.ok("GET", f"offersets/{answer['id']}", user)
    assert [o["phase"] for o in view["offers"]] == ["REJECTED", "ACCEPTED", "REJECTED"]
    rejected = await api.ok("GET", f"bookings/{offers[0]['id']}", user)
    assert rejected["transitions"][-1]["cause"] == "offer 1 of the set was accepted"

    assert_error(await api.call("POST", f"offersets/{answer['id']}/offers/0", user, {"phase": "ACCEPTED"}), 409,
                 "was accepted already")
    assert_error(await api.call("POST", f"offersets/{answer['id']}/offers/7", user, {"phase": "ACCEPTED"}), 404,
                 "offers 0 to 2")
    # the booking is a booking: listed, and on the calendar; rejected offers are not listed
    listed = await api.ok("GET", f"bookings?start={iso(nine)}&end={iso(nine + 30 * H)}", user)
    assert [b["id"] for b in listed["bookings"]] == [booking["id"]]
    cancelled = await api.ok("DELETE", f"bookings/{booking['id']}", user)
    assert cancelled["phase"] == "CANCELLED"
    assert [t["to"] for t in (await api.ok("GET", f"bookings/{booking['id']}", user))["transitions"]] == [
        "OFFERED", "ACCEPTED", "CANCELLED"]


async def test_a_full_window_is_no_with_the_nearest_later_start(api, admin, hub):
    user = await hub.new_user(groups=["level-n"])  # a level that books explicit resources
    pool = await api.new_pool(admin, cores=1, memory_gib=16)
    nine = day_start(1) + 9 * H
    await api.ok("POST", "bookings", admin, {"pool": pool, "resources": {"cores": 1, "memory_gib": 1},
                                             "start": iso(nine), "end": iso(nine + 3 * H)})
    answer = await api.ok("POST", "offersets", user, {
        "what": {"resources": {"cores": {"min": 0.5}, "memory_gib": {"min": 1}}}, "when": when(nine),
        "duration": {"min": "PT1H"}, "pools": [pool]})
    assert (answer["result"], answer["offers"], answer["nearest"]) == ("NO", [], iso(nine + 3 * H))
    assert any(f"the nearest later start that fits is {iso(nine + 3 * H)} in pool '{pool}'" in m
               for m in answer["messages"]), answer["messages"]


async def test_nearest_is_the_first_start_the_availability_has_room_for(api, admin, hub):
    """A NO's `nearest` skips a gap too short for the duration: it is the first hour from
    which the pool's availability has room for the whole duration, and asking from it
    gets an offer that starts there."""
    user = await hub.new_user(groups=["level-n"])
    pool = await api.new_pool(admin, cores=2, memory_gib=16)
    nine = day_start(1) + 9 * H
    for start, end in ((nine, nine + 2 * H), (nine + 3 * H, nine + 4 * H)):  # a 1-hour gap between
        await api.ok("POST", "bookings", admin, {"pool": pool, "resources": {"cores": 2, "memory_gib": 1},
                                                 "start": iso(start), "end": iso(end)})
    what = {"resources": {"cores": {"min": 1}, "memory_gib": {"min": 1}}}
    body = {"what": what, "when": {"start": [f"{iso(nine)}/PT30M"]}, "duration": {"min": "PT2H"}, "pools": [pool]}
    answer = await api.ok("POST", "offersets", user, body)
    assert answer["result"] == "NO"
    free = await hour_free(api, pool, user, nine, 12)
    first = next(k for k in range(11) if min(free[k:k + 2]) >= 1)  # room for 2 hours from hour k
    assert answer["nearest"] == iso(nine + first * H) == iso(nine + 4 * H)
    again = await api.ok("POST", "offersets", user, {**body, "when": {"start": [f"{answer['nearest']}/PT1M"]}})
    assert again["result"] == "YES" and again["nearest"] is None
    assert again["offers"][0]["start"] == answer["nearest"]
    assert "nearest" not in await api.ok("GET", f"offersets/{answer['id']}", user)


async def test_declining_an_offer_and_the_execution_brokers_update_form(api, admin, user):
    pool = await api.new_pool(admin, cores=4, memory_gib=16)
    nine = day_start(2) + 9 * H
    body = {"what": {"package": "small"}, "when": when(nine, nine + 5 * H), "duration": {"min": "PT1H"},
            "pools": [pool]}
    first = await api.ok("POST", "offersets", user, body)
    declined = await api.ok("DELETE", f"bookings/{first['offers'][0]['id']}", user)
    assert declined["phase"] == "REJECTED"
    second = await api.ok("POST", "offersets", user, body)
    update = {"kind": "uri:enum-value-update", "path": "/phase", "value": "ACCEPTED"}
    accepted = await api.ok("POST", f"offersets/{second['id']}/offers/0", user, update, status=200)
    assert accepted["phase"] == "ACCEPTED"
    rejected = await api.ok("POST", f"offersets/{first['id']}/offers/1", user, {"phase": "REJECTED"}, status=200)
    assert rejected["phase"] == "REJECTED"
    assert_error(await api.call("POST", f"offersets/{first['id']}/offers/1", user, {"phase": "ACCEPTED"}), 409,
                 "REJECTED and cannot become ACCEPTED")


async def test_level_rules_apply_to_offers(api, admin, hub):
    pool = await api.new_pool(admin, cores=4, memory_gib=16)
    nine = day_start(1) + 9 * H
    body = {"what": {"package": "small"}, "when": when(nine), "duration": {"min": "PT1H"}, "pools": [pool]}
    trial = await hub.new_user(groups=["level-0"])
    assert_error(await api.call("POST", "offersets", trial, body), 403, "cannot book ahead")
    basic = await hub.new_user(groups=["level-1"])
    assert_error(await api.call("POST", "offersets", basic, {**body, "what": {"resources": {
        "cores": {"min": 1}, "memory_gib": {"min": 1}}}}), 403, "custom resources")
    assert_error(await api.call("POST", "offersets", basic, {**body, "duration": {"min": "PT100H"}}), 403,
                 "at most 72 hours")
    cut = await api.ok("POST", "offersets", basic, {**body, "duration": {"min": "PT1H", "max": "PT100H"}})
    assert cut["offers"][0]["duration"] == "PT72H"
    assert any("cut to 72 hours" in m for m in cut["messages"])
    far = await api.ok("POST", "offersets", basic, {**body, "when": when(day_start(40))})
    assert far["result"] == "NO" and any("later than your level" in m for m in far["messages"])


BAD = [
    ({}, "Missing field(s): duration, what, when"),
    ({"what": "small"}, "'what' must be an object"),
    ({"what": {"package": "small", "resources": {}}}, "one of them"),
    ({"what": {"resources": {"cores": 1, "memory_gib": 1}}}, "'what.resources.cores' must be an object"),
    ({"what": {"resources": {"cores": {"min": 2, "max": 1}, "memory_gib": {"min": 1}}}}, "must not be less"),
    ({"when": {"start": "2030-01-01T00:00:00Z/PT1H"}}, "'when' must be {\"start\": [intervals]}"),
    ({"when": {"start": []}}, "one or more ISO 8601 intervals"),
    ({"when": {"start": ["2030-01-01T00:00:00Z"]}}, "must be an ISO 8601 interval"),
    ({"when": {"start": ["2030-01-01T00:00:00/PT1H"]}}, "needs a time zone"),
    ({"when": {"start": ["2030-01-01T00:00:00Z/P1Y"]}}, "is not an ISO 8601 duration"),
    ({"when": {"start": ["2030-01-01T02:00:00Z/2030-01-01T01:00:00Z"]}}, "ends"),
    ({"when": {"start": ["2030-01-01T00:00:00Z/PT1H"] * 17}}, "at most 16"),
    ({"duration": "PT1H"}, "'duration' must be an object"),
    ({"duration": {"min": "PT0S"}}, "longer than zero"),
    ({"duration": {"min": "PT2H", "max": "PT1H"}}, "must not be less"),
    ({"duration": {"min": 60}}, "ISO 8601 duration"),
    ({"pools": "local"}, "'pools' must be a list"),
    ({"pools": ["no-such-pool"]}, "There is no pool named 'no-such-pool'"),
    ({"count": 0}, "'count' must be a whole number"),
    ({"extra": 1}, "Unknown field(s): extra"),
]


@pytest.mark.parametrize("change,message", BAD, ids=[m[:30] for _, m in BAD])
async def test_bad_offer_requests_are_clear_400s(api, user, change, message):
    body = {"what": {"package": "small"}, "when": {"start": ["2030-01-01T09:00:00Z/PT1H"]},
            "duration": {"min": "PT1H"}, **change}
    body = {k: v for k, v in body.items() if not (change == {} and k in ("what", "when", "duration"))}
    resp = await api.call("POST", "offersets", user, body)
    assert_error(resp, 404 if "no pool named" in message else 400, message)


@pytest.mark.parametrize("update", [{"phase": "RUNNING"}, {"phase": 1}, {"state": "ACCEPTED"},
                                    {"kind": "uri:enum-value-update", "path": "/state", "value": "ACCEPTED"}])
async def test_bad_offer_updates_are_clear_400s(api, admin, user, update):
    pool = await api.new_pool(admin)
    answer = await api.ok("POST", "offersets", user, {"what": {"package": "small"}, "when": when(day_start(1)),
                                                      "duration": {"min": "PT1H"}, "pools": [pool]})
    assert_error(await api.call("POST", f"offersets/{answer['id']}/offers/0", user, update), 400, "ACCEPTED")


async def test_a_server_makes_its_booking_running(api, admin, user):
    pool = await api.new_pool(admin)
    now = datetime.now(timezone.utc).replace(microsecond=0)
    booking = await api.ok("POST", "bookings", user, {"pool": pool, "package": "small", "start": iso(now),
                                                       "end": iso(now + H)})
    assert booking["phase"] == "ACCEPTED"
    session = await api.ok("POST", f"users/{user.name}/sessions", admin, {"server_name": "", "flavour": "jupyter"})
    seen = await api.ok("GET", f"bookings/{booking['id']}", user)
    assert seen["phase"] == "RUNNING"
    assert [(t["to"], t["by"]) for t in seen["transitions"]][-1] == ("RUNNING", admin.name)
    await api.ok("DELETE", f"sessions/{session['id']}", admin)
    assert (await api.ok("GET", f"bookings/{booking['id']}", user))["phase"] == "RUNNING"  # until its end


async def test_a_user_holds_the_offers_of_a_few_sets_at_most(api, admin, user):
    """One token asking again and again cannot keep a pool held: past BookingService
    .max_held_offer_sets (3) a new set is a 409 until one is answered; then it is granted."""
    pool = await api.new_pool(admin, cores=64, memory_gib=256)
    nine = day_start(3) + 9 * H
    body = {"what": {"package": "small"}, "when": when(nine, nine + 5 * H), "duration": {"min": "PT1H"},
            "pools": [pool], "count": 1}
    sets = [await api.ok("POST", "offersets", user, body) for _ in range(3)]
    assert all(s["result"] == "YES" for s in sets)
    assert_error(await api.call("POST", "offersets", user, body), 409, "the most at once")
    await api.ok("POST", f"offersets/{sets[0]['id']}/offers/0", user, {"phase": "REJECTED"}, status=200)
    assert (await api.ok("POST", "offersets", user, body))["result"] == "YES"
    # an admin is not limited
    for _ in range(4):
        await api.ok("POST", "offersets", admin, body)


async def test_a_cancelled_offer_leaves_its_sibling_acceptable(api, admin, user):
    pool = await api.new_pool(admin, cores=4, memory_gib=16)
    nine = day_start(2) + 9 * H
    answer = await api.ok("POST", "offersets", user, {"what": {"package": "small"}, "when": when(nine, nine + 5 * H),
                                                     "duration": {"min": "PT1H"}, "pools": [pool]})
    assert len(answer["offers"]) >= 2
    await api.ok("DELETE", f"bookings/{answer['offers'][0]['id']}", user)
    accepted = await api.ok("POST", f"offersets/{answer['id']}/offers/1", user, {"phase": "ACCEPTED"}, status=200)
    assert accepted["phase"] == "ACCEPTED"
