"""Fixtures for the calendar's browser tests: the booking API as an admin's program calls
it (to set up pools and to check what the clicks did), and a browser logged in to the hub."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from datetime import datetime, timedelta

import pytest
from playwright.async_api import Page, expect

from tests.booking_service.conftest import BookingAPI, day_start
from tests.hub import Hub, User


@pytest.fixture
def booking(hub) -> BookingAPI:
    """The hub-managed service at /services/booking/, where the browser logs in."""
    return BookingAPI(hub, "booking")


@pytest.fixture
async def admin(hub) -> User:
    return await hub.new_user(admin=True, prefix="admin")


REPO = Path(__file__).resolve().parent.parent.parent
EXPECTED_4XX = re.compile(r"Failed to load resource: the server responded with a status of 4(03|09)")


@pytest.fixture
def console_errors(page: Page):
    """Errors the page logs (a Content-Security-Policy violation is one) or throws; not
    Chromium's note of an API answer that is an expected 4xx (a 409 with alternatives)."""
    errors: list[str] = []

    def console(msg):
        if msg.type == "error" and not EXPECTED_4XX.match(msg.text):
            errors.append(msg.text)

    page.on("console", console)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return errors


def date_label(moment) -> str:
    """As the calendar writes a day: 'Mon 9 Mar'."""
    return f"{moment:%a} {moment.day} {moment:%b}"


def cell(page: Page, package: str, column: int):
    return page.locator(f'button.cell[data-row="{package}"][data-col="{column}"]')


def next_monday() -> datetime:
    """Midnight UTC of next week's Monday: the first column of the calendar's week view
    after one press of "Later", and always within a basic level's 30 days ahead."""
    today = day_start(0)
    return today + timedelta(days=7 - today.weekday())


def new_name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def log_in(page: Page, hub: Hub, name: str) -> None:
    """Log in through the hub's form, follow the OAuth redirects to the calendar, and wait
    until it has drawn itself."""
    await page.goto(hub.url + "hub/login?next=%2Fservices%2Fbooking%2F")
    await page.locator("#username_input").fill(name)
    await page.locator("#password_input").fill("any password")
    await page.locator("#password_input").press("Enter")
    await page.wait_for_url(hub.url + "services/booking/**")
    await expect(page.get_by_text(f"Logged in as {name}")).to_be_visible()


async def show_pool(page: Page, pool: str) -> None:
    """Choose the pool on the calendar (a selector when there are several, else the one
    pool is shown) and wait for its grid."""
    await expect(page.locator(".pool-control")).not_to_be_empty()
    if await page.locator("#calendar-pool").count():
        await page.locator("#calendar-pool").select_option(pool)
    await expect_grid(page, pool)


async def expect_grid(page: Page, pool: str, view: str = "") -> None:
    """Wait until the grid drawn is the pool's (and the view's, e.g. 'by day')."""
    label = re.compile(f"^Pool {re.escape(pool)}: .*{re.escape(view)}")
    await expect(page.get_by_role("grid")).to_have_attribute("aria-label", label)
    await expect(page.locator(".grid-area")).to_have_attribute("aria-busy", "false")


@pytest.fixture
def context_options() -> dict:
    """The calendar's tests see it in a browser on UTC, whatever the machine's zone, unless
    a test names another (`@pytest.mark.parametrize("context_options", ...)`)."""
    return {"timezone_id": "UTC"}
