"""Availability over REST: free_min and free_max per block, package counts, grains, and the
text picture of the design notes."""

from __future__ import annotations

from datetime import datetime, timedelta
from urllib.parse import quote
from zoneinfo import ZoneInfo

from tests.booking_service.conftest import day_start, iso


def next_monday() -> datetime:
    today = day_start(0)
    return today + timedelta(days=7 - today.weekday())


async def test_free_min_is_for_the_whole_block_free_max_the_best_moment(api, admin):
    """The design note's example: 4 granted, bookings leave 2 for the whole day but 4 at times."""
    start = next_monday()
    pool = await api.new_pool(admin, cores=4, memory_gib=4, start=start, days=7)
    unit = await api.new_package(admin, cores=1, memory_gib=1)
    for a, b, n in [(1, 2, 1), (2, 3, 2), (3, 4, 1), (5, 6, 2)]:  # hours, units in use
        for _ in range(n):
            await api.ok("POST", "bookings", admin, {"pool": pool, "package": unit, "start": iso(start + timedelta(hours=a)),
                                                     "end": iso(start + timedelta(hours=b))})
    day = await api.ok("GET", f"pools/{pool}/availability?start={iso(start)}&end={iso(start + timedelta(days=2))}&grain=day&package={unit}", admin)
    assert day["pool"] == pool and day["grain"] == "day"
    monday, tuesday = day["blocks"]
    assert (monday["start"], monday["end"]) == (iso(start), iso(start + timedelta(days=1)))
    assert monday["free_min"] == {"cores": 2.0, "memory_gib": 2.0}
    assert monday["free_max"] == {"cores": 4.0, "memory_gib": 4.0}
    assert monday["packages"] == {unit: {"min": 2, "max": 4}}
    assert tuesday["free_min"] == tuesday["free_max"] == {"cores": 4.0, "memory_gib": 4.0}
    hours = await api.ok("GET", f"pools/{pool}/availability?start={iso(start)}&end={iso(start + timedelta(hours=7))}&grain=hour&package={unit}", admin)
    assert [b["packages"][unit]["min"] for b in hours["blocks"]] == [4, 3, 2, 3, 4, 2, 4]


async def test_package_counts_use_the_scarcer_resource(api, admin):
    start = next_monday()
    pool = await api.new_pool(admin, cores=10, memory_gib=8, start=start, days=1)
    memory_bound = await api.new_package(admin, cores=1, memory_gib=3)
    view = await api.ok("GET", f"pools/{pool}/availability?start={iso(start)}&end={iso(start + timedelta(days=1))}&grain=day", admin)
    block = view["blocks"][0]
    assert block["packages"][memory_bound] == {"min": 2, "max": 2}  # floor(min(10/1, 8/3))
    assert block["packages"]["small"] == {"min": 2, "max": 2}  # 1 core, 4 GiB
    assert block["packages"]["large"] == {"min": 0, "max": 0}


async def test_blocks_are_clipped_weeks_start_monday_months_on_the_first(api, admin):
    pool = await api.new_pool(admin, cores=1, memory_gib=1, start=day_start(0), days=90)
    wednesday = next_monday() + timedelta(days=2, hours=5)
    weeks = await api.ok("GET", f"pools/{pool}/availability?start={iso(wednesday)}&end={iso(wednesday + timedelta(days=14))}&grain=week", admin)
    starts = [datetime.fromisoformat(b["start"].replace("Z", "+00:00")) for b in weeks["blocks"]]
    assert starts[0] == wednesday
    assert all(s.weekday() == 0 and s.hour == 0 for s in starts[1:])
    assert weeks["blocks"][-1]["end"] == iso(wednesday + timedelta(days=14))
    first = day_start(0).replace(day=1) + timedelta(days=40)
    months = await api.ok("GET", f"pools/{pool}/availability?start={iso(first)}&end={iso(first + timedelta(days=70))}&grain=month", admin)
    assert all(b["start"][8:10] == "01" for b in months["blocks"][1:])


async def test_outside_any_grant_nothing_is_free(api, admin):
    start = next_monday()
    pool = await api.new_pool(admin, cores=2, memory_gib=2, start=start, days=1)
    view = await api.ok("GET", f"pools/{pool}/availability?start={iso(start)}&end={iso(start + timedelta(days=3))}&grain=day", admin)
    assert [b["free_max"]["cores"] for b in view["blocks"]] == [2.0, 0.0, 0.0]


async def test_text_picture(api, admin):
    start = next_monday()
    pool = await api.new_pool(admin, cores=2, memory_gib=8, start=start, days=7)
    # Tuesday: one small for the whole day; Thursday: two smalls for two hours
    await api.ok("POST", "bookings", admin, {"pool": pool, "package": "small", "start": iso(start + timedelta(days=1)),
                                             "end": iso(start + timedelta(days=2))})
    for _ in range(2):
        await api.ok("POST", "bookings", admin, {"pool": pool, "package": "small", "start": iso(start + timedelta(days=3, hours=1)),
                                                 "end": iso(start + timedelta(days=3, hours=3))})
    resp = await api.call("GET", f"pools/{pool}/availability?start={iso(start)}&end={iso(start + timedelta(days=7))}&grain=day&package=small",
                          admin, headers={"Accept": "text/plain"})
    assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/plain")
    lines = resp.body.decode().splitlines()
    assert lines[0].startswith(f"pool {pool}, day blocks from {iso(start)}")
    assert lines[1] == "small === === === ~~~ === === ==="
    assert lines[2] == "      Mon Tue Wed Thu Fri Sat Sun"
    resp = await api.call("GET", f"pools/{pool}/availability?start={iso(start)}&end={iso(start + timedelta(days=1))}&grain=day",
                          admin, headers={"Accept": "application/json"})
    assert resp.json()["blocks"]


async def test_availability_moves_with_bookings_from_another_process(hub, admin):
    """Two processes on one PostgreSQL database: a booking made through one is seen by the
    other's in-memory timeline on its next query."""
    from tests.booking_service.conftest import BookingAPI

    one, two = BookingAPI(hub, "booking-pg"), BookingAPI(hub, "booking-pg2")
    start = next_monday()
    pool = await one.new_pool(admin, cores=2, memory_gib=8, start=start, days=1)
    query = f"pools/{pool}/availability?start={iso(start)}&end={iso(start + timedelta(hours=1))}&grain=hour&package=small"
    assert (await two.ok("GET", query, admin))["blocks"][0]["packages"]["small"]["max"] == 2
    booking = await one.ok("POST", "bookings", admin, {"pool": pool, "package": "small", "start": iso(start),
                                                       "end": iso(start + timedelta(hours=1))})
    assert (await two.ok("GET", query, admin))["blocks"][0]["packages"]["small"]["max"] == 1
    await two.ok("DELETE", f"bookings/{booking['id']}", admin)
    assert (await one.ok("GET", query, admin))["blocks"][0]["packages"]["small"]["max"] == 2


def next_spring_forward(zone: ZoneInfo) -> datetime:
    """The UTC midnight of the next day on which `zone`'s clocks go forward."""
    day = day_start(1)
    while (day + timedelta(days=1)).astimezone(zone).utcoffset() <= day.astimezone(zone).utcoffset():
        day += timedelta(days=1)
    return day


async def test_blocks_follow_the_callers_time_zone_across_daylight_saving(api, admin):
    """A London user's calendar: days start at London's midnight, the day the clocks go
    forward has 23 hours, and a booking of that local day fills exactly its block."""
    london = ZoneInfo("Europe/London")
    change = next_spring_forward(london)  # 00:00 UTC = 00:00 GMT of the short day
    pool = await api.new_pool(admin, cores=1, memory_gib=4, start=day_start(0), days=(change - day_start(0)).days + 5)
    unit = await api.new_package(admin, cores=1, memory_gib=1)
    await api.ok("POST", "bookings", admin, {"pool": pool, "package": unit, "start": iso(change),
                                             "end": iso(change + timedelta(hours=23))})
    query = f"pools/{pool}/availability?start={iso(change - timedelta(days=1))}&end={iso(change + timedelta(days=2))}&grain=day"
    local = await api.ok("GET", query + "&tz=Europe/London&package=" + unit, admin)
    assert local["tz"] == "Europe/London"
    assert [(b["start"], b["end"]) for b in local["blocks"]] == [
        (iso(change - timedelta(days=1)), iso(change)),
        (iso(change), iso(change + timedelta(hours=23))),  # 23 hours
        (iso(change + timedelta(hours=23)), iso(change + timedelta(hours=47))),
        (iso(change + timedelta(hours=47)), iso(change + timedelta(days=2))),  # clipped: 00:00 to 01:00 BST
    ]
    assert [b["packages"][unit]["max"] for b in local["blocks"]] == [1, 0, 1, 1]
    in_utc = await api.ok("GET", query + "&package=" + unit, admin)
    assert in_utc["tz"] == "UTC" and len(in_utc["blocks"]) == 3
    assert [b["packages"][unit]["max"] for b in in_utc["blocks"]] == [1, 1, 1]  # 23:00 to 24:00 UTC is free
    resp = await api.call("GET", query + "&tz=Europe/London", admin, headers={"Accept": "text/plain"})
    lines = resp.body.decode().splitlines()
    assert lines[0].endswith("in Europe/London") and lines[-1].split()[:2] == [
        (change - timedelta(days=1)).strftime("%a"), change.strftime("%a")]


async def test_an_unknown_time_zone_is_a_400_that_names_it(api, admin):
    pool = await api.new_pool(admin, cores=1, memory_gib=1)
    base = f"pools/{pool}/availability?start={iso(day_start(0))}&end={iso(day_start(2))}&grain=day&tz="
    for tz in ("Mars/Olympus_Mons", "../../../etc/passwd", "Europe/London/../../x", "A" * 150, "Europe/ London", "%00"):
        resp = await api.call("GET", base + quote(tz, safe=""), admin)
        assert resp.status == 400, (tz, resp.status)
        assert resp.json()["status"] == 400 and "'tz'" in resp.json()["message"]
    assert (await api.call("GET", base + "Asia/Kathmandu", admin)).status == 200
