"""The booking calendar in real Chromium: log in through the hub, book by clicking and by
keyboard, see, extend and cancel the booking, take an alternative after a 409, and an
admin adds capacity; every step is checked against the booking API, not just the page."""

from __future__ import annotations

import re
import shutil
from datetime import datetime, timedelta

import pytest
from playwright.async_api import Page, expect

from tests.booking_service.conftest import BookingAPI, day_start, iso
from tests.browser import SCREENSHOTS
from tests.frontend.conftest import REPO, cell, date_label, expect_grid, log_in, new_name, next_monday, show_pool

pytestmark = pytest.mark.browser

DOCS_SCREENSHOT = REPO / "docs" / "screenshots" / "calendar.png"
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)


async def next_week(page: Page, pool: str) -> None:
    await page.get_by_role("button", name="Later").click()
    await expect_grid(page, pool, date_label(next_monday()))


async def bookings_of(booking: BookingAPI, admin, user: str, pool: str) -> list[dict]:
    listed = await booking.ok("GET", f"bookings?user={user}&pool={pool}&start={iso(day_start(-1))}&end={iso(day_start(60))}",
                              admin)
    return listed["bookings"]


async def test_book_a_medium_package_by_clicking_then_extend_and_cancel(hub, booking, admin, page, console_errors):
    pool = await booking.new_pool(admin, cores=8, memory_gib=32)
    name = new_name("clicker")
    await log_in(page, hub, name)
    await show_pool(page, pool)
    # a basic user is offered the packages of their level, largest first, and no tiny
    rows = await page.locator("table.grid th.row-head .row-name").all_inner_texts()
    assert rows == ["large", "medium", "small"]

    await next_week(page, pool)
    wednesday = next_monday() + 2 * DAY
    target = cell(page, "medium", 2)
    await expect(target).to_have_attribute("aria-label", f"medium, {date_label(wednesday)}: fits for the whole day: 2 side by side")
    await target.click()
    await expect(page.locator("td[aria-selected=true]")).to_have_count(1)
    await page.get_by_role("button", name="Book medium").click()
    await expect(page.get_by_role("status")).to_contain_text("Booked medium")

    [made] = await bookings_of(booking, admin, name, pool)
    assert (made["package"]["name"], made["start"], made["end"], made["state"]) == (
        "medium", iso(wednesday), iso(wednesday + DAY), "booked")
    # on the grid (overlaid) and in my bookings
    await expect(target).to_have_class("cell fits mine")
    await expect(target).to_have_attribute("aria-label", f"medium, {date_label(wednesday)}: fits for the whole day: "
                                                         f"1 side by side; your booking #{made['id']}")
    card = page.locator(f'article[data-booking-id="{made["id"]}"]')
    await expect(card).to_contain_text(f"medium on {pool}")
    await expect(card).to_contain_text("upcoming")

    await card.get_by_label(f"Extend #{made['id']} by").select_option(label="2 hours")
    await card.get_by_role("button", name="Extend").click()
    await expect(page.get_by_role("status")).to_contain_text(f"Booking #{made['id']} (medium on {pool}) now ends")
    [extended] = await bookings_of(booking, admin, name, pool)
    assert extended["end"] == iso(wednesday + DAY + 2 * HOUR)
    await expect(cell(page, "medium", 3)).to_have_class("cell fits mine")  # Thursday's first two hours

    card = page.locator(f'article[data-booking-id="{made["id"]}"]')
    await card.get_by_role("button", name="Cancel booking…").click()
    await card.get_by_role("button", name="Yes, cancel it").click()
    await expect(page.get_by_role("status")).to_contain_text(f"Booking #{made['id']} (medium on {pool}) is cancelled")
    [cancelled] = await bookings_of(booking, admin, name, pool)
    assert (cancelled["state"], cancelled["status"]) == ("cancelled", "cancelled")
    await expect(page.locator(f'article[data-booking-id="{made["id"]}"]')).to_have_count(0)
    await expect(target).to_have_class("cell fits")
    assert console_errors == []


async def test_a_refused_booking_offers_the_alternatives_and_one_click_books_one(hub, booking, admin, page,
                                                                                 console_errors):
    pool = await booking.new_pool(admin, cores=4, memory_gib=16)  # room for one medium (3 cores, 12 GiB)
    wednesday = next_monday() + 2 * DAY
    await booking.ok("POST", "bookings", admin, {"pool": pool, "package": "medium", "start": iso(wednesday),
                                                 "end": iso(wednesday + DAY)})
    name = new_name("refused")
    await log_in(page, hub, name)
    await show_pool(page, pool)
    await next_week(page, pool)
    full = cell(page, "medium", 2)
    await expect(full).to_have_attribute("data-fit", "none")
    await full.click()
    await expect(page.locator(".selection")).to_contain_text("not free throughout")
    await page.get_by_role("button", name="Book medium").click()

    # the API's message in the alert region, and its alternatives as buttons
    await expect(page.get_by_role("alert")).to_contain_text(f"Pool '{pool}' has only")
    alternatives = page.locator(".alternatives button")
    await expect(alternatives.first).to_be_focused()
    assert await bookings_of(booking, admin, name, pool) == []
    thursday = wednesday + DAY
    await expect(alternatives.first).to_have_text(f"Book {date_label(thursday)}, 00:00 to {date_label(thursday + DAY)}, "
                                                  "00:00 UTC")
    await alternatives.first.click()
    await expect(page.get_by_role("status")).to_contain_text("Booked medium")
    await expect(page.get_by_role("alert")).to_be_empty()
    [made] = await bookings_of(booking, admin, name, pool)
    assert (made["package"]["name"], made["start"], made["end"]) == ("medium", iso(thursday), iso(thursday + DAY))
    await expect(cell(page, "medium", 3)).to_have_class("cell none mine")
    assert console_errors == []


async def test_keyboard_only_booking(hub, booking, admin, page, console_errors):
    pool = await booking.new_pool(admin, cores=8, memory_gib=32)
    name = new_name("keyboard")
    await log_in(page, hub, name)
    await show_pool(page, pool)
    later = page.get_by_role("button", name="Later")
    await later.focus()
    await page.keyboard.press("Enter")
    await expect_grid(page, pool, date_label(next_monday()))
    # Tab from "Later" reaches the grid: one tab stop, its first open cell (large, Monday)
    await page.keyboard.press("Tab")
    await expect(cell(page, "large", 0)).to_be_focused()
    await page.keyboard.press("ArrowDown")
    await page.keyboard.press("ArrowRight")
    await page.keyboard.press("ArrowRight")
    await expect(cell(page, "medium", 2)).to_be_focused()
    await page.keyboard.press("Enter")
    await page.keyboard.press("Shift+ArrowRight")  # stretch to Thursday
    await expect(page.get_by_role("status")).to_contain_text("Selected medium")
    await expect(page.locator("td[aria-selected=true]")).to_have_count(2)
    await page.keyboard.press("Tab")
    book = page.get_by_role("button", name="Book medium")
    await expect(book).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("status")).to_contain_text("Booked medium")
    wednesday = next_monday() + 2 * DAY
    [made] = await bookings_of(booking, admin, name, pool)
    assert (made["package"]["name"], made["start"], made["end"]) == ("medium", iso(wednesday), iso(wednesday + 2 * DAY))
    assert console_errors == []


async def test_book_now_for_the_next_hours(hub, booking, admin, page, console_errors):
    pool = await booking.new_pool(admin, cores=8, memory_gib=32)
    name = new_name("now")
    await log_in(page, hub, name)
    await show_pool(page, pool)
    await page.get_by_label("Package", exact=True).select_option("small")
    await page.get_by_label("For the next (hours)").fill("3")
    await page.get_by_role("button", name="Book now").click()
    await expect(page.get_by_role("status")).to_contain_text("Booked small")
    [made] = await bookings_of(booking, admin, name, pool)
    length = datetime.fromisoformat(made["end"]) - datetime.fromisoformat(made["start"])
    assert (made["package"]["name"], made["status"], length) == ("small", "active", 3 * HOUR)
    # a level-1 user may book at most 72 hours: the service's refusal is shown as it said it
    await page.get_by_label("For the next (hours)").fill("100")
    await page.get_by_label("For the next (hours)").evaluate("input => input.removeAttribute('max')")
    await page.get_by_role("button", name="Book now").click()
    await expect(page.get_by_role("alert")).to_contain_text("last at most 72 hours")
    assert len(await bookings_of(booking, admin, name, pool)) == 1


async def test_day_month_and_custom_views(hub, booking, admin, page, console_errors):
    pool = await booking.new_pool(admin, cores=8, memory_gib=32, days=120)
    await log_in(page, hub, new_name("viewer"))
    await show_pool(page, pool)
    columns = page.locator("table.grid thead th.col-head")
    await expect(columns).to_have_count(7)  # the week, in days

    await page.get_by_role("button", name="Day", exact=True).click()
    await expect(page.get_by_role("button", name="Day", exact=True)).to_have_attribute("aria-pressed", "true")
    await expect_grid(page, pool, "by hour")
    await expect(columns).to_have_count(24)
    await expect(columns.nth(9)).to_have_attribute("title", f"{date_label(day_start(0))} 09:00 UTC")

    await page.get_by_role("button", name="Month", exact=True).click()
    await expect_grid(page, pool, "by day")
    today = day_start(0)
    first = today.replace(day=1)
    days = ((first + timedelta(days=32)).replace(day=1) - first).days
    await expect(columns).to_have_count(days)

    await page.get_by_role("button", name="Custom range").click()
    start = next_monday()
    await page.get_by_label("From", exact=True).fill(start.strftime("%Y-%m-%d"))
    await page.get_by_label("To (inclusive)").fill((start + timedelta(weeks=8) - DAY).strftime("%Y-%m-%d"))
    await page.get_by_label("Blocks of").select_option("week")
    await page.get_by_role("button", name="Show", exact=True).click()
    await expect_grid(page, pool, "by week")
    await expect(columns).to_have_count(8)
    # every week here has room for two mediums (3 of 8 cores, 12 of 32 GiB) throughout
    await expect(cell(page, "medium", 7)).to_have_attribute("aria-label", re.compile(r"fits for the whole week: 2 side"))
    # too far ahead for a basic level (30 days) is shown but not offered
    await expect(cell(page, "medium", 7)).to_have_attribute("aria-disabled", "true")
    await expect(cell(page, "medium", 0)).not_to_have_attribute("aria-disabled", "true")
    assert console_errors == []


async def test_an_admin_adds_capacity_and_sees_it_in_the_timeline(hub, booking, admin, page, console_errors):
    pool = await booking.new_pool(admin, cores=0, memory_gib=0)  # no capacity yet
    await log_in(page, hub, admin.name)
    await page.get_by_role("tab", name="Pools and capacity").click()
    section = page.locator(f'section.pool-timeline[data-pool="{pool}"]')
    await expect(section).to_contain_text("No capacity in this range.")
    start = day_start(2)
    form = page.locator("form", has=page.get_by_role("heading", name="Add capacity"))
    await form.get_by_label("Pool").select_option(pool)
    await form.get_by_label("Start (UTC)").fill(start.strftime("%Y-%m-%dT%H:%M"))
    await form.get_by_label("End (UTC)").fill((start + 10 * DAY).strftime("%Y-%m-%dT%H:%M"))
    await form.get_by_label("Cores").fill("3")
    await form.get_by_label("Memory (GiB)").fill("6")
    await form.get_by_role("button", name="Add capacity").click()
    await expect(page.get_by_role("status")).to_contain_text(f"Added 3 cores, 6 GiB to pool {pool}")

    grants = await booking.ok("GET", f"pools/{pool}/capacity?start={iso(day_start(0))}&end={iso(day_start(30))}", admin)
    [grant] = grants["grants"]
    assert (grant["start"], grant["end"], grant["cores"], grant["memory_gib"], grant["created_by"]) == (
        iso(start), iso(start + 10 * DAY), 3.0, 6.0, admin.name)
    bar = section.locator(f'li.bar.grant[data-grant-id="{grant["id"]}"]')
    await expect(bar).to_contain_text(f"3 cores, 6 GiB, {date_label(start)}, 00:00 to {date_label(start + 10 * DAY)}")
    totals = section.locator("li.bar.total")
    await expect(totals).to_have_text([
        f"no capacity, {date_label(day_start(0))}, 00:00 to {date_label(start)}, 00:00 UTC",
        f"3 cores, 6 GiB, {date_label(start)}, 00:00 to {date_label(start + 10 * DAY)}, 00:00 UTC",
        f"no capacity, {date_label(start + 10 * DAY)}, 00:00 to {date_label(day_start(30))}, 00:00 UTC",
    ])
    # the bar sits where its days are: 2 of the 30 days in, 10 days wide
    left, width = await bar.evaluate("bar => [bar.style.left, bar.style.width]")
    assert (float(left.rstrip("%")), float(width.rstrip("%"))) == pytest.approx((100 * 2 / 30, 100 * 10 / 30), abs=1e-3)

    # the other admin views: package templates with their versions, and everyone's bookings
    await page.get_by_role("tab", name="Packages").click()
    await expect(page.get_by_role("row", name="medium").first).to_contain_text("3 cores, 12 GiB")
    await page.get_by_role("tab", name="Everyone's bookings").click()
    await expect(page.locator("#panel-all-bookings")).to_contain_text(re.compile(r"\d+ bookings?\."))
    assert console_errors == []


async def test_the_page_is_locked_down_and_cache_busted(hub, booking, admin, page):
    name = new_name("headers")
    await log_in(page, hub, name)
    landing = await page.request.get(hub.url + "services/booking/")
    csp = landing.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp
    html = await landing.text()
    assert '<meta name="xsrf-token" content="' in html
    script = await page.locator("script[src]").get_attribute("src")
    assert script.startswith("/services/booking/static/calendar.js?v=")
    asset = await page.request.get(hub.url + script.lstrip("/"))
    assert asset.status == 200 and "max-age" in asset.headers["cache-control"]


async def test_screenshot_of_the_calendar_for_the_readme(hub, booking, admin, page, console_errors):
    """A week with some of everything: free days, a busy afternoon (fits at times only),
    a full day, and the user's own booking; saved to docs/screenshots/calendar.png."""
    pool = await booking.new_pool(admin, cores=12, memory_gib=48)
    monday = next_monday()
    busy = [(monday + DAY + 9 * HOUR, monday + DAY + 17 * HOUR, 4, 16),
            (monday + 3 * DAY, monday + 4 * DAY, 10, 40),
            (monday + 5 * DAY + 12 * HOUR, monday + 6 * DAY, 3, 12)]
    for start, end, cores, memory in busy:
        await booking.ok("POST", "bookings", admin, {"pool": pool, "resources": {"cores": cores, "memory_gib": memory},
                                                     "start": iso(start), "end": iso(end)})
    name = new_name("ada")
    await log_in(page, hub, name)
    await show_pool(page, pool)
    await next_week(page, pool)
    await cell(page, "small", 4).click()
    await page.get_by_role("button", name="Book small").click()
    await expect(page.get_by_role("status")).to_contain_text("Booked small")
    await expect(cell(page, "small", 4)).to_have_class("cell fits mine")
    # drag along the medium row from Monday to Wednesday, then Shift-click back to Tuesday
    await cell(page, "medium", 0).hover()
    await page.mouse.down()
    await cell(page, "medium", 1).hover()
    await cell(page, "medium", 2).hover()
    await page.mouse.up()
    await expect(page.locator("td[aria-selected=true]")).to_have_count(3)
    await expect(page.locator(".selection")).to_contain_text("(3 days)")
    await cell(page, "medium", 1).click(modifiers=["Shift"])
    await expect(page.locator("td[aria-selected=true]")).to_have_count(2)
    await expect(page.locator(".selection")).to_contain_text("(2 days)")
    await expect(cell(page, "large", 1)).to_have_attribute("data-fit", "partial")
    await expect(cell(page, "large", 3)).to_have_attribute("data-fit", "none")
    await page.get_by_role("button", name="Dismiss").click()  # the message would cover the form
    await expect(page.get_by_role("status")).to_be_empty()
    DOCS_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shot = SCREENSHOTS / "calendar-week.png"
    await page.screenshot(path=str(shot), full_page=True)
    shutil.copyfile(shot, DOCS_SCREENSHOT)
    assert console_errors == []


async def test_on_a_phone_the_grid_scrolls_inside_the_page(hub, booking, admin, chromium):
    pool = await booking.new_pool(admin, cores=8, memory_gib=32)
    context = await chromium.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    context.set_default_timeout(15_000)
    page = await context.new_page()
    try:
        name = new_name("phone")
        await log_in(page, hub, name)
        await show_pool(page, pool)
        await next_week(page, pool)
        # the page itself does not scroll sideways; the grid does, inside its box
        page_width, box, inside = await page.evaluate("""() => {
            const scroller = document.querySelector('.grid-scroll');
            return [document.documentElement.scrollWidth, scroller.clientWidth, scroller.scrollWidth];
        }""")
        assert page_width <= 390 and box < inside
        # a tap on Monday, then one on Tuesday, selects both; then book them
        await cell(page, "small", 0).tap()
        await cell(page, "small", 1).tap()
        await expect(page.locator("td[aria-selected=true]")).to_have_count(2)
        await page.get_by_role("button", name="Book small").tap()
        await expect(page.get_by_role("status")).to_contain_text("Booked small")
        [made] = await bookings_of(booking, admin, name, pool)
        assert (made["start"], made["end"]) == (iso(next_monday()), iso(next_monday() + 2 * DAY))
        await page.screenshot(path=str(SCREENSHOTS / "calendar-phone.png"), full_page=True)
    finally:
        await context.close()
