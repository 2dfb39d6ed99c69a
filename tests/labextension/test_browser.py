"""JupyterLab with the aglais-hub extension in a real browser (Debian's Chromium through
Playwright): log in to the hub, land in JupyterLab, see the booking counting down,
extend it; and, for a level-0 user, Register and the logout warning."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
from playwright.async_api import Page, expect

from tests.browser import SCREENSHOTS
from tests.hub import Hub, User
from tests.labextension.conftest import booked_now, booking_in_full_pool, expect_walk_in_with_register, new_user

pytestmark = pytest.mark.browser

SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "screenshots" / "jupyterlab.png"
LAB_TIMEOUT = 90_000  # JupyterLab's first load on a busy two-core machine


def no_news(hub: Hub, user: User) -> None:
    """Answer JupyterLab's "get notified about Jupyter news?" for the user (their home's
    settings), so its notification does not cover the page."""
    settings = (hub.workdir / "homes" / user.name / ".jupyter" / "lab" / "user-settings" / "@jupyterlab"
                / "apputils-extension" / "notification.jupyterlab-settings")
    settings.parent.mkdir(parents=True, exist_ok=True)
    settings.write_text(json.dumps({"fetchNews": "false"}))


async def open_lab(page: Page, hub: Hub, user: User) -> None:
    """Log in through the hub's login page (DummyAuthenticator: any password) and land in JupyterLab."""
    lab = f"/user/{quote(user.name)}/lab"
    await page.goto(f"{hub.url}hub/login?next={quote(lab)}")
    await page.locator("#username_input").fill(user.name)
    await page.locator("#password_input").fill("any password")
    await page.locator("#login_submit").click()
    await page.wait_for_url(re.compile(re.escape(lab)), timeout=LAB_TIMEOUT)
    await expect(page.locator("#jp-main-statusbar")).to_be_visible(timeout=LAB_TIMEOUT)


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _left(text: str) -> int:
    h, m, s = re.fullmatch(r"(\d+):(\d\d):(\d\d) left", text).groups()
    return int(h) * 3600 + int(m) * 60 + int(s)


async def test_booking_counts_down_warns_and_extends(spawn_hub, servers, booking_api, page):
    # ten minutes: the booking service's 15-minute warning is due at once
    user, booking = await booked_now(spawn_hub, booking_api, "small", timedelta(minutes=10))
    no_news(spawn_hub, user)
    assert (await servers.start(user)).status in (201, 202)
    await open_lab(page, spawn_hub, user)

    item = page.locator("#aglais-booking-status")
    await expect(item).to_be_visible(timeout=30_000)
    await expect(item.locator(".aglais-package")).to_have_text("small")
    await expect(item).to_have_attribute("data-end", booking["end"])
    countdown = item.locator(".aglais-countdown")
    await expect(countdown).to_have_text(re.compile(r"^0:(09|10):\d\d left$"))
    first = await countdown.text_content()
    await expect(countdown).not_to_have_text(first)  # it counts down by itself
    assert _left(await countdown.text_content()) < _left(first)

    # the warning: in the status bar and as a notification, both with Extend
    await expect(item).to_have_class(re.compile(r"\baglais-mod-warning\b"))
    toast = page.locator(".Toastify__toast", has_text=re.compile(r"Your booking of small ends in \d+ minutes"))
    await expect(toast).to_be_visible()
    await expect(toast.get_by_role("button", name="Extend by 30 min")).to_be_visible()
    extend = item.get_by_role("button", name="Extend")
    await expect(extend).to_be_visible()
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOT))

    await extend.click()
    new_end = (_time(booking["end"]) + timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    await expect(item).to_have_attribute("data-end", new_end)
    await expect(page.locator(".Toastify__toast", has_text="Your booking now ends at")).to_be_visible()
    await expect(countdown).to_have_text(re.compile(r"^0:(39|40):\d\d left$"))
    await expect(extend).to_be_hidden()  # 40 minutes left: no warning due
    await expect(item).not_to_have_class(re.compile(r"\baglais-mod-warning\b"))
    assert (await booking_api.ok("GET", f"bookings/{booking['id']}", user))["end"] == new_end
    # the login cookie alone, without the XSRF token the page sends, changes nothing
    forged = await page.request.post(f"{spawn_hub.url}user/{quote(user.name)}/aglais/extend", data="{}")
    assert forged.status == 403
    assert (await booking_api.ok("GET", f"bookings/{booking['id']}", user))["end"] == new_end
    await servers.stop(user)


async def test_extend_without_capacity_shows_the_booking_services_message(spawn_hub, servers, booking_api, page):
    user, booking = await booking_in_full_pool(spawn_hub, booking_api, timedelta(minutes=10))
    assert (await servers.start(user)).status in (201, 202)
    await open_lab(page, spawn_hub, user)
    item = page.locator("#aglais-booking-status")
    await item.get_by_role("button", name="Extend").click(timeout=30_000)
    dialog = page.locator(".jp-Dialog")
    await expect(dialog).to_contain_text("The booking was not extended")
    await expect(dialog).to_contain_text(re.compile("extend by less", re.IGNORECASE))
    await dialog.get_by_role("button", name="Ok").click()
    await expect(dialog).to_be_hidden()
    await expect(item).to_have_attribute("data-end", booking["end"])
    await servers.stop(user)


async def test_level_0_gets_register_and_a_logout_warning(spawn_hub, servers, booking_api, page):
    user = await new_user(spawn_hub, "level-0")
    no_news(spawn_hub, user)
    assert (await servers.start(user)).status in (201, 202)
    await open_lab(page, spawn_hub, user)

    await expect_walk_in_with_register(page, spawn_hub, SCREENSHOTS / "jupyterlab-level-0.png")
    item = page.locator("#aglais-booking-status")

    async def log_out():
        await page.locator("#jp-MainMenu").get_by_text("File", exact=True).click()
        await page.locator('.lm-Menu-item[data-command="hub:logout"]').click()
        dialog = page.locator(".jp-Dialog")
        await expect(dialog).to_contain_text("Your notebooks and data will be deleted")
        return dialog

    dialog = await log_out()
    await dialog.get_by_role("button", name="Cancel").click()
    await expect(dialog).to_be_hidden()
    assert f"/user/{user.name}/lab" in page.url  # still here, still logged in
    await expect(item.locator(".aglais-package")).to_have_text("tiny")

    dialog = await log_out()
    await dialog.get_by_role("button", name="OK").click()
    await page.wait_for_url(re.compile(r"/hub/(login|logout)"))
    await servers.stop(user)


async def test_a_user_with_a_level_above_0_has_no_register_and_no_logout_warning(spawn_hub, servers, booking_api,
                                                                                 page):
    user, _ = await booked_now(spawn_hub, booking_api, "small", timedelta(hours=2))
    assert (await servers.start(user)).status in (201, 202)
    await open_lab(page, spawn_hub, user)
    await expect(page.locator("#aglais-booking-status .aglais-package")).to_have_text("small", timeout=30_000)
    await expect(page.locator("a.aglais-register")).to_be_hidden()
    await page.locator("#jp-MainMenu").get_by_text("File", exact=True).click()
    await page.locator('.lm-Menu-item[data-command="hub:logout"]').click()
    await page.wait_for_url(re.compile(r"/hub/(login|logout)"))  # straight out, no dialog
    await servers.stop(user)


async def test_last_notice_before_the_server_is_stopped(spawn_hub, servers, booking_api, page):
    # under AglaisLab.last_notice_seconds (120) left: the last notice at once
    user, _ = await booked_now(spawn_hub, booking_api, "small", timedelta(seconds=115))
    no_news(spawn_hub, user)
    assert (await servers.start(user)).status in (201, 202)
    await open_lab(page, spawn_hub, user)
    item = page.locator("#aglais-booking-status")
    await expect(item).to_have_class(re.compile(r"\baglais-mod-last\b"), timeout=30_000)
    last = page.locator(".Toastify__toast", has_text="the server will be stopped in")
    await expect(last).to_contain_text("Save your work now.")
    await expect(last.get_by_role("button", name="Extend by 30 min")).to_be_visible()
    await servers.stop(user)
