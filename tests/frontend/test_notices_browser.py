"""The calendar's notices in real Chromium: a booking an admin cancelled shows beside my
bookings, unread, and "Mark read" marks it read in the booking service."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.booking_service.conftest import day_start, iso
from tests.frontend.conftest import log_in, new_name

pytestmark = pytest.mark.browser


async def test_a_notice_shows_beside_my_bookings_and_is_marked_read(hub, booking, admin, page, console_errors):
    pool = await booking.new_pool(admin)
    name = new_name("noticed")
    await hub.hub_api("POST", f"users/{name}")
    start = day_start(2)
    made = await booking.ok("POST", "bookings", admin, {"pool": pool, "user": name, "resources": {
        "cores": 1, "memory_gib": 1}, "start": iso(start), "end": iso(start.replace(hour=2))})
    await booking.ok("DELETE", f"bookings/{made['id']}", admin)

    await log_in(page, hub, name)
    notice = page.locator(".notices li.notice.unread")
    await expect(notice).to_have_count(1)
    await expect(notice).to_contain_text(f"Booking {made['id']}")
    await expect(notice).to_contain_text(f"was cancelled by {admin.name}")
    await expect(page.locator(".notice-count")).to_have_text("(1 unread)")
    await notice.get_by_role("button", name="Mark read").click()
    await expect(page.locator(".notices li.notice.unread")).to_have_count(0)
    await expect(page.locator(".notices li.notice")).to_have_count(1)
    await expect(page.locator(".notice-count")).to_have_text("")
    listed = await booking.ok("GET", f"users/{name}/notices", admin)
    assert listed["unread"] == 0 and listed["notices"][0]["read"] is not None
    assert console_errors == []
