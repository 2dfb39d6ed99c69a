"""The notices item in JupyterLab's status bar in a real browser: a booking an admin
cancelled shows as "1 notice" with the notice as its title; a click lists it, "Mark read"
marks it read in the booking service and the item goes.

The servers run the extension `make server-env` installed in their environment, whose
fingerprint covers the extension's build (hub_extension/embedded/server_env.py).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
from playwright.async_api import expect

from tests.booking_service.conftest import iso
from tests.labextension.conftest import booked_now
from tests.labextension.test_browser import no_news, open_lab

pytestmark = pytest.mark.browser


async def test_the_status_bar_shows_an_unread_notice_and_marks_it_read(spawn_hub, servers, booking_api, page):
    user, booking = await booked_now(spawn_hub, booking_api, "small", timedelta(hours=2))
    admin = spawn_hub.booking_admin
    later = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(hours=5)
    other = await booking_api.ok("POST", "bookings", admin, {
        "pool": booking["pool"], "package": "small", "user": user.name, "start": iso(later),
        "end": iso(later + timedelta(hours=1))})
    await booking_api.ok("DELETE", f"bookings/{other['id']}", admin)
    no_news(spawn_hub, user)
    assert (await servers.start(user)).status in (201, 202)
    await open_lab(page, spawn_hub, user)

    item = page.locator("#aglais-notices")
    await expect(item).to_be_visible(timeout=30_000)
    button = item.get_by_role("button")
    await expect(button).to_have_text("1 notice")
    await expect(button).to_have_attribute("title", re.compile(rf"Booking {other['id']} .* was cancelled by "))
    await button.click()
    dialog = page.locator(".jp-Dialog")
    await expect(dialog).to_contain_text("Notices about your bookings")
    await expect(dialog.locator("li.aglais-notice")).to_have_count(1)
    await expect(dialog).to_contain_text(f"was cancelled by {admin.name}")
    await dialog.get_by_role("button", name="Mark read").click()
    await expect(dialog).to_be_hidden()
    await expect(item).to_be_hidden()
    listed = await booking_api.ok("GET", f"users/{user.name}/notices", user)
    assert listed["unread"] == 0 and listed["notices"][0]["read"] is not None
    await servers.stop(user)
