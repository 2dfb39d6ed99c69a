"""The hub's account pages in real Chromium: the login page, give it a try and its logout
warning, email sign-up with the mail from the real SMTP server, and the account page."""

from __future__ import annotations

import uuid

import pytest

from tests.browser import REPO

pytestmark = pytest.mark.browser
LOGIN_SHOT = REPO / "docs" / "screenshots" / "login.png"


async def test_the_login_page_offers_every_way_in(accounts_hub, page):
    await page.goto(accounts_hub.url + "hub/login")
    await page.get_by_role("button", name="Give it a try").wait_for()
    for label in ("Sign in with Demo provider", "Sign in with GitHub", "Sign in with Google"):
        assert await page.get_by_role("button", name=label).is_visible()
    assert await page.get_by_label("Email or username:").is_visible()
    assert await page.get_by_role("link", name="Sign up with email").is_visible()
    assert await page.get_by_role("link", name="Forgot your password?").is_visible()
    LOGIN_SHOT.parent.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(LOGIN_SHOT), full_page=True)


async def test_give_it_a_try_then_log_out_with_the_warning(accounts_hub, page):
    await page.goto(accounts_hub.url + "hub/login")
    await page.get_by_role("button", name="Give it a try").click()
    await page.wait_for_url("**/hub/home")
    await page.goto(accounts_hub.url + "hub/account")
    assert "trial" in await page.locator("#account-level").inner_text()
    await page.goto(accounts_hub.url + "hub/logout")
    warning = page.locator("#trial-warning")
    assert "Your notebooks and data will be deleted" in await warning.inner_text()
    await page.get_by_role("button", name="Cancel").click()  # Cancel keeps the account
    await page.wait_for_url("**/hub/**")
    await page.goto(accounts_hub.url + "hub/account")
    assert "trial" in await page.locator("#account-level").inner_text()
    await page.goto(accounts_hub.url + "hub/logout")
    await page.get_by_role("button", name="OK, log out and delete").click()
    await page.get_by_text("Your trial account and its files are deleted").wait_for()


async def test_sign_up_with_email_in_the_browser(accounts_hub, mailbox, page):
    address = f"eve-{uuid.uuid4().hex[:6]}@example.org"
    await page.goto(accounts_hub.url + "hub/login")
    await page.get_by_role("link", name="Sign up with email").click()
    await page.get_by_label("Email address").fill(address)
    await page.get_by_label("Password").fill("a long browser password")
    before = len(mailbox.messages)
    await page.get_by_role("button", name="Sign up", exact=True).click()
    await page.get_by_text("Check your mail").wait_for()
    import asyncio

    message = await asyncio.to_thread(mailbox.wait_for, address, "Confirm your address", before)
    await page.goto(mailbox.link(message))
    await page.get_by_role("button", name="Confirm", exact=True).click()
    await page.wait_for_url("**/hub/home")
    await page.goto(accounts_hub.url + "hub/account")
    summary = await page.locator("#account-summary").inner_text()
    assert address.split("@")[0] in summary and "level-1" in summary
