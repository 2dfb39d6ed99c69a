""""Find me a slot" in real Chromium: ask for offers in a start window, see them held with a
countdown, accept one (its sibling is rejected), then see the booking's phase and its
history on its card; a window with no room answers NO with the service's message and a
button that searches again from the nearest later start. Every step is checked against
the booking API, not just the page."""

from __future__ import annotations

import re
import shutil
from datetime import timedelta

import pytest
from playwright.async_api import Page, expect

from tests.booking_service.conftest import day_start, iso
from tests.browser import SCREENSHOTS
from tests.frontend.conftest import REPO, date_label, log_in, new_name, show_pool

pytestmark = pytest.mark.browser

DOCS_SCREENSHOT = REPO / "docs" / "screenshots" / "find-a-slot.png"
HISTORY_SCREENSHOT = REPO / "docs" / "screenshots" / "booking-history.png"
HOUR = timedelta(hours=1)


def wall(moment) -> str:
    """A datetime-local field's value: the page's clock is UTC in these tests."""
    return moment.strftime("%Y-%m-%dT%H:%M")


async def ask(page: Page, pool: str, package: str, start, end, shortest: str, longest: str) -> None:
    form = page.locator("form.find-slot")
    await form.get_by_label("Which package").select_option(package)
    await form.get_by_label("Which pool").select_option(pool)
    await form.get_by_label("Start from").fill(wall(start))
    await form.get_by_label("Start by").fill(wall(end))
    await form.get_by_label("At least (hours)").fill(shortest)
    await form.get_by_label("At most (hours)").fill(longest)
    await form.get_by_role("button", name="Find slots").click()


async def test_find_a_slot_accept_an_offer_and_see_the_bookings_phase_and_history(hub, booking, admin, page,
                                                                                  console_errors):
    pool = await booking.new_pool(admin, cores=8, memory_gib=32)
    name = new_name("finder")
    await log_in(page, hub, name)
    await show_pool(page, pool)
    nine = day_start(1) + 9 * HOUR
    await ask(page, pool, "small", nine, nine + 3 * HOUR, "1", "2")

    offers = page.locator(".offer-card")
    await expect(offers).to_have_count(2)
    listed = await booking.ok("GET", f"bookings?user={name}&start={iso(day_start(0))}&end={iso(day_start(3))}", admin)
    assert listed["bookings"] == []  # offers are held, not yet bookings
    set_id = int(await page.locator(".offer-set").get_attribute("data-offer-set"))
    held = await booking.ok("GET", f"offersets/{set_id}", admin)
    assert [(o["start"], o["end"], o["phase"]) for o in held["offers"]] == [
        (iso(nine), iso(nine + 2 * HOUR), "OFFERED"), (iso(nine + 2 * HOUR), iso(nine + 4 * HOUR), "OFFERED")]
    day = date_label(nine)
    await expect(offers.nth(0)).to_contain_text(f"Offer 1: {day}, 09:00 to 11:00 UTC")
    await expect(offers.nth(0)).to_contain_text(f"2 hours · 1 core, 4 GiB · pool {pool}")
    await expect(offers.nth(1)).to_contain_text(f"Offer 2: {day}, 11:00 to 13:00 UTC")
    await expect(offers.nth(0).locator(".badge")).to_have_text("OFFERED")
    await expect(page.locator(".countdown")).to_have_text(re.compile(r"^Held for you for 4:[0-5]\d more \(until "))

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.locator(".slot-finder").screenshot(path=str(SCREENSHOTS / "find-a-slot.png"))
    shutil.copyfile(SCREENSHOTS / "find-a-slot.png", DOCS_SCREENSHOT)

    await page.get_by_role("button", name="Accept offer 2").click()
    await expect(page.get_by_role("status")).to_contain_text(
        f"Accepted offer 2: booked small on {pool} from {day}, 11:00 to 13:00 UTC")
    await expect(offers.nth(0).locator(".badge")).to_have_text("REJECTED")
    await expect(offers.nth(1).locator(".badge")).to_have_text("ACCEPTED")
    await expect(page.locator(".countdown")).to_have_count(0)
    await expect(page.get_by_role("button", name=re.compile("^Accept offer"))).to_have_count(0)
    answered = await booking.ok("GET", f"offersets/{set_id}", admin)
    assert [o["phase"] for o in answered["offers"]] == ["REJECTED", "ACCEPTED"]
    accepted = answered["offers"][1]

    # the booking in My bookings, with its phase, and its history on asking
    card = page.locator(f'article.booking-card[data-booking-id="{accepted["id"]}"]')
    await expect(card).to_contain_text(f"small on {pool}")
    await expect(card.locator(".badge.phase")).to_have_text("ACCEPTED")
    await card.get_by_role("button", name="History").click()
    await expect(card.get_by_role("button", name="History")).to_have_attribute("aria-expanded", "true")
    moves = card.locator(".history-list li")
    await expect(moves).to_have_count(2)
    seen = await booking.ok("GET", f"bookings/{accepted['id']}", admin)
    assert [(t["from"], t["to"], t["by"]) for t in seen["transitions"]] == [(None, "OFFERED", name),
                                                                              ("OFFERED", "ACCEPTED", name)]
    await expect(moves.nth(0)).to_have_text(re.compile(
        rf"^\(new\) → OFFERED\w{{3}} \d+ \w{{3}}, \d\d:\d\d UTC, by {name}"
        rf"offered in set {set_id}, for window 0$"))
    await expect(moves.nth(1)).to_have_text(re.compile(rf"^OFFERED → ACCEPTED.*, by {name}accepted by {name}$"))
    # the grid shows the booking as the user's own
    await expect(page.locator('button.cell[data-row="small"].mine')).not_to_have_count(0)

    await page.get_by_role("button", name="Dismiss").click()
    await page.locator(".calendar-layout").screenshot(path=str(SCREENSHOTS / "booking-history.png"))
    shutil.copyfile(SCREENSHOTS / "booking-history.png", HISTORY_SCREENSHOT)
    assert console_errors == []


async def test_a_window_with_no_room_says_no_and_searches_again_from_the_nearest_start(hub, booking, admin, page,
                                                                                        console_errors):
    pool = await booking.new_pool(admin, cores=1, memory_gib=4)  # room for one small (1 core, 4 GiB)
    nine = day_start(1) + 9 * HOUR
    await booking.ok("POST", "bookings", admin, {"pool": pool, "package": "small", "start": iso(nine),
                                                 "end": iso(nine + 3 * HOUR)})
    name = new_name("nofit")
    await log_in(page, hub, name)
    await show_pool(page, pool)
    # the page's own checks first: a window that ends before it starts, lengths upside down
    await ask(page, pool, "small", nine, nine - HOUR, "1", "1")
    await expect(page.get_by_role("alert")).to_have_text("The latest start must be after the earliest.")
    await ask(page, pool, "small", nine, nine + HOUR, "2", "1")
    await expect(page.get_by_role("alert")).to_have_text("The longest length must be at least the shortest.")
    await expect(page.locator(".offer-set")).to_have_count(0)  # nothing was asked

    await ask(page, pool, "small", nine, nine + HOUR, "1", "1")

    answer = page.locator(".offer-set.result-no")
    await expect(answer).to_contain_text("No offer fits")
    noon = nine + 3 * HOUR
    await expect(answer.locator(".offer-messages")).to_contain_text(
        f"the nearest later start that fits is {iso(noon)} in pool '{pool}'")
    again = answer.get_by_role("button", name=f"Search again from {date_label(noon)} {noon.year}, 12:00 UTC")
    await again.click()
    offers = page.locator(".offer-card")
    await expect(offers).to_have_count(1)
    await expect(offers.first).to_contain_text(f"Offer 1: {date_label(noon)}, 12:00 to 13:00 UTC")
    # the window asked again is as long as the first, from the nearest start
    await expect(page.locator("form.find-slot").get_by_label("Start from")).to_have_value(wall(noon))
    await expect(page.locator("form.find-slot").get_by_label("Start by")).to_have_value(wall(noon + HOUR))

    await page.get_by_role("button", name="Decline these offers").click()
    await expect(page.get_by_role("status")).to_contain_text("Declined the offers")
    await expect(offers.first.locator(".badge")).to_have_text("REJECTED")
    set_id = int(await page.locator(".offer-set").get_attribute("data-offer-set"))
    assert [o["phase"] for o in (await booking.ok("GET", f"offersets/{set_id}", admin))["offers"]] == ["REJECTED"]
    assert console_errors == []


@pytest.mark.parametrize("context_options", [{"timezone_id": "Asia/Kolkata"}])
async def test_the_window_is_read_on_the_pages_clock(hub, booking, admin, page, console_errors):
    """Typed on Kolkata's clock (UTC+5:30), the window goes to the API in UTC, the offers
    read on Kolkata's clock, and choosing UTC redraws both the window and the offers."""
    pool = await booking.new_pool(admin, cores=8, memory_gib=32)
    name = new_name("kolkata")
    await log_in(page, hub, name)
    await show_pool(page, pool)
    nine = day_start(1) + 9 * HOUR  # 14:30 in Kolkata
    form = page.locator("form.find-slot")
    await expect(form.get_by_label("Start from")).to_have_accessible_name("Start from (Asia/Kolkata)")
    await form.get_by_label("Which package").select_option("small")
    await form.get_by_label("Which pool").select_option(pool)
    await form.get_by_label("Start from").fill(wall(nine + 5.5 * HOUR))
    await form.get_by_label("Start by").fill(wall(nine + 6.5 * HOUR))
    await form.get_by_label("At least (hours)").fill("1")
    await form.get_by_label("At most (hours)").fill("1")
    await form.get_by_role("button", name="Find slots").click()
    offers = page.locator(".offer-card")
    await expect(offers.first).to_contain_text(f"Offer 1: {date_label(nine)}, 14:30 to 15:30 Asia/Kolkata")
    set_id = int(await page.locator(".offer-set").get_attribute("data-offer-set"))
    held = await booking.ok("GET", f"offersets/{set_id}", admin)
    assert (held["offers"][0]["start"], held["offers"][0]["end"]) == (iso(nine), iso(nine + HOUR))

    await page.get_by_label("Time zone").select_option("UTC")
    await expect(offers.first).to_contain_text(f"Offer 1: {date_label(nine)}, 09:00 to 10:00 UTC")
    await expect(form.get_by_label("Start from")).to_have_value(wall(nine))
    await expect(form.get_by_label("Start from")).to_have_accessible_name("Start from (UTC)")
    assert console_errors == []
