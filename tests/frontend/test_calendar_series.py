"""Recurring bookings in the calendar, in real Chromium: "Repeat" on a selection books a
series, its occurrences carry the series' mark, one is cancelled alone and then the
series; a series that does not fit says which occurrences and why, and "fit" books the
rest. Every step is checked against the booking API."""

from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.async_api import Page, expect

from tests.booking_service.conftest import BookingAPI, iso
from tests.frontend.conftest import cell, date_label, expect_grid, log_in, new_name, next_monday, show_pool

pytestmark = pytest.mark.browser

DAY = timedelta(days=1)
WEEK = timedelta(days=7)


async def week_after(page: Page, pool: str) -> None:
    await page.get_by_role("button", name="Later").click()
    await expect_grid(page, pool, date_label(next_monday()))


async def mine(booking: BookingAPI, admin, user: str, pool: str) -> list[dict]:
    start = next_monday()
    listed = await booking.ok("GET", f"bookings?user={user}&pool={pool}&start={iso(start)}&end={iso(start + 5 * WEEK)}",
                              admin)
    return listed["bookings"]


async def repeat_weekly(page: Page, times: int) -> None:
    await page.get_by_label("How often").select_option(label="Every week")
    await page.get_by_label("Occurrences", exact=True).fill(str(times))


async def test_repeat_books_a_weekly_series_cancelled_one_by_one_then_whole(hub, booking, admin, page, console_errors):
    pool = await booking.new_pool(admin, cores=8, memory_gib=32)
    name = new_name("repeater")
    await log_in(page, hub, name)
    await show_pool(page, pool)
    await week_after(page, pool)
    await cell(page, "medium", 2).click()  # Wednesday
    await repeat_weekly(page, 3)
    await page.get_by_role("button", name="Book medium").click()
    await expect(page.get_by_role("status")).to_contain_text(f"medium on {pool}, 3 occurrences.")

    made = await mine(booking, admin, name, pool)
    wednesday = next_monday() + 2 * DAY
    assert [(b["start"], b["end"]) for b in made] == [(iso(wednesday + k * WEEK), iso(wednesday + k * WEEK + DAY))
                                                      for k in range(3)]
    series = made[0]["series_id"]
    assert series is not None and {b["series_id"] for b in made} == {series}
    assert (await booking.ok("GET", f"series/{series}", admin))["rrule"] == "FREQ=WEEKLY;COUNT=3"
    # one item in My bookings: the series, holding its occurrences
    group = page.locator(f'article.series-card[data-series-id="{series}"]')
    await expect(group).to_contain_text(f"medium on {pool} series #{series}")
    await expect(group).to_contain_text("3 occurrences to come")
    cards = [group.locator(f'article[data-booking-id="{b["id"]}"]') for b in made]
    for card in cards:
        await expect(card).to_contain_text(f"series #{series}")
        await expect(card.get_by_role("button", name="Cancel series…")).to_have_count(0)

    # this one only
    await cards[1].get_by_role("button", name="Cancel this one…").click()
    await cards[1].get_by_role("button", name="Yes, cancel it").click()
    await expect(page.get_by_role("status")).to_contain_text(f"Booking #{made[1]['id']} (medium on {pool}) is cancelled")
    assert [b["state"] for b in await mine(booking, admin, name, pool)] == ["booked", "cancelled", "booked"]
    await expect(cards[1]).to_have_count(0)

    # then the series
    await expect(group).to_contain_text("2 occurrences to come")
    await group.get_by_role("button", name="Cancel series…").click()
    await group.get_by_role("button", name="Yes, cancel the series").click()
    await expect(page.get_by_role("status")).to_contain_text(f"Series #{series} is cancelled: 2 occurrences to come")
    assert {b["state"] for b in await mine(booking, admin, name, pool)} == {"cancelled"}
    await expect(page.locator(".booking-card, .series-card")).to_have_count(0)
    assert console_errors == []


async def test_a_series_that_does_not_fit_says_where_and_fit_books_the_rest(hub, booking, admin, page):
    pool = await booking.new_pool(admin, cores=4, memory_gib=16)  # room for one medium (3 cores, 12 GiB)
    wednesday = next_monday() + 2 * DAY
    await booking.ok("POST", "bookings", admin, {"pool": pool, "package": "medium", "start": iso(wednesday + WEEK),
                                                 "end": iso(wednesday + WEEK + DAY)})
    name = new_name("fitter")
    await log_in(page, hub, name)
    await show_pool(page, pool)
    await week_after(page, pool)
    await cell(page, "medium", 2).click()
    await repeat_weekly(page, 3)
    await page.get_by_role("button", name="Book medium").click()
    await expect(page.get_by_role("alert")).to_contain_text("1 of the series' 3 occurrences cannot be booked")
    report = page.locator(".alternatives .occurrence-list li")
    await expect(report).to_have_count(1)
    await expect(report.first).to_contain_text(f"{date_label(wednesday + WEEK)}, 00:00 to")
    await expect(report.first).to_contain_text(f"pool '{pool}' has only")
    assert await mine(booking, admin, name, pool) == []

    await page.get_by_label("Book the occurrences that fit, skip the others").check()
    await page.get_by_role("button", name="Book medium").click()
    await expect(page.get_by_role("status")).to_contain_text("2 occurrences; 1 skipped")
    await expect(page.locator(".alternatives h3")).to_contain_text("Skipped occurrences of series")
    made = await mine(booking, admin, name, pool)
    assert [b["start"] for b in made] == [iso(wednesday), iso(wednesday + 2 * WEEK)]
