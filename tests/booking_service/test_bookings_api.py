"""Bookings over REST, on SQLite and PostgreSQL: admission against capacity, level
policy, alternatives, cancel, extend and shorten, and who may see what."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from tests.booking_service.conftest import day_start, iso

SMALL = {"cores": 1.0, "memory_gib": 4.0}  # the seeded small package's footprint


async def test_book_a_package_and_read_it_back(api, admin, user):
    pool = await api.new_pool(admin, cores=2, memory_gib=8)
    start = day_start(1) + timedelta(hours=9)
    booking = await api.ok("POST", "bookings", user, {
        "pool": pool, "package": "small", "start": iso(start), "end": iso(start + timedelta(hours=3)),
    })
    assert booking["user"] == user.name
    assert booking["pool"] == pool
    assert booking["package"] == {"name": "small", "version": 1}
    assert booking["resources"] == SMALL
    assert (booking["start"], booking["end"]) == (iso(start), iso(start + timedelta(hours=3)))
    assert (booking["state"], booking["status"]) == ("booked", "upcoming")
    read = await api.ok("GET", f"bookings/{booking['id']}", user)
    assert read == {**booking, "transitions": [{"from": None, "to": "ACCEPTED", "at": booking["created"],
                                                "cause": "booked", "by": user.name}]}
    listed = await api.ok("GET", f"bookings?start={iso(start)}&end={iso(start + timedelta(days=1))}", user)
    assert [b["id"] for b in listed["bookings"]] == [booking["id"]]


async def test_capacity_is_never_exceeded_and_409_offers_the_earliest_alternatives(api, admin, user, hub):
    pool = await api.new_pool(admin, cores=2, memory_gib=8)
    other = await hub.new_user(groups=["level-1"])
    start = day_start(1) + timedelta(hours=9)
    slot = {"pool": pool, "package": "small", "start": iso(start), "end": iso(start + timedelta(hours=2))}
    await api.ok("POST", "bookings", user, slot)
    await api.ok("POST", "bookings", other, slot)
    third = await hub.new_user(groups=["level-1"])
    resp = await api.call("POST", "bookings", third, slot)
    assert resp.status == 409
    answer = resp.json()
    assert answer["status"] == 409
    assert "0 of 1 cores" in answer["message"]
    assert answer["alternatives"][0] == {
        "pool": pool, "start": iso(start + timedelta(hours=2)), "end": iso(start + timedelta(hours=4)),
    }
    # the alternative really is bookable
    await api.ok("POST", "bookings", third, {"pool": pool, "package": "small",
                                              "start": answer["alternatives"][0]["start"],
                                              "end": answer["alternatives"][0]["end"]})
    mine = await api.ok("GET", f"bookings?start={iso(start)}&end={iso(start + timedelta(days=1))}", third)
    assert len(mine["bookings"]) == 1  # the refused booking left nothing behind


async def test_level_rules(api, admin, hub):
    pool = await api.new_pool(admin, cores=8, memory_gib=64)
    start = day_start(1)
    window = {"pool": pool, "start": iso(start), "end": iso(start + timedelta(hours=2))}
    anonymous = await hub.new_user(groups=["level-0"])
    basic = await hub.new_user(groups=["level-1"])
    custom = await hub.new_user(groups=["level-n"])

    resp = await api.call("POST", "bookings", anonymous, {**window, "package": "small"})
    assert resp.status == 403 and "cannot book ahead" in resp.json()["message"]
    resp = await api.call("POST", "bookings", basic, {**window, "resources": {"cores": 2, "memory_gib": 4}})
    assert resp.status == 403 and "custom resources" in resp.json()["message"]
    resp = await api.call("POST", "bookings", basic, {**window, "package": "tiny"})
    assert resp.status == 403 and "'tiny'" in resp.json()["message"]
    booked = await api.ok("POST", "bookings", custom, {**window, "resources": {"cores": 2, "memory_gib": 4}})
    assert booked["package"] is None and booked["resources"] == {"cores": 2.0, "memory_gib": 4.0}

    too_long = {"pool": pool, "package": "small", "start": iso(start), "end": iso(start + timedelta(hours=73))}
    resp = await api.call("POST", "bookings", basic, too_long)
    assert resp.status == 403 and "at most 72 hours" in resp.json()["message"]
    far = day_start(40)
    resp = await api.call("POST", "bookings", basic, {"pool": pool, "package": "small", "start": iso(far),
                                                       "end": iso(far + timedelta(hours=1))})
    assert resp.status == 403 and "30 days ahead" in resp.json()["message"]
    # admins are exempt from length and advance limits, and book on behalf of others
    booked = await api.ok("POST", "bookings", admin, {**too_long, "user": basic.name})
    assert booked["user"] == basic.name and booked["created_by"] == admin.name
    resp = await api.call("POST", "bookings", basic, {**window, "package": "small", "user": custom.name})
    assert resp.status == 403


async def test_book_now_and_not_in_the_past(api, admin, user):
    pool = await api.new_pool(admin, cores=2, memory_gib=8, start=day_start(-1))
    now = datetime.now(timezone.utc)
    booking = await api.ok("POST", "bookings", user, {
        "pool": pool, "package": "small", "start": iso(now - timedelta(seconds=30)), "end": iso(now + timedelta(hours=1)),
    })
    assert booking["status"] == "active"
    resp = await api.call("POST", "bookings", user, {
        "pool": pool, "package": "small", "start": iso(now - timedelta(minutes=5)), "end": iso(now + timedelta(hours=1)),
    })
    assert resp.status == 400 and "in the past" in resp.json()["message"]


async def test_cancel_frees_the_capacity_and_keeps_history(api, admin, user, hub):
    pool = await api.new_pool(admin, cores=1, memory_gib=4)
    start = day_start(2)
    slot = {"pool": pool, "package": "small", "start": iso(start), "end": iso(start + timedelta(hours=1))}
    booking = await api.ok("POST", "bookings", user, slot)
    other = await hub.new_user(groups=["level-1"])
    assert (await api.call("POST", "bookings", other, slot)).status == 409
    cancelled = await api.ok("DELETE", f"bookings/{booking['id']}", user)
    assert (cancelled["state"], cancelled["status"]) == ("cancelled", "cancelled")
    assert cancelled["cancelled"] is not None
    again = await api.call("DELETE", f"bookings/{booking['id']}", user)
    assert again.status == 409 and "cancelled already" in again.json()["message"]
    await api.ok("POST", "bookings", other, slot)
    history = await api.ok("GET", f"bookings/{booking['id']}", user)
    assert history["state"] == "cancelled"


async def test_extend_only_if_capacity_allows_and_shorten(api, admin, user, hub):
    pool = await api.new_pool(admin, cores=1, memory_gib=4)
    start = day_start(2)
    booking = await api.ok("POST", "bookings", user, {
        "pool": pool, "package": "small", "start": iso(start), "end": iso(start + timedelta(hours=2)),
    })
    other = await hub.new_user(groups=["level-1"])
    await api.ok("POST", "bookings", other, {
        "pool": pool, "package": "small", "start": iso(start + timedelta(hours=4)), "end": iso(start + timedelta(hours=5)),
    })
    longer = await api.ok("PATCH", f"bookings/{booking['id']}", user, {"end": iso(start + timedelta(hours=4))})
    assert longer["end"] == iso(start + timedelta(hours=4))
    resp = await api.call("PATCH", f"bookings/{booking['id']}", user, {"end": iso(start + timedelta(hours=5))})
    assert resp.status == 409 and "extend by less" in resp.json()["message"]
    assert (await api.ok("GET", f"bookings/{booking['id']}", user))["end"] == iso(start + timedelta(hours=4))
    shorter = await api.ok("PATCH", f"bookings/{booking['id']}", user, {"end": iso(start + timedelta(hours=1))})
    assert shorter["end"] == iso(start + timedelta(hours=1))
    # the freed hours are bookable again
    await api.ok("POST", "bookings", other, {
        "pool": pool, "package": "small", "start": iso(start + timedelta(hours=1)), "end": iso(start + timedelta(hours=4)),
    })
    resp = await api.call("PATCH", f"bookings/{booking['id']}", user, {"end": iso(start)})
    assert resp.status == 400 and "cancel it" in resp.json()["message"]


async def test_people_see_only_their_own_bookings_admins_see_all(api, admin, user, hub):
    pool = await api.new_pool(admin, cores=4, memory_gib=16)
    start = day_start(3)
    slot = {"pool": pool, "package": "small", "start": iso(start), "end": iso(start + timedelta(hours=1))}
    mine = await api.ok("POST", "bookings", user, slot)
    other = await hub.new_user(groups=["level-1"])
    theirs = await api.ok("POST", "bookings", other, slot)
    for method in ("GET", "DELETE"):
        resp = await api.call(method, f"bookings/{theirs['id']}", user)
        assert resp.status == 404
    resp = await api.call("PATCH", f"bookings/{theirs['id']}", user, {"end": iso(start + timedelta(hours=2))})
    assert resp.status == 404
    resp = await api.call("GET", f"bookings?user={other.name}", user)
    assert resp.status == 403
    window = f"start={iso(start)}&end={iso(start + timedelta(days=1))}"
    everyone = await api.ok("GET", f"bookings?{window}&pool={pool}", admin)
    assert {b["id"] for b in everyone["bookings"]} == {mine["id"], theirs["id"]}
    just_theirs = await api.ok("GET", f"bookings?{window}&user={other.name}", admin)
    assert [b["id"] for b in just_theirs["bookings"]] == [theirs["id"]]
    assert (await api.ok("DELETE", f"bookings/{theirs['id']}", admin))["state"] == "cancelled"


async def test_package_versions_are_immutable_and_bookings_keep_theirs(api, admin):
    name = await api.new_package(admin, cores=1, memory_gib=2)
    pool = await api.new_pool(admin, cores=4, memory_gib=16)
    start = day_start(1)
    booking = await api.ok("POST", "bookings", admin, {
        "pool": pool, "package": name, "start": iso(start), "end": iso(start + timedelta(hours=1)),
    })
    v2 = await api.ok("POST", "packages", admin, {"name": name, "notebook_cores": 2, "notebook_memory_gib": 4,
                                                  "description": "bigger"})
    assert v2["version"] == 2 and v2["footprint"] == {"cores": 2.0, "memory_gib": 4.0}
    kept = await api.ok("GET", f"bookings/{booking['id']}", admin)
    assert kept["package"] == {"name": name, "version": 1}
    assert kept["resources"] == {"cores": 1.0, "memory_gib": 2.0}
    latest = {p["name"]: p for p in (await api.ok("GET", "packages", admin))["packages"]}
    assert latest[name]["version"] == 2
    history = (await api.ok("GET", "packages?history=true", admin))["packages"]
    assert [p["version"] for p in history if p["name"] == name] == [1, 2]
    newer = await api.ok("POST", "bookings", admin, {
        "pool": pool, "package": name, "start": iso(start), "end": iso(start + timedelta(hours=1)),
    })
    assert newer["package"]["version"] == 2 and newer["resources"]["cores"] == 2.0


async def test_extending_obeys_the_length_rule_only(api, admin, user):
    """A booking an admin made far ahead for a user can be extended by that user, up to
    the level's longest booking, and no further."""
    pool = await api.new_pool(admin, cores=2, memory_gib=8, days=90)
    start = day_start(60)
    booking = await api.ok("POST", "bookings", admin, {
        "pool": pool, "package": "small", "user": user.name, "start": iso(start), "end": iso(start + timedelta(hours=2)),
    })
    longer = await api.ok("PATCH", f"bookings/{booking['id']}", user, {"end": iso(start + timedelta(hours=72))})
    assert longer["end"] == iso(start + timedelta(hours=72))
    resp = await api.call("PATCH", f"bookings/{booking['id']}", user, {"end": iso(start + timedelta(hours=73))})
    assert resp.status == 403 and "at most 72 hours" in resp.json()["message"]
