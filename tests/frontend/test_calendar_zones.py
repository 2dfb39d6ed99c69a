"""The calendar in the user's time zone, in real Chromium: a browser on London's clock sees
a daylight-saving day of 23 hours (and one of 25) and books London's hours by clicking; the
zone selector moves the grid's columns to Kolkata's midnights and is remembered; a trial
user sees what is free and where to register; the pool is the one the API lists, not a
name built in. Every booking is checked through the API, in UTC. And the page's own zone
arithmetic (frontend/calendar/src/zone.ts, run in Chromium) agrees with the engine's."""

from __future__ import annotations

import subprocess
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import Page, expect

from booking_service.engine.calendar import block_boundaries
from tests.booking_service.conftest import BookingAPI, day_start, iso
from tests.frontend.conftest import REPO, cell, date_label, expect_grid, log_in, new_name, next_monday, show_pool

pytestmark = pytest.mark.browser

LONDON = ZoneInfo("Europe/London")
KOLKATA = ZoneInfo("Asia/Kolkata")
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)


def midnight(day: date, zone: ZoneInfo) -> datetime:
    """The UTC instant of `day`'s midnight on `zone`'s clock (neither zone here skips one)."""
    return datetime.combine(day, time(), zone).astimezone(timezone.utc)


def next_london_day(hours: int) -> date:
    """The next London day after today that lasts `hours` hours (23 in March, 25 in October)."""
    day = datetime.now(LONDON).date() + DAY
    while midnight(day + DAY, LONDON) - midnight(day, LONDON) != timedelta(hours=hours):
        day += DAY
    return day


async def show_custom(page: Page, pool: str, first: date, last: date, blocks: str) -> None:
    await page.get_by_role("button", name="Custom range").click()
    await page.locator("#custom-from").fill(first.isoformat())
    await page.locator("#custom-to").fill(last.isoformat())
    await page.locator("#custom-grain").select_option(blocks)
    await page.get_by_role("button", name="Show", exact=True).click()
    await expect_grid(page, pool, f"by {blocks[:-1]} (Europe/London)")


async def headers(page: Page) -> list[dict]:
    return await page.locator("table.grid thead th.col-head").evaluate_all(
        "ths => ths.map(th => ({short: th.firstChild.textContent, long: th.title, start: th.dataset.start}))")


async def bookings_of(booking: BookingAPI, admin, user: str, pool: str) -> list[dict]:
    listed = await booking.ok("GET", f"bookings?user={user}&pool={pool}&start={iso(day_start(-1))}"
                                     f"&end={iso(day_start(400))}", admin)
    return listed["bookings"]


@pytest.mark.parametrize("context_options", [{"timezone_id": "Europe/London"}], ids=["london"])
async def test_in_london_a_daylight_saving_day_has_23_hours_and_a_click_books_london_hours(
        hub, booking, admin, page, console_errors):
    spring, autumn = next_london_day(23), next_london_day(25)
    today = day_start(0)
    pool = await booking.new_pool(admin, cores=8, memory_gib=32, start=today,
                                  days=(max(spring, autumn) - today.date()).days + 3)
    # an admin books any distance ahead; a daylight-saving day may be months away
    await log_in(page, hub, admin.name)
    await expect(page.locator("#calendar-zone")).to_have_value("Europe/London")  # the browser's
    await show_pool(page, pool)

    # the spring day in hours: 23 columns, 01:00 skipped, cut at London's full hours
    await show_custom(page, pool, spring, spring, "hours")
    columns = await headers(page)
    assert [c["short"] for c in columns] == ["00"] + [f"{h:02d}" for h in range(2, 24)]
    assert [c["start"] for c in columns] == [iso(midnight(spring, LONDON) + i * HOUR) for i in range(23)]
    assert columns[1]["long"] == f"{date_label(midnight(spring, LONDON))} 02:00 Europe/London (UTC+1)"
    # a click on 09:00 books 09:00 to 10:00 London time (BST, so 08:00 UTC)
    nine = datetime.combine(spring, time(9), LONDON)
    await cell(page, "medium", 8).click()
    await page.get_by_role("button", name="Book medium").click()
    await expect(page.get_by_role("status")).to_contain_text(
        f"from {date_label(nine)}, 09:00 to 10:00 Europe/London")
    [hour] = await bookings_of(booking, admin, admin.name, pool)
    assert (hour["start"], hour["end"]) == (iso(nine), iso(nine + HOUR))

    # the same week in days: the Sunday is a 23-hour block, and booking it books 23 hours
    await show_custom(page, pool, spring - 6 * DAY, spring, "days")
    await cell(page, "medium", 6).click()
    await expect(page.locator(".selection")).to_contain_text("(23 hours)")
    await page.get_by_role("button", name="Book medium").click()
    await expect(page.get_by_role("status")).to_contain_text("Booked medium")
    whole = [b for b in await bookings_of(booking, admin, admin.name, pool) if b["id"] != hour["id"]]
    assert [(b["start"], b["end"]) for b in whole] == [(iso(midnight(spring, LONDON)), iso(midnight(spring + DAY, LONDON)))]
    card = page.locator(f'article[data-booking-id="{whole[0]["id"]}"]')
    await expect(card).to_contain_text(f"{date_label(spring)}, 00:00 to {date_label(spring + DAY)}, 00:00 Europe/London")

    # the autumn day: 25 hours, 01:00 twice, told apart by their offsets
    await show_custom(page, pool, autumn, autumn, "hours")
    columns = await headers(page)
    assert len(columns) == 25 and [c["short"] for c in columns[:4]] == ["00", "01", "01", "02"]
    assert [c["long"].rsplit(" ", 1)[-1] for c in columns[1:3]] == ["(UTC+1)", "(UTC)"]
    assert console_errors == []


async def test_the_zone_selector_moves_the_columns_to_kolkata_and_is_remembered(hub, booking, admin, page,
                                                                             console_errors):
    pool = await booking.new_pool(admin, cores=8, memory_gib=32)
    name = new_name("kolkata")
    await log_in(page, hub, name)
    await expect(page.locator("#calendar-zone")).to_have_value("UTC")  # the browser's here
    await show_pool(page, pool)
    await page.get_by_role("button", name="Day", exact=True).click()
    await expect_grid(page, pool, "by hour (UTC)")
    columns = await headers(page)
    assert columns[0]["start"] == iso(day_start(0)) and columns[9]["long"].endswith("09:00 UTC")

    await page.locator("#calendar-zone").select_option("Asia/Kolkata")
    await expect_grid(page, pool, "by hour (Asia/Kolkata)")
    # the same date from Kolkata's midnight: every hour block starts at half past a UTC hour
    columns = await headers(page)
    kolkata_midnight = midnight(day_start(0).date(), KOLKATA)
    assert [c["start"] for c in columns] == [iso(kolkata_midnight + i * HOUR) for i in range(24)]
    assert columns[9]["long"] == f"{date_label(day_start(0))} 09:00 Asia/Kolkata"
    await expect(page.locator("#grid-help")).to_contain_text("Times are Asia/Kolkata.")
    await expect(page.get_by_text("From yesterday on, by start. Times are Asia/Kolkata.")).to_be_visible()

    # next week's Wednesday on Kolkata's clock, booked by a click: from 18:30 UTC the day before
    await page.get_by_role("button", name="Week", exact=True).click()
    await page.get_by_role("button", name="Later").click()
    await expect_grid(page, pool, date_label(next_monday()))
    wednesday = midnight((next_monday() + 2 * DAY).date(), KOLKATA)
    await cell(page, "medium", 2).click()
    await page.get_by_role("button", name="Book medium").click()
    await expect(page.get_by_role("status")).to_contain_text(
        f"from {date_label(wednesday.astimezone(KOLKATA))}, 00:00 to")
    [made] = (await booking.ok("GET", f"bookings?user={name}&pool={pool}", admin))["bookings"]
    assert (made["start"], made["end"]) == (iso(wednesday), iso(wednesday + DAY))
    assert made["start"].endswith("T18:30:00Z")

    # a new visit keeps the zone (and the pool)
    await page.reload()
    await expect(page.locator("#calendar-zone")).to_have_value("Asia/Kolkata")
    await expect_grid(page, pool, "(Asia/Kolkata)")
    assert console_errors == []


async def test_a_trial_user_sees_what_is_free_and_where_to_register(hub, booking, admin, page, console_errors):
    pool = await booking.new_pool(admin, cores=8, memory_gib=32)
    trial = await hub.new_user(groups=["level-0"], prefix="trial")
    await log_in(page, hub, trial.name)
    await show_pool(page, pool)
    allowance = page.locator(".allowance")
    await expect(allowance).to_contain_text("cannot book ahead; you can still see what is free")
    await expect(allowance.get_by_role("link", name="Register")).to_have_attribute("href", "/hub/register")

    # every package's row, largest first, though the level may book none of them
    packages = (await booking.ok("GET", "packages", trial))["packages"]
    by_size = sorted(packages, key=lambda p: (-p["footprint"]["cores"], -p["footprint"]["memory_gib"], p["name"]))
    rows = await page.locator("table.grid th.row-head .row-name").all_inner_texts()
    assert rows == [p["name"] for p in by_size] and "medium" in rows

    await page.get_by_role("button", name="Later").click()
    await expect_grid(page, pool, date_label(next_monday()))
    wednesday = cell(page, "medium", 2)
    await expect(wednesday).to_have_attribute(
        "aria-label", f"medium, {date_label(next_monday() + 2 * DAY)}: fits for the whole day: 2 side by side; "
                      "your account level cannot book")
    await expect(wednesday).to_have_attribute("aria-disabled", "true")
    await wednesday.click(force=True)  # a click on a cell that says it is disabled
    await expect(page.locator("td[aria-selected=true]")).to_have_count(0)
    await expect(page.locator(".selection")).to_be_hidden()
    await expect(page.get_by_role("heading", name="Book now")).to_have_count(0)
    assert console_errors == []


async def test_the_pool_is_the_first_the_api_lists_and_the_choice_is_remembered(hub, booking, admin, page,
                                                                               console_errors):
    await booking.new_pool(admin)
    chosen = await booking.new_pool(admin)
    shared = await booking.new_pool(admin, kind="shared")
    listed = (await booking.ok("GET", "pools", admin))["pools"]
    reserved = [p["name"] for p in listed if p["kind"] == "reserved"]
    await log_in(page, hub, new_name("pools"))
    await expect_grid(page, reserved[0])  # no name built in: the first bookable pool listed
    options = await page.locator("#calendar-pool option").evaluate_all("options => options.map(o => o.value)")
    assert options == reserved and shared not in options

    await show_pool(page, chosen)
    await page.reload()
    await expect_grid(page, chosen)
    await expect(page.locator("#calendar-pool")).to_have_value(chosen)
    assert console_errors == []


# The page's zone arithmetic against the engine's, in Chromium: where days, weeks and months
# start in zones with the awkward changes (at midnight, by half an hour, a skipped day,
# twice a year for Ramadan), over years whose rules every tz database agrees on.
ZONES = ["Europe/London", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe", "America/Havana",
         "America/Santiago", "Pacific/Apia", "Asia/Tehran", "Africa/Casablanca", "Asia/Gaza"]
SPAN = (datetime(2010, 1, 1, tzinfo=timezone.utc), datetime(2026, 1, 1, tzinfo=timezone.utc))

PERIOD_STARTS = """([names, from, to]) => {
  const [start, end] = [new Date(from), new Date(to)];
  const iso = (d) => d.toISOString().replace(".000Z", "Z");
  const walk = (first, next) => {
    const out = [];
    for (let t = first <= start ? next(first) : first; t < end; t = next(t)) out.push(iso(t));
    return out;
  };
  return Object.fromEntries(names.map((name) => {
    const z = new Zones.Zone(name);
    return [name, {
      day: walk(z.dayStart(start), (t) => z.addDays(t, 1)),
      week: walk(z.weekStart(start), (t) => z.addDays(t, 7)),
      month: walk(z.monthStart(start), (t) => z.addMonths(t, 1)),
    }];
  }));
}"""


async def test_the_pages_zone_arithmetic_agrees_with_the_engine(chromium):
    bundle = subprocess.run(
        [str(REPO / "node_modules" / ".bin" / "esbuild"), str(REPO / "frontend" / "calendar" / "src" / "zone.ts"),
         "--bundle", "--format=iife", "--global-name=Zones", "--log-level=warning"],
        check=True, capture_output=True, text=True).stdout
    context = await chromium.new_context(timezone_id="UTC")
    try:
        page = await context.new_page()
        await page.add_script_tag(content=bundle)
        found = await page.evaluate(PERIOD_STARTS, [ZONES, iso(SPAN[0]), iso(SPAN[1])])
        for name in ZONES:
            for grain in ("day", "week", "month"):
                inside = block_boundaries(*SPAN, grain, 10_000, ZoneInfo(name))[1:-1]
                assert found[name][grain] == [iso(t) for t in inside], (name, grain)
        # a datetime-local input's time: in a skipped hour, the moment the clock jumps past
        # it; in a repeated one, the first of the two
        read = "([y, m, d, hh, mm]) => new Zones.Zone('Europe/London').at(y, m, d, hh, mm).toISOString()"
        assert await page.evaluate(read, [2027, 3, 28, 1, 30]) == "2027-03-28T01:00:00.000Z"
        assert await page.evaluate(read, [2027, 10, 31, 1, 30]) == "2027-10-31T00:30:00.000Z"
        assert await page.evaluate(read, [2027, 7, 1, 9, 0]) == "2027-07-01T08:00:00.000Z"
    finally:
        await context.close()
