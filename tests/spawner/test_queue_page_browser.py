"""The spawn page of a queued user, in Chromium: it says the place in the queue, keeps
asking by itself, and the server starts once a place is held for the user."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.spawner.conftest import new_user

pytestmark = pytest.mark.browser


async def test_a_queued_user_waits_on_a_page_that_asks_again_by_itself(spawn_hub, servers, page):
    first, second = await new_user(spawn_hub, "level-1"), await new_user(spawn_hub, "level-1")
    assert (await servers.start(first)).status in (201, 202)  # the shared pool is full now
    await page.goto(spawn_hub.url + "hub/login")
    await page.get_by_label("Username:").fill(second.name)
    await page.get_by_label("Password:").fill("any")
    await page.get_by_role("button", name="Sign in").click()
    await page.goto(spawn_hub.url + "hub/spawn")
    queue = page.locator(".aglais-queue")
    await queue.wait_for()
    assert "You are number 1 in the queue" in await queue.inner_text()
    assert "Asking again in" in await page.locator("#aglais-queue-retry").inner_text()
    await servers.stop(first)  # a place frees and is held for the head of the queue
    # no click: the page asks again, says the held place is the user's, and the server starts
    log = page.locator("#progress-log")
    await log.wait_for(state="attached", timeout=60_000)
    await expect(log).to_contain_text("A place on the shared pool is yours: starting the small package",
                                      timeout=60_000)
    await servers.wait_ready(second, timeout=90)
    await servers.stop(second)
