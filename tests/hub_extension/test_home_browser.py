"""The hub's home page in Chromium, against a real hub (AglaisAuthenticator, the
booking-aware local spawner), the real booking service and real single-user servers
with the JupyterLab extension: after login the user lands on the home page, sees their
bookings now and to come and the walk-in with its queue's state, starts a choice and
lands in JupyterLab with that package; and a walk-in server whose user's booking starts
is told so in JupyterLab, and restarts under the booking from the home page."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import quote

import pytest
from playwright.async_api import Page, expect

from tests.booking_service.conftest import BookingAPI, iso
from tests.hub import Hub, User
from tests.spawner.conftest import Servers, new_user, running_spawn_hub

pytestmark = pytest.mark.browser

SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "screenshots" / "home.png"
LAB_TIMEOUT = 120_000  # a server's start and JupyterLab's first load on a busy machine
# the hub's accounts (its home page route, and the landing after login), servers that open
# JupyterLab, and a JupyterLab extension that asks its server every two seconds
HOME_CONFIG = """
        from hub_extension.config.accounts import configure_accounts
        configure_accounts(c, trial_culler_timeout=None)
        c.AglaisAuthenticator.db_url = 'sqlite:///accounts.sqlite'
        c.Spawner.default_url = '/lab'
        c.Spawner.args = ['--AglaisLab.poll_seconds=2']
"""


@pytest.fixture(scope="module")
async def home_hub(tmp_path_factory):
    async with running_spawn_hub(tmp_path_factory.mktemp("home-hub"), HOME_CONFIG) as hub:
        yield hub


@pytest.fixture
def context_options() -> dict:
    """A browser far from UTC, so the page's times are seen in the browser's own zone."""
    return {"timezone_id": "Asia/Tokyo"}


async def log_in(page: Page, hub: Hub, user: User) -> None:
    """A one-time login link (the accounts API, as an admin's program asks for one), used
    in the browser: the hub then sends the user where a login lands."""
    resp = await hub.request("POST", f"hub/api/accounts/{quote(user.name)}/login-links", token=hub.admin_token,
                             body={})
    assert resp.status == 201, resp.body
    await page.goto(resp.json()["url"])
    await page.get_by_role("button", name="Log in").click()


def tokyo(stamp: str) -> str:
    """The hour and minute of a booking service time in Tokyo (UTC+9, no daylight saving)."""
    return (datetime.fromisoformat(stamp) + timedelta(hours=9)).strftime("%H:%M")


async def pool_with_room(api: BookingAPI, hub: Hub) -> str:
    return await api.new_pool(hub.booking_admin, cores=8, memory_gib=32,
                              start=datetime.now(timezone.utc) - timedelta(hours=1))


async def test_bookings_now_and_soon_then_start_the_current_one(home_hub, page):
    api, servers = BookingAPI(home_hub, "booking"), Servers(home_hub)
    pool = await pool_with_room(api, home_hub)
    user = await new_user(home_hub, "level-1")
    now = datetime.now(timezone.utc)
    current = await api.ok("POST", "bookings", user, {"pool": pool, "package": "small", "start": iso(now),
                                                       "end": iso(now + timedelta(hours=2))})
    later = await api.ok("POST", "bookings", user, {"pool": pool, "package": "medium",
                                                     "start": iso(now + timedelta(days=1)),
                                                     "end": iso(now + timedelta(days=1, hours=3))})
    await log_in(page, home_hub, user)
    await page.wait_for_url(re.compile(r"/hub/home$"))  # the landing: nothing has started
    assert not (await servers.model(user)).get("servers")

    mine = page.locator(f"#booking-{current['id']}")
    await expect(mine).to_contain_text(f"Booking #{current['id']}: the small package on {pool}")
    await expect(mine).to_contain_text("a notebook of 0.5 cores and 2 GiB, with 1 Spark worker of 0.5 cores and 2 GiB")
    await expect(mine.locator("time").nth(1)).to_contain_text(tokyo(current["end"]))
    await expect(page.locator("#aglais-zone")).to_have_text("Times are in your browser's time zone, Asia/Tokyo.")
    soon = page.locator("#aglais-soon").locator(f"#booking-{later['id']}")
    await expect(soon).to_contain_text(f"Booking #{later['id']}: the medium package on {pool}")
    await expect(soon).to_contain_text("a notebook of 1 core and 4 GiB, with 2 Spark workers of 1 core and 4 GiB each")
    await expect(soon.get_by_role("button")).to_have_count(0)  # a booking to come cannot start yet
    await expect(page.locator("#walk-in")).to_contain_text("Walk-in: the small package without a booking")
    await expect(page.locator("#aglais-calendar")).to_have_attribute("href", "/services/booking/")
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOT), full_page=True)

    await mine.get_by_role("button", name="Start with JupyterLab").click()
    await page.wait_for_url(re.compile(r"/hub/spawn-pending/"))
    await expect(page.locator("#progress-log")).to_contain_text(
        f"Starting your booking #{current['id']} of the small package on {pool}, a notebook of 0.5 cores and 2 GiB, "
        f"with 1 Spark worker of 0.5 cores and 2 GiB, until ", timeout=60_000)
    await page.wait_for_url(re.compile(rf"/user/{re.escape(user.name)}/lab"), timeout=LAB_TIMEOUT)
    item = page.locator("#aglais-booking-status")
    await expect(item.locator(".aglais-package")).to_have_text("small", timeout=60_000)
    await expect(item).to_have_attribute("data-kind", "booking")
    await expect(item).to_have_attribute("data-end", current["end"])
    env = (await servers.process(user)).env()
    assert env["AGLAIS_BOOKING_ID"] == str(current["id"])
    await servers.stop(user)


async def test_a_level_1_user_without_bookings_sees_the_walk_in_and_its_queue(home_hub, page):
    servers = Servers(home_hub)
    user = await new_user(home_hub, "level-1")
    await log_in(page, home_hub, user)
    await page.wait_for_url(re.compile(r"/hub/home$"))
    await expect(page.locator("#aglais-now .aglais-choice")).to_have_count(1)  # the walk-in alone
    await expect(page.locator("#aglais-soon")).to_have_text("No bookings to come.")
    walk_in = page.locator("#walk-in")
    await expect(walk_in).to_have_attribute("data-state", "free")
    await expect(walk_in.locator("#walk-in-state")).to_have_text("A place is free now.")
    await expect(walk_in).to_contain_text("on the shared pool shared, until you stop it")

    other = await new_user(home_hub, "level-1")  # takes the shared pool's one place
    assert (await servers.start(other)).status in (201, 202)
    try:
        await page.reload()
        await expect(walk_in).to_have_attribute("data-state", "queue")
        await expect(walk_in.locator("#walk-in-state")).to_have_text(
            "The shared pool is full: you would be number 1 in the queue.")
        await walk_in.get_by_role("button", name="Queue and start with JupyterLab").click()
        # the hub's answer, shown on the page: the place in the queue is kept
        await expect(page.locator("#aglais-start-error")).to_contain_text("You are number 1 in the queue")
        await page.reload()
        await expect(walk_in.locator("#walk-in-state")).to_have_text(
            "The shared pool is full: you are number 1 in the queue.")
    finally:
        await servers.stop(other)
    leave = await home_hub.request("DELETE", f"services/booking/api/v1/users/{quote(user.name)}/queue",
                                   token=user.token)
    assert leave.status in (200, 404), leave.body  # offered the freed place meanwhile, or still waiting


async def test_a_booking_that_starts_under_a_walk_in_server_is_offered_in_jupyterlab(home_hub, page):
    api, servers = BookingAPI(home_hub, "booking"), Servers(home_hub)
    pool = await pool_with_room(api, home_hub)
    user = await new_user(home_hub, "level-1")
    await log_in(page, home_hub, user)
    await page.wait_for_url(re.compile(r"/hub/home$"))
    await page.locator("#walk-in").get_by_role("button", name="Start with JupyterLab").click()
    await page.wait_for_url(re.compile(rf"/user/{re.escape(user.name)}/lab"), timeout=LAB_TIMEOUT)
    item = page.locator("#aglais-booking-status")
    await expect(item).to_have_attribute("data-kind", "walk-in", timeout=60_000)
    walk_in_pid = (await servers.process(user)).pid

    # a booking that starts a few seconds from now, while the walk-in server runs
    start = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(seconds=5)
    booking = await api.ok("POST", "bookings", user, {"pool": pool, "package": "medium", "start": iso(start),
                                                       "end": iso(start + timedelta(hours=1))})
    notice = page.locator(".Toastify__toast", has_text=f"Your booking #{booking['id']} (medium) is on until")
    await expect(notice).to_be_visible(timeout=30_000)
    await expect(notice).to_contain_text("this server is a walk-in. Save your work, then restart it with the booking.")
    link = item.locator("a.aglais-restart")
    await expect(link).to_have_text(f"Booking #{booking['id']} is on: restart")
    await expect(link).to_have_attribute("href", f"/hub/home#booking-{booking['id']}")
    assert (await servers.process(user)).pid == walk_in_pid  # not killed under them
    news = page.get_by_role("button", name="No", exact=True)  # JupyterLab's "notified about news?"
    if await news.count():
        await news.click()
    await page.screenshot(path=str(SCREENSHOT.with_name("jupyterlab-booking-started.png")))

    await notice.get_by_role("button", name="Restart with the booking").click()
    await page.wait_for_url(re.compile(rf"/hub/home#booking-{booking['id']}$"))
    await expect(page.locator("#aglais-running")).to_contain_text("Your server runs the walk-in package small")
    card = page.locator(f"#booking-{booking['id']}")
    await card.get_by_role("button", name="Restart with this booking (JupyterLab)").click()
    await page.wait_for_url(re.compile(rf"/user/{re.escape(user.name)}/lab"), timeout=LAB_TIMEOUT)
    await expect(item).to_have_attribute("data-kind", "booking", timeout=60_000)
    await expect(item.locator(".aglais-package")).to_have_text("medium")
    await expect(item.locator("a.aglais-restart")).to_be_hidden()
    env = (await servers.process(user)).env()
    assert (env["AGLAIS_SESSION_KIND"], env["AGLAIS_BOOKING_ID"]) == ("booking", str(booking["id"]))
    await servers.stop(user)
