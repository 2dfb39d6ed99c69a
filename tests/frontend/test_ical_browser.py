"""The calendar's "Subscribe in your calendar app" panel in real Chromium: make a feed,
copy its address, fetch it as a calendar application does (no cookie) and find the
booking in it; reload and find the same address there again; renew (the old address
stops) and revoke (the new one stops too)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from icalendar import Calendar
from playwright.async_api import Page, expect

from tests.booking_service.conftest import day_start, iso
from tests.frontend.conftest import log_in, new_name

pytestmark = pytest.mark.browser
H = timedelta(hours=1)


@pytest.fixture
def context_options() -> dict:
    return {"permissions": ["clipboard-read", "clipboard-write"]}


async def fetch(hub, url: str):
    assert url.startswith(hub.url), url
    return await hub.request("GET", url[len(hub.url):])


async def test_make_copy_renew_and_revoke_the_calendar_feed(hub, booking, admin, page: Page, console_errors):
    pool = await booking.new_pool(admin, cores=8, memory_gib=32)
    name = new_name("feeder")
    await log_in(page, hub, name)
    start = day_start(2) + 9 * H
    made = await booking.ok("POST", "bookings", admin, {"pool": pool, "package": "small", "user": name,
                                                        "start": iso(start), "end": iso(start + 2 * H)})

    panel = page.get_by_role("region", name="Subscribe in your calendar app")
    await expect(panel).to_contain_text("You have no calendar feed.")
    await panel.get_by_role("button", name="Make a feed address").click()
    address = panel.get_by_label("Your feed's address")
    await expect(address).to_be_focused()
    first = await address.input_value()
    assert first.startswith(hub.url + "services/booking/ical/") and first.endswith(".ics")
    await expect(panel).to_contain_text("Your calendar feed is on since")

    await panel.get_by_role("button", name="Copy").click()
    await expect(page.get_by_role("status")).to_contain_text("copied")
    assert await page.evaluate("navigator.clipboard.readText()") == first

    resp = await fetch(hub, first)
    assert resp.status == 200, resp.body
    [event] = Calendar.from_ical(resp.body).walk("VEVENT")
    assert str(event["uid"]) == f"booking-{made['id']}@127.0.0.1"
    assert str(event["summary"]) == f"small on {pool}" and event.decoded("dtstart") == start

    # a reload shows the same address again, with Copy (and does not steal the focus)
    await page.reload()
    await expect(panel).to_contain_text("Your calendar feed is on since")
    await expect(address).to_have_value(first)
    await expect(address).not_to_be_focused()
    await page.evaluate("navigator.clipboard.writeText('')")
    await panel.get_by_role("button", name="Copy").click()
    await expect(page.get_by_role("status")).to_contain_text("copied")
    assert await page.evaluate("navigator.clipboard.readText()") == first

    await panel.get_by_role("button", name="Renew address").click()
    await expect(page.get_by_role("status")).to_contain_text("new address")
    await expect(address).not_to_have_value(first)
    await expect(address).to_be_focused()
    second = await address.input_value()
    assert (await fetch(hub, first)).status == 404
    assert (await fetch(hub, second)).status == 200

    await panel.get_by_role("button", name="Revoke…").click()
    await panel.get_by_role("button", name="Yes, revoke it").click()
    await expect(panel).to_contain_text("You have no calendar feed.")
    await expect(address).to_have_count(0)
    assert (await fetch(hub, second)).status == 404
    await page.reload()
    await expect(panel).to_contain_text("You have no calendar feed.")
    assert console_errors == []
