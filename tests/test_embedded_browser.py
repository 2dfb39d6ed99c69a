"""`make run` as a person meets it, in Chromium: give it a try, land in JupyterLab with the
booking status item and the Register button, register with email (the confirmation mail
is the one the hub kept in its data directory's Maildir) and keep the same account and files."""

from __future__ import annotations

import asyncio
import re
import time

import pytest
from playwright.async_api import expect

from tests.browser import SCREENSHOTS
from tests.test_embedded import embedded_hub  # noqa: F401 (the fixture)

pytestmark = pytest.mark.browser
LAB_TIMEOUT = 120_000  # a server start and JupyterLab's first load on a busy machine


async def confirmation_link(hub, address: str, timeout: float = 20) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if link := hub.mailed_link(address):
            return link
        await asyncio.sleep(0.2)
    raise AssertionError(f"no confirmation mail to {address} in the hub's Maildir")


async def test_try_land_in_jupyterlab_then_register_with_email(embedded_hub, page):  # noqa: F811
    url = embedded_hub.url
    await page.goto(url + "/hub/login")
    await page.get_by_role("button", name="Give it a try").click()
    await page.wait_for_url(re.compile(r"/user/try-[a-z0-9]+/lab"), timeout=LAB_TIMEOUT)
    name = re.search(r"/user/(try-[a-z0-9]+)/", page.url).group(1)
    item = page.locator("#aglais-booking-status")
    await expect(item.locator(".aglais-package")).to_have_text("tiny", timeout=60_000)
    register = page.locator("a.aglais-register")
    await expect(register).to_be_visible()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / "embedded-trial-jupyterlab.png"))
    work = embedded_hub.put(name, "analysis.ipynb", "{}")  # some work to keep
    account = await page.context.new_page()
    await account.goto(url + "/hub/account")  # the level's quota, and what the home uses of it
    await expect(account.locator('tr[data-quota="notebooks"] td').first).to_have_text("1")
    await account.close()

    async with page.context.expect_page() as opened:
        await register.click()
    form = await opened.value
    await form.wait_for_load_state()
    await expect(form.get_by_role("heading", name="Register and keep your work")).to_be_visible()
    address = f"{name}@example.org"
    await form.get_by_label("Email address").fill(address)
    await form.get_by_label("Password").fill("a long enough password")
    await form.get_by_role("button", name="Register", exact=True).click()
    await expect(form.get_by_text("Check your mail")).to_be_visible()

    await form.goto(await confirmation_link(embedded_hub, address))
    await form.get_by_role("button", name="Confirm", exact=True).click()
    # logged in, on to the server: wait until the confirm page is left (and the page loaded)
    await form.wait_for_url(lambda page_url: "accounts/confirm" not in page_url)
    await form.wait_for_load_state()
    await form.goto(url + "/hub/account")
    summary = form.locator("#account-summary")
    await expect(summary).to_contain_text(name)
    await expect(form.locator("#account-level")).to_have_text("level-1")
    await form.screenshot(path=str(SCREENSHOTS / "embedded-registered-account.png"), full_page=True)
    assert work.exists()  # same account, same files


async def test_book_in_the_calendar_start_it_extend_and_cancel(embedded_hub, page):  # noqa: F811
    """The admin of `make run` books a package for now on the calendar, starts a server
    with it, sees it in JupyterLab, extends the booking, and cancels it: the lifecycle
    loop stops the server. (The small package: the pool `local` has this machine's
    cores, which may be too few for a medium one; tests/frontend books a medium one.)"""
    url, env = embedded_hub.url, embedded_hub.env
    await page.goto(url + "/hub/login?next=%2Fservices%2Fbooking%2F")
    await page.locator("#username_input").fill("admin")
    await page.locator("#password_input").fill(env["AGLAIS_ADMIN_PASSWORD"])
    await page.locator("#password_input").press("Enter")
    await page.wait_for_url(url + "/services/booking/**")
    # the embedded default's one bookable pool, as GET /pools names it: no selector to use
    await expect(page.get_by_role("grid")).to_have_attribute("aria-label", re.compile(r"^Pool local: "))
    await page.get_by_label("Package", exact=True).select_option("small")
    await page.get_by_label("For the next (hours)").fill("2")
    await page.get_by_role("button", name="Book now").click()
    await expect(page.get_by_role("status")).to_contain_text("Booked small")
    card = page.locator("article[data-booking-id]").filter(has_text="small on local")
    booking_id = await card.first.get_attribute("data-booking-id")
    await page.screenshot(path=str(SCREENSHOTS / "embedded-calendar-booked.png"), full_page=True)

    lab = await page.context.new_page()
    await lab.goto(url + "/hub/spawn")
    await lab.wait_for_url(re.compile(r"/user/admin/lab"), timeout=LAB_TIMEOUT)
    item = lab.locator("#aglais-booking-status")
    await expect(item.locator(".aglais-package")).to_have_text("small", timeout=60_000)
    await expect(item.locator(".aglais-countdown")).to_have_text(re.compile(r"^(1:5\d|2:00):\d\d left$"))
    first_end = await item.get_attribute("data-end")

    card = page.locator(f'article[data-booking-id="{booking_id}"]')
    await card.get_by_label(f"Extend #{booking_id} by").select_option(label="2 hours")
    await card.get_by_role("button", name="Extend").click()
    await expect(page.get_by_role("status")).to_contain_text(f"Booking #{booking_id} (small on local) now ends")
    await lab.reload()  # the status item reads the booking again
    await expect(item).not_to_have_attribute("data-end", first_end, timeout=60_000)
    await expect(item.locator(".aglais-countdown")).to_have_text(re.compile(r"^(3:5\d|4:00):\d\d left$"))

    await card.get_by_role("button", name="Cancel booking…").click()
    await card.get_by_role("button", name="Yes, cancel it").click()
    await expect(page.get_by_role("status")).to_contain_text(f"Booking #{booking_id} (small on local) is cancelled")
    deadline = time.monotonic() + 90  # the lifecycle loop runs every 30 seconds
    while time.monotonic() < deadline:
        model = await (await page.request.get(url + "/hub/api/user")).json()
        if not model.get("servers"):
            break
        await asyncio.sleep(1)
    assert not model.get("servers"), model
