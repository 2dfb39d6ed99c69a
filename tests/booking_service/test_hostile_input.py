"""Classes of hostile input (issue 9, items 4 and 5): sizes that round to nothing, times
whose offset leaves the datetime range, integers of hundreds of digits and bodies that
are not objects, on every field and endpoint that takes them. Each is a 4xx
{"status", "message"}, never a 500, and changes nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.booking_service.conftest import day_start, iso
from tests.booking_service.test_bad_input import assert_error

START = day_start(1)
HOUR = timedelta(hours=1)
OUT_OF_RANGE = ["9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00"]
HUGE = 10**300  # an int no float holds


def query_range(**given) -> str:
    times = {"start": iso(START), "end": iso(START + timedelta(days=1)), **given}
    return "&".join(f"{k}={v.replace('+', '%2B')}" for k, v in times.items())


@pytest.mark.parametrize("moment", OUT_OF_RANGE)
@pytest.mark.parametrize("field", ["start", "end"])
async def test_times_out_of_datetime_range_on_every_time_parameter(api, admin, user, field, moment):
    pool = await api.new_pool(admin)
    booking = await api.ok("POST", "bookings", user, {"pool": pool, "package": "small", "start": iso(START),
                                                       "end": iso(START + HOUR)})
    day = {"start": iso(START), "end": iso(START + timedelta(days=1))}
    calls = [
        ("POST", f"pools/{pool}/capacity", {**day, "cores": 1, "memory_gib": 1, field: moment}),
        ("GET", f"pools/{pool}/capacity?{query_range(**{field: moment})}", None),
        ("GET", f"pools/{pool}/availability?{query_range(**{field: moment})}&grain=hour", None),
        ("GET", f"bookings?{query_range(**{field: moment})}", None),
        ("POST", "bookings", {"pool": pool, "package": "small", **day, field: moment}),
    ]
    if field == "end":
        calls.append(("PATCH", f"bookings/{booking['id']}", {"end": moment}))
    for method, path, body in calls:
        assert_error(await api.call(method, path, admin, body), 400, f"'{field}'", "must lie between")
    assert (await api.ok("GET", f"bookings/{booking['id']}", user))["end"] == iso(START + HOUR)


def size_fields(pool):
    """(path, body, field) for every resource size a request carries."""
    grant = {"start": iso(START), "end": iso(START + timedelta(days=1)), "cores": 1, "memory_gib": 1}
    package = {"name": "pkg-tiny", "notebook_cores": 1, "notebook_memory_gib": 1, "spark_workers": 1,
               "worker_cores": 1, "worker_memory_gib": 1}
    booking = {"pool": pool, "start": iso(START), "end": iso(START + HOUR), "resources": {"cores": 1, "memory_gib": 1}}
    for key in ("cores", "memory_gib"):
        yield f"pools/{pool}/capacity", grant, key, lambda body, v, k=key: {**body, k: v}
        yield "bookings", booking, f"resources.{key}", \
            lambda body, v, k=key: {**body, "resources": {**body["resources"], k: v}}
    for key in ("notebook_cores", "notebook_memory_gib", "worker_cores", "worker_memory_gib"):
        yield "packages", package, key, lambda body, v, k=key: {**body, k: v}


@pytest.mark.parametrize("value", [5e-10, 1e-320, 0.0004], ids=["5e-10", "1e-320", "0.0004"])
async def test_a_size_that_rounds_to_nothing_is_refused_naming_the_field(api, admin, value):
    pool = await api.new_pool(admin)
    for path, body, field, change in size_fields(pool):
        resp = await api.call("POST", path, admin, change(body, value))
        smallest = "millicore" if "cores" in field else "MiB"
        assert_error(resp, 400, f"'{field}'", smallest)
    assert "pkg-tiny" not in {p["name"] for p in (await api.ok("GET", "packages", admin))["packages"]}


@pytest.mark.parametrize("value", [HUGE, -HUGE], ids=["huge", "-huge"])
async def test_integers_of_hundreds_of_digits_in_every_numeric_field(api, admin, value):
    pool = await api.new_pool(admin)
    for path, body, field, change in size_fields(pool):
        assert_error(await api.call("POST", path, admin, change(body, value)), 400, f"'{field}'")
    package = {"name": "pkg-huge", "notebook_cores": 1, "notebook_memory_gib": 1, "spark_workers": value,
               "worker_cores": 1, "worker_memory_gib": 1}
    assert_error(await api.call("POST", "packages", admin, package), 400, "'spark_workers'")
    # beyond Python's digit limit for int(): not even JSON this service reads
    resp = await api.call("POST", "packages", admin, raw_body=b'{"name": "x", "spark_workers": 1' + b"0" * 5000 + b"}")
    assert_error(resp, 400, "not valid JSON")


async def test_the_configured_maxima_bound_bookings_and_packages(api, admin):
    """The hub-managed test services run with BookingService's default maxima."""
    pool = await api.new_pool(admin)
    body = {"pool": pool, "start": iso(START), "end": iso(START + HOUR), "resources": {"cores": 10_001, "memory_gib": 1}}
    assert_error(await api.call("POST", "bookings", admin, body), 400, "'resources.cores'", "10,000")
    package = {"name": "pkg-big", "notebook_cores": 2, "notebook_memory_gib": 1, "spark_workers": 1000,
               "worker_cores": 10, "worker_memory_gib": 1}
    assert_error(await api.call("POST", "packages", admin, package), 400, "footprint", "at most 10000 cores")


@pytest.mark.parametrize("raw", [b"[]", b"null", b"17", b'"text"', b"true"])
async def test_a_body_that_is_not_an_object_is_refused_everywhere(api, admin, raw):
    pool = await api.new_pool(admin)
    booking = await api.ok("POST", "bookings", admin, {"pool": pool, "package": "small", "start": iso(START),
                                                        "end": iso(START + HOUR)})
    for method, path in [("POST", "pools"), ("POST", f"pools/{pool}/capacity"), ("POST", "packages"),
                         ("POST", "bookings"), ("PATCH", f"bookings/{booking['id']}"),
                         ("POST", f"users/{admin.name}/sessions")]:
        assert_error(await api.call(method, path, admin, raw_body=raw), 400, "must be a JSON object")
    entitlement = await api.ok("GET", f"users/{admin.name}/entitlement", admin)
    assert entitlement["sessions"] == []  # the sessions endpoint recorded nothing


async def test_a_stored_package_of_no_size_does_not_fail_availability(tmp_path):
    """Packages stored before sizes were checked (notebook_cores 1e-320 kept as 0) are left
    out of availability, rather than answer 500 to every query without `package=`."""
    from sqlalchemy import insert

    from booking_service import orm, store
    from booking_service.operations import Context, availability, pools
    from booking_service.policy import LevelPolicy

    engine = store.make_engine(f"sqlite+aiosqlite:///{tmp_path}/b.sqlite")
    await store.upgrade(engine)
    ctx = Context(engine=engine, policy=LevelPolicy())
    try:
        now = START - timedelta(days=1)
        await pools.create_pool(ctx, {"name": "p", "kind": "reserved"}, now)
        await pools.add_capacity(ctx, "p", {"start": iso(START), "end": iso(START + timedelta(days=1)),
                                            "cores": 2, "memory_gib": 2}, "admin", now)
        async with engine.begin() as conn:
            for name, millicores in (("nothing", 0), ("one", 1000)):
                await conn.execute(insert(orm.PackageTemplate).values(
                    name=name, version=1, description="", notebook_millicores=millicores, notebook_mib=1024,
                    spark_workers=0, worker_millicores=0, worker_mib=0, created=now))
        answer = await availability.availability(ctx, "p", iso(START), iso(START + timedelta(days=1)), "day")
        assert answer["blocks"][0]["packages"] == {"one": {"min": 2, "max": 2}}
    finally:
        await engine.dispose()


async def test_a_huge_body_is_refused_before_it_is_read(api):
    """The callbacks (and every other route) are reachable without a hub login: a body
    announced at 100 MiB is refused at its headers, not read into memory first and then
    measured against the 64 KiB every endpoint takes."""
    import asyncio
    from urllib.parse import urlsplit

    url = urlsplit(api.hub.url)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    try:
        writer.write((f"POST {url.path}services/{api.service}/api/v1/callbacks/1 HTTP/1.1\r\n"
                      f"Host: {url.netloc}\r\nAuthorization: Bearer x\r\nContent-Type: application/json\r\n"
                      f"Content-Length: {100 << 20}\r\n\r\n").encode() + b"{" * 4096)
        await writer.drain()
        status = await asyncio.wait_for(reader.readline(), 10)  # not waiting for the other 100 MiB
    finally:
        writer.close()
    assert status.split()[1].startswith(b"4"), status


@pytest.mark.parametrize("text", ["\\u0000", "\\ud800"])  # as JSON writes them: a NUL, a lone surrogate
async def test_a_nul_or_a_lone_surrogate_in_any_string_is_a_400(api, admin, text):
    """PostgreSQL's text holds neither (a NUL is an error there, a lone surrogate cannot be
    encoded on either database): each was a 500 wherever free text is kept."""
    import uuid

    nine = START + 9 * HOUR
    calls = [
        ("POST", "pools", f'{{"name": "p-{uuid.uuid4().hex[:8]}", "kind": "reserved", "description": "a{text}b"}}'),
        ("POST", "packages", f'{{"name": "k-{uuid.uuid4().hex[:8]}", "cores": 1, "memory_gib": 1, '
                             f'"description": "a{text}b"}}'),
        ("POST", "offersets", f'{{"what": {{"package": "sm{text}all"}}, "when": {{"start": ["{iso(nine)}/PT1H"]}}, '
                              f'"duration": {{"min": "PT1H"}}}}'),
        ("POST", "series", f'{{"package": "small", "start": "{iso(nine)}", "end": "{iso(nine + HOUR)}", '
                           f'"rrule": "FREQ=DAILY;COUNT=2", "tz": "Europe/Lon{text}don"}}'),
        ("POST", "bookings", f'{{"package": "small", "start": "{iso(nine)}", "end": "{iso(nine + HOUR)}", '
                             f'"k{text}ey": 1}}'),
    ]
    for method, path, raw in calls:
        resp = await api.call(method, path, admin, raw_body=raw.encode())
        assert resp.status == 400 and resp.json()["message"], (path, resp.status, resp.body[:300])


async def test_a_nul_in_a_path_or_query_is_a_4xx(api, admin):
    """A NUL in a name was a 500 on PostgreSQL. (Bytes that are not UTF-8 in a path are a 500
    of configurable-http-proxy, which cannot decode them, before the service sees them.)"""
    text = "%00"
    pool = await api.new_pool(admin)
    day = f"start={iso(START).replace('+', '%2B')}&end={iso(START + timedelta(days=1)).replace('+', '%2B')}"
    for path in [f"pools/a{text}b", f"pools/a{text}b/availability?{day}",
                 f"pools/{pool}/availability?{day}&package=a{text}", f"bookings?user=a{text}",
                 f"users/a{text}/notices", f"users/a{text}/entitlement", f"series/1{text}", f"offersets/1{text}",
                 f"packages/a{text}"]:
        resp = await api.call("GET", path, admin)
        assert 400 <= resp.status < 500 and resp.json()["message"], (path, resp.status, resp.body[:300])
