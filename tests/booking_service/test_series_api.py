"""Recurring bookings over REST on SQLite and PostgreSQL: a nightly series on London's wall
clock, its occurrences as ordinary bookings with `series_id`, cancelled one at a time or
as a whole; all or nothing and "fit"; the level's rules per occurrence; other people's
series hidden; bad rules and requests refused with a message."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from tests.booking_service.conftest import BookingAPI, day_start, iso
from tests.booking_service.test_bad_input import assert_error

H = timedelta(hours=1)
LONDON = ZoneInfo("Europe/London")


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def nightly(pool: str, count: int = 5, *, days: int = 2, **more) -> dict:
    """20:00 London time, for 12 hours, `count` nights from `days` days ahead."""
    return {"package": "small", "pool": pool, "start": day_start(days).strftime("%Y-%m-%dT20:00"),
            "tz": "Europe/London", "duration": "PT12H", "rrule": f"FREQ=DAILY;COUNT={count}", **more}


async def test_a_nightly_series_is_booked_listed_and_cancelled(api, admin, user, hub):
    pool = await api.new_pool(admin, cores=1, memory_gib=4)  # room for one "small" (1 core, 4 GiB)
    series = await api.ok("POST", "series", user, nightly(pool))
    bookings = series["bookings"]
    assert (series["user"], series["pool"], series["mode"], series["tz"], series["skipped"]) == (
        user.name, pool, "all", "Europe/London", [])
    assert len(bookings) == 5 and {b["series_id"] for b in bookings} == {series["id"]}
    assert {utc(b["start"]).astimezone(LONDON).strftime("%H:%M") for b in bookings} == {"20:00"}
    assert {utc(b["end"]).astimezone(LONDON).strftime("%H:%M") for b in bookings} == {"08:00"}
    assert {(b["phase"], b["user"]) for b in bookings} == {("ACCEPTED", user.name)}
    first = await api.ok("GET", f"bookings/{bookings[0]['id']}", user)
    assert first["transitions"][0]["cause"] == f"occurrence 0 of series {series['id']}"
    listed = await api.ok("GET", f"bookings?start={iso(day_start(1))}&end={iso(day_start(9))}&pool={pool}", user)
    assert [b["id"] for b in listed["bookings"]] == [b["id"] for b in bookings]
    assert {b["series_id"] for b in listed["bookings"]} == {series["id"]}

    # nobody else sees or cancels it
    other = await hub.new_user(groups=["level-1"])
    assert_error(await api.call("GET", f"series/{series['id']}", other), 404, f"no series {series['id']}")
    assert_error(await api.call("DELETE", f"series/{series['id']}", other), 404, "no series")
    assert_error(await api.call("DELETE", f"bookings/{bookings[1]['id']}", other), 404, "no booking")
    assert (await api.ok("GET", f"series/{series['id']}", admin))["bookings"] == bookings

    # one occurrence cancelled on its own frees its night, the others stay
    await api.ok("DELETE", f"bookings/{bookings[1]['id']}", user)
    view = await api.ok("GET", f"series/{series['id']}", user)
    assert [b["phase"] for b in view["bookings"]] == ["ACCEPTED", "CANCELLED", "ACCEPTED", "ACCEPTED", "ACCEPTED"]
    slot = {"pool": pool, "package": "small", "start": bookings[1]["start"], "end": bookings[1]["end"]}
    await api.ok("POST", "bookings", other, slot)
    assert_error(await api.call("POST", "bookings", other, {**slot, "start": bookings[2]["start"],
                                                             "end": bookings[2]["end"]}), 409)

    # the whole series: the occurrences to come are cancelled, their nights free
    cancelled = await api.ok("DELETE", f"series/{series['id']}", user, status=200)
    assert cancelled["cancelled"] is not None
    assert cancelled["cancelled_bookings"] == [b["id"] for b in bookings if b["id"] != bookings[1]["id"]]
    assert {b["phase"] for b in cancelled["bookings"]} == {"CANCELLED"}
    last = await api.ok("GET", f"bookings/{bookings[4]['id']}", user)
    assert last["transitions"][-1]["cause"] == f"series {series['id']} cancelled by {user.name}"
    await api.ok("POST", "bookings", other, {**slot, "start": bookings[2]["start"], "end": bookings[2]["end"]})
    assert_error(await api.call("DELETE", f"series/{series['id']}", user), 409, "cancelled already")


async def test_all_or_nothing_or_what_fits(api, admin, user):
    pool = await api.new_pool(admin, cores=1, memory_gib=4)
    request = nightly(pool, 4)
    # someone holds the third night's last hours
    third = utc((await api.ok("POST", "series", admin, {**request, "rrule": "FREQ=DAILY;COUNT=1",
                                                        "start": day_start(5).strftime("%Y-%m-%dT07:00"),
                                                        "duration": "PT1H"}))["bookings"][0]["start"])
    refused = await api.call("POST", "series", user, request)
    assert_error(refused, 409, "1 of the series' 4 occurrences cannot be booked, so none was", '"mode": "fit"',
                 "occurrence 2")
    failed = refused.json()["failed"]
    assert [(f["occurrence"], utc(f["end"]) - utc(f["start"])) for f in failed] == [(2, 12 * H)]
    assert "0 of 1 cores" in failed[0]["reason"] and utc(failed[0]["start"]) < third < utc(failed[0]["end"])
    listed = await api.ok("GET", f"bookings?start={iso(day_start(1))}&end={iso(day_start(9))}", user)
    assert listed["bookings"] == []  # nothing was written

    fit = await api.ok("POST", "series", user, {**request, "mode": "fit"})
    assert len(fit["bookings"]) == 3 and [s["occurrence"] for s in fit["skipped"]] == [2]
    assert fit["skipped"] == failed
    assert (await api.ok("GET", f"series/{fit['id']}", user))["skipped"] == failed
    # now nothing fits: a 409 even for "fit"
    assert_error(await api.call("POST", "series", user, {**request, "mode": "fit"}), 409,
                 "4 of the series' 4 occurrences cannot be booked")


async def test_the_level_rules_apply_to_every_occurrence(api, admin, user, hub):
    pool = await api.new_pool(admin, cores=4, memory_gib=16, days=70)
    weekly = {**nightly(pool, days=3), "rrule": "FREQ=WEEKLY;COUNT=7", "duration": "PT2H"}
    # level 1 books at most 30 days ahead: the nights 31, 38 and 45 days ahead start later
    refused = await api.call("POST", "series", user, weekly)
    assert_error(refused, 409, "3 of the series' 7 occurrences cannot be booked")
    assert [f["occurrence"] for f in refused.json()["failed"]] == [4, 5, 6]
    assert all("at most 30 days ahead" in f["reason"] for f in refused.json()["failed"])
    fit = await api.ok("POST", "series", user, {**weekly, "mode": "fit"})
    assert len(fit["bookings"]) == 4
    # what the first occurrence breaks, the series breaks
    package = await api.new_package(admin, 1, 1)
    assert_error(await api.call("POST", "series", user, {**weekly, "package": package}), 403,
                 f"cannot book the package '{package}'")
    assert_error(await api.call("POST", "series", user, {**weekly, "duration": "PT73H", "rrule": "FREQ=WEEKLY;COUNT=2"}),
                 403, "at most 72 hours")
    assert_error(await api.call("POST", "series", user, {**weekly, "resources": {"cores": 1, "memory_gib": 1},
                                                         "package": None}), 400, "not both")
    anonymous = await hub.new_user(groups=["level-0"])
    assert_error(await api.call("POST", "series", anonymous, weekly), 403, "cannot book ahead")
    # admins are not bound by the levels, and may book for someone else; nobody else may
    assert len((await api.ok("POST", "series", admin, weekly))["bookings"]) == 7
    theirs = await api.ok("POST", "series", admin, {**weekly, "user": user.name, "rrule": "FREQ=WEEKLY;COUNT=2",
                                                    "start": day_start(4).strftime("%Y-%m-%dT20:00")})
    assert (theirs["user"], theirs["created_by"]) == (user.name, admin.name)
    assert {(b["user"], b["created_by"]) for b in theirs["bookings"]} == {(user.name, admin.name)}
    assert (await api.ok("GET", f"series/{theirs['id']}", user))["id"] == theirs["id"]
    assert_error(await api.call("POST", "series", user, {**weekly, "user": admin.name}), 403,
                 "Only booking admins can book on behalf")


def far(days: int) -> str:
    return (datetime.now(timezone.utc) + timedelta(days=days)).strftime("%Y%m%d")


BAD = [
    ({"rrule": "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30;COUNT=1"}, "no day matches it"),
    ({"rrule": "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30;UNTIL=" + far(100)}, "no day matches it"),
    ({"rrule": "FREQ=DAILY"}, "must end"),
    ({"rrule": "FREQ=DAILY;INTERVAL=0;BYMONTH=2;COUNT=3"}, "INTERVAL must be a whole number from 1"),
    ({"rrule": "FREQ=SECONDLY;BYSECOND=61;COUNT=1"}, "BYSECOND=61"),
    ({"rrule": "FREQ=DAILY;COUNT=101"}, "more than the 100 occurrences"),
    ({"rrule": "FREQ=WEEKLY;UNTIL=" + far(400)}, "more than the 180 days"),
    ({"rrule": "FREQ=HOURLY;COUNT=3"}, "occurrences overlap"),
    ({"rrule": "FREQ=DAILY;COUNT=2;X-NAME=1"}, "NAME=VALUE"),
    ({"rrule": ["FREQ=DAILY"]}, "must be an RFC 5545 RRULE"),
    ({"tz": "Mars/Olympus_Mons"}, "names no time zone"),
    ({"tz": "../../etc/passwd"}, "IANA time zone"),
    ({"start": "yesterday"}, "not an ISO 8601 time"),
    ({"start": "2001-01-01T20:00"}, "is in the past"),
    ({"duration": "1 hour"}, "ISO 8601 duration"),
    ({"duration": "P1Y"}, "ISO 8601 duration"),
    ({"mode": "some"}, "'mode' must be"),
    ({"pool": 7}, "'pool' must be a pool name"),
    ({"colour": "blue"}, "Unknown field(s): colour"),
    ({"package": "No Such"}, "'package' must be"),
]


@pytest.mark.parametrize("change,message", BAD, ids=[m for _, m in BAD])
async def test_bad_series_are_refused_with_what_to_change(api, admin, user, change, message):
    pool = await api.new_pool(admin, cores=1, memory_gib=4)
    assert_error(await api.call("POST", "series", user, {**nightly(pool, 2, duration="PT2H"), **change}), 400, message)


async def test_the_pool_and_package_must_exist(api, admin, user):
    body = nightly("no-such-pool", 2)
    assert_error(await api.call("POST", "series", user, body), 404, "no pool named 'no-such-pool'")
    assert_error(await api.call("POST", "series", user, {**body, "pool": None}), 400, "Name the 'pool'")
    shared = await api.new_pool(admin, kind="shared")
    assert_error(await api.call("POST", "series", user, {**body, "pool": shared}), 400, "shared (walk-in) pool")
    assert_error(await api.call("POST", "series", user, {**body, "package": "no-such-package"}), 404,
                 "no package named")
    assert_error(await api.call("GET", "series/99999999999", user), 404)
    assert_error(await api.call("GET", "series/123456789", user), 404, "no series 123456789")


@pytest.fixture(params=[("booking",), ("booking-pg", "booking-pg2")], ids=["sqlite", "postgresql-2-processes"])
def services(request, hub):
    return [BookingAPI(hub, name) for name in request.param]


async def test_racing_series_and_bookings_never_overbook_and_stay_whole(services, admin):
    """Series and single bookings for the same nights at once, over one or two service
    processes: each series is booked whole or not at all, and no night holds more than the
    pool has; whoever was refused really did not fit."""
    first = services[0]
    pool = await first.new_pool(admin, cores=2, memory_gib=100)
    package = await first.new_package(admin, cores=1, memory_gib=1)
    body = {**nightly(pool, 3), "package": package, "tz": "UTC", "duration": "PT2H"}
    night = day_start(3) + 20 * H  # the series' second night

    async def racer(i):
        service = services[i % len(services)]
        if i % 2:
            return "booking", await service.call("POST", "bookings", admin, {
                "pool": pool, "package": package, "start": iso(night), "end": iso(night + 2 * H)})
        return "series", await service.call("POST", "series", admin, body)

    answers = await asyncio.gather(*(racer(i) for i in range(16)))
    assert {a.status for _, a in answers} <= {201, 409}, [a.body for _, a in answers]
    series = [a.json() for kind, a in answers if kind == "series" and a.status == 201]
    singles = sum(1 for kind, a in answers if kind == "booking" and a.status == 201)
    assert all(len(s["bookings"]) == 3 for s in series)
    assert len(series) + singles == 2  # 16 racers for 2 places: the second night is full, nothing more
    for service in services:
        view = await service.ok("GET", f"pools/{pool}/availability?start={iso(day_start(2))}&end={iso(day_start(5))}"
                                       "&grain=hour", admin)
        assert min(b["free_min"]["cores"] for b in view["blocks"]) >= 0
        assert [b["free_min"]["cores"] for b in view["blocks"] if b["start"] == iso(night)] == [0]


def next_spring_change() -> datetime:
    """01:00 UTC on the last Sunday of March after today: when London's clocks go forward."""
    today = datetime.now(timezone.utc)
    year = today.year + (today.month > 3 or (today.month == 3 and today.day > 24))
    last = datetime(year, 3, 31, 1, tzinfo=timezone.utc)
    return last - timedelta(days=(last.weekday() + 1) % 7)


async def test_nightly_on_londons_clock_across_the_spring_change(api, admin):
    change = next_spring_change()
    pool = await api.new_pool(admin, cores=1, memory_gib=4, start=change - timedelta(days=5), days=10)
    first = change - timedelta(days=3)
    series = await api.ok("POST", "series", admin, {**nightly(pool, 6), "start": first.strftime("%Y-%m-%dT20:00")})
    starts = [utc(b["start"]) for b in series["bookings"]]
    assert {s.astimezone(LONDON).strftime("%H:%M") for s in starts} == {"20:00"}
    assert [s.hour for s in starts] == [20, 20, 20, 19, 19, 19]  # GMT, then BST
    # the night the clocks go forward lasts 11 hours: 20:00 to 08:00 on the wall clock
    assert [(utc(b["end"]) - utc(b["start"])) / H for b in series["bookings"]] == [12, 12, 11, 12, 12, 12]
