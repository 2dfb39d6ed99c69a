"""The JupyterLab extension against a real hub, a real booking service and real
single-user servers (the spawner tests' hub: tests/spawner/conftest.py)."""

from __future__ import annotations

import importlib.util
from datetime import datetime, timedelta, timezone
from urllib.parse import quote

import pytest

from tests.booking_service.conftest import BookingAPI, iso
from tests.hub import Hub, Response, User
from tests.spawner.conftest import booked_now, booking_api, new_user, servers, spawn_hub  # noqa: F401 (fixtures)

__all__ = ["booked_now", "booking_in_full_pool", "iso", "lab_request", "new_user", "server_token"]


def pytest_collection_modifyitems(items):
    if items and importlib.util.find_spec("aglais_lab") is None:
        raise pytest.UsageError(
            "aglais_lab is not installed in this Python: run `make labextension` (or `make test`), "
            "which builds the JupyterLab extension and pip-installs it")


async def server_token(hub: Hub, user: User) -> str:
    """A token of `user` that may use their server (the browser's login gives the same)."""
    return await hub.token_for(user.name, [f"access:servers!user={user.name}"])


async def lab_request(hub: Hub, user: User, method: str, path: str, *, token: str, body=None) -> Response:
    """Call the user's single-user server (the server extension) through the proxy."""
    return await hub.request(method, f"user/{quote(user.name)}/{path.lstrip('/')}", token=token,
                             body=body if body is not None or method != "POST" else {})


async def booking_in_full_pool(hub: Hub, api: BookingAPI, length: timedelta) -> tuple[User, dict]:
    """A level-1 user's booking of `small` from now, in a pool that has room for exactly
    one `small`, already booked by someone else from the booking's end for an hour."""
    admin = hub.booking_admin
    start = datetime.now(timezone.utc)
    pool = await api.new_pool(admin, cores=1, memory_gib=4, start=start - timedelta(hours=1))
    user = await new_user(hub, "level-1")
    booking = await api.ok("POST", "bookings", user, {
        "pool": pool, "package": "small", "start": iso(start), "end": iso(start + length)})
    end = datetime.fromisoformat(booking["end"])
    await api.ok("POST", "bookings", admin, {
        "pool": pool, "package": "small", "start": iso(end), "end": iso(end + timedelta(hours=1))})
    return user, booking


async def expect_walk_in_with_register(page, hub: Hub, screenshot=None) -> None:
    """A level-0 user's status item (JupyterLab's, or the one injected into Zeppelin): the
    walk-in's package and Register, which opens the hub's registration in a new tab."""
    from playwright.async_api import expect

    item = page.locator("#aglais-booking-status")
    await expect(item.locator(".aglais-package")).to_have_text("tiny", timeout=30_000)
    await expect(item.locator(".aglais-countdown")).to_have_text("walk-in")
    register = page.locator("a.aglais-register")
    await expect(register).to_be_visible()
    await expect(register).to_have_attribute("href", "/hub/register")
    if screenshot is not None:
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(screenshot))
    async with page.context.expect_page() as opened:
        await register.click()
    tab = await opened.value
    await tab.wait_for_load_state("commit")
    assert tab.url.startswith(hub.url + "hub/register")
    await tab.close()

