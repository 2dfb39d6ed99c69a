"""Bad input gets a 4xx with {"status", "message"} a person can act on, and changes nothing."""

from __future__ import annotations

import uuid
from datetime import timedelta
from urllib.parse import quote

import pytest

from tests.booking_service.conftest import day_start, iso
from tests.hub import User

HOSTILE = "testuser<'&\">"


def assert_error(resp, status, *fragments):
    assert resp.status == status, (resp.status, resp.body)
    assert resp.headers["Content-Type"].startswith("application/json")
    body = resp.json()
    assert body["status"] == status and isinstance(body["message"], str) and body["message"]
    for fragment in fragments:
        assert fragment in body["message"], body["message"]


START = day_start(1)
GOOD_GRANT = {"start": iso(START), "end": iso(START + timedelta(days=1)), "cores": 2, "memory_gib": 8}


@pytest.mark.parametrize("change, fragments", [
    ({"start": "tomorrow"}, ["not a valid ISO 8601 time"]),
    ({"start": "2026-13-01T00:00:00Z"}, ["not a valid ISO 8601 time"]),
    ({"start": iso(START).rstrip("Z")}, ["needs a time zone"]),
    ({"start": 1767225600}, ["ISO 8601"]),
    ({"end": iso(START)}, ["must be after 'start'"]),
    ({"end": iso(START - timedelta(hours=1))}, ["must be after 'start'"]),
    ({"end": "9999-01-01T00:00:00Z"}, ["must lie between"]),
    ({"cores": -1}, ["zero or more"]),
    ({"cores": "2"}, ["must be a number"]),
    ({"cores": True}, ["must be a number"]),
    ({"cores": 1e30}, ["more than the"]),
    ({"cores": 0.0001}, ["millicore"]),
    ({"cores": 0.0015}, ["three decimals"]),
    ({"memory_gib": float("nan")}, ["must be a number"]),
    ({"memory_gib": 0.0001}, ["MiB"]),
    ({"memory_gib": 1.0001}, ["whole number of MiB"]),
    ({"cores": 0, "memory_gib": 0}, ["some cores or some memory"]),
    ({"extra": 1}, ["Unknown field(s): extra"]),
], ids=lambda v: str(v)[:40])
async def test_bad_capacity_is_refused_and_nothing_is_written(api, admin, change, fragments):
    pool = await api.new_pool(admin, cores=0, memory_gib=0)
    body = {**GOOD_GRANT, **change}
    assert_error(await api.call("POST", f"pools/{pool}/capacity", admin, body), 400, *fragments)
    grants = await api.ok("GET", f"pools/{pool}/capacity?start={iso(START - timedelta(days=1))}&end={iso(START + timedelta(days=30))}", admin)
    assert grants["grants"] == []


async def test_malformed_bodies(api, admin):
    for raw, fragment in [(b"{not json", "not valid JSON"), (b"[1, 2]", "JSON object"), (b"", "needs a JSON body"),
                          (b"\xff\xfe", "not valid JSON")]:
        resp = await api.call("POST", "pools", admin, raw_body=raw)
        assert_error(resp, 400, fragment)
    resp = await api.call("POST", "pools", admin, raw_body=b'{"name": "' + b"x" * 70_000 + b'"}')
    assert_error(resp, 413, "larger than")


@pytest.mark.parametrize("body, status, fragment", [
    ({"name": HOSTILE, "kind": "reserved"}, 400, "lower-case letters"),
    ({"name": "Upper", "kind": "reserved"}, 400, "lower-case letters"),
    ({"name": "x" * 65, "kind": "reserved"}, 400, "1 to 64"),
    ({"name": "ok-name", "kind": "private"}, 400, "'reserved'"),
    ({"name": "ok-name"}, 400, "Missing field(s): kind"),
    ({"name": "ok-name", "kind": "shared", "description": 5}, 400, "description"),
])
async def test_bad_pools(api, admin, body, status, fragment):
    assert_error(await api.call("POST", "pools", admin, body), status, fragment)
    names = [p["name"] for p in (await api.ok("GET", "pools", admin))["pools"]]
    assert body["name"] not in names


async def test_duplicate_pool_is_409(api, admin):
    pool = await api.new_pool(admin)
    assert_error(await api.call("POST", "pools", admin, {"name": pool, "kind": "shared"}), 409, "exists already")


@pytest.mark.parametrize("change, status, fragment", [
    ({"package": "no-such-package"}, 404, "no package named"),
    ({"package": HOSTILE}, 400, "lower-case letters"),
    ({"pool": "no-such-pool"}, 404, "no pool named"),
    ({"pool": ["x"]}, 400, "pool name"),
    ({"resources": {"cores": 1, "memory_gib": 1}}, 400, "not both"),
    ({"start": "2026-02-30T00:00:00Z"}, 400, "ISO 8601"),
    ({"end": iso(START)}, 400, "must be after"),
    ({"user": 17}, 403, "on behalf"),
], ids=lambda v: str(v)[:40])
async def test_bad_bookings_change_nothing(api, admin, user, change, status, fragment):
    pool = await api.new_pool(admin)
    body = {"pool": pool, "package": "small", "start": iso(START), "end": iso(START + timedelta(hours=1)), **change}
    assert_error(await api.call("POST", "bookings", user, body), status, fragment)
    listed = await api.ok("GET", f"bookings?start={iso(START - timedelta(days=1))}&end={iso(START + timedelta(days=2))}", user)
    assert listed["bookings"] == []
    availability = await api.ok("GET", f"pools/{pool}/availability?start={iso(START)}&end={iso(START + timedelta(hours=1))}&grain=hour", user)
    assert availability["blocks"][0]["free_min"] == {"cores": 4.0, "memory_gib": 16.0}


@pytest.mark.parametrize("query, status, fragment", [
    ("grain=fortnight", 400, "'grain' must be one of"),
    ("start=yesterday", 400, "ISO 8601"),
    ("end=2000-01-01T00:00:00Z", 400, "must be after"),
    ("start=2026-01-01T00:00:00Z&end=2199-01-01T00:00:00Z&grain=month", 400, "longer than"),
    ("start=2026-01-01T00:00:00Z&end=2028-01-01T00:00:00Z&grain=hour", 400, "blocks"),
    ("package=nothing-like-it", 404, "no package named"),
])
async def test_bad_availability_queries(api, admin, user, query, status, fragment):
    pool = await api.new_pool(admin)
    defaults = {"start": iso(START), "end": iso(START + timedelta(days=7)), "grain": "day"}
    given = dict(part.split("=", 1) for part in query.split("&"))
    params = "&".join(f"{k}={v}" for k, v in {**defaults, **given}.items())
    assert_error(await api.call("GET", f"pools/{pool}/availability?{params}", user), status, fragment)


async def test_unknown_things_are_404_json(api, user):
    assert_error(await api.call("GET", "pools/no-such-pool/availability?start=2030-01-01T00:00:00Z&end=2030-01-02T00:00:00Z", user), 404, "no pool named")
    assert_error(await api.call("GET", "bookings/999999999", user), 404, "no booking")
    assert_error(await api.call("GET", "bookings/99999999999", user), 404, "out of range")
    assert_error(await api.call("GET", "no/such/route", user), 404, "No such URL")
    assert_error(await api.call("PATCH", "bookings/1", user, {"end": "soon"}), 400, "ISO 8601")
    assert_error(await api.call("PATCH", "bookings/1", user, {"end": "2030-01-01T00:00:00Z", "start": "x"}), 400, "Unknown field")


async def test_a_user_named_with_markup_gets_json_not_markup(api, admin, hub):
    """Hub names may hold characters that are special in HTML and URLs."""
    name = HOSTILE + uuid.uuid4().hex[:6]

    await hub.hub_api("POST", f"users/{quote(name)}", {})
    token = await hub.token_for(name, ["custom:booking:read", "custom:booking:write"])
    hostile = User(name, token)
    me = await api.ok("GET", "me", hostile)
    assert me["name"] == name
    pool = await api.new_pool(admin)
    booking = await api.ok("POST", "bookings", hostile, {"pool": pool, "package": "small", "start": iso(START),
                                                          "end": iso(START + timedelta(hours=1))})
    assert booking["user"] == name
    listed = await api.ok("GET", f"bookings?user={quote(name)}&start={iso(START)}&end={iso(START + timedelta(days=1))}", admin)
    assert [b["id"] for b in listed["bookings"]] == [booking["id"]]
