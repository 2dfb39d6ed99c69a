"""Every way in through a real hub, driven like a browser: password, give it a try, email
sign-up with a real SMTP server, password reset, and logout of trial accounts."""

from __future__ import annotations

import uuid
from urllib.parse import urlparse

import pytest

from tests.hub_extension.conftest import ADMIN_PASSWORD, Browser, some_address


def hub_user(hub, name):
    """The hub's user model (as an admin's program reads it), or None."""
    import requests

    resp = requests.get(hub.url + f"hub/api/users/{name}", headers={"Authorization": f"token {hub.admin_token}"})
    return resp.json() if resp.status_code == 200 else None


def test_admin_logs_in_with_the_form_as_a_local_account(accounts_hub, browser):
    resp = browser.login("admin", ADMIN_PASSWORD, allow_redirects=False)
    assert resp.status_code == 302
    assert browser.whoami() == "admin"
    assert hub_user(accounts_hub, "admin")["admin"] is True


def test_wrong_password_is_refused_without_saying_which_part_was_wrong(accounts_hub, browser):
    for login in ("admin", "nobody-" + uuid.uuid4().hex[:6]):
        resp = browser.login(login, "not-the-password")
        assert resp.status_code == 403
        assert "Invalid username or password" in resp.text
    assert browser.whoami() is None


def test_give_it_a_try_makes_a_level_0_account_and_logout_deletes_it(accounts_hub, browser):
    browser.get("hub/login")
    resp = browser.post("hub/try", allow_redirects=False)
    assert resp.status_code == 302
    name = browser.whoami()
    assert name.startswith("try-")
    assert hub_user(accounts_hub, name)["groups"] == ["level-0"]
    # logging out asks first (a GET changes nothing), then deletes user and account
    page = browser.get("hub/logout")
    assert "Your notebooks and data will be deleted" in page.text
    assert browser.whoami() == name and hub_user(accounts_hub, name) is not None
    resp = browser.post("hub/logout")
    assert resp.status_code == 200 and "deleted" in resp.text
    assert browser.whoami() is None
    assert hub_user(accounts_hub, name) is None


def test_try_needs_xsrf(accounts_hub, browser):
    browser.get("hub/login")
    resp = browser.post("hub/try", xsrf=False, allow_redirects=False)
    assert resp.status_code == 403
    assert browser.whoami() is None


def test_try_is_rate_limited_per_client_address(accounts_hub):
    browser = Browser(accounts_hub, some_address())  # the test config allows 4 per hour per address
    names = []
    for _ in range(4):
        browser.get("hub/login")
        assert browser.post("hub/try", allow_redirects=False).status_code == 302
        names.append(browser.whoami())
        browser.session.cookies.clear()
    browser.get("hub/login")
    resp = browser.post("hub/try")
    assert resp.status_code == 429
    assert "several trial accounts" in resp.text and "Try again in" in resp.text
    assert len(set(names)) == 4
    # another address is not affected
    other = Browser(accounts_hub, some_address())
    other.get("hub/login")
    assert other.post("hub/try", allow_redirects=False).status_code == 302


def sign_up(browser, mailbox, address, password="correct horse battery", path="hub/accounts/signup"):
    browser.get(path)
    before = len(mailbox.messages)
    resp = browser.post(path, {"email": address, "password": password})
    assert resp.status_code == 200, resp.text[-2000:]
    assert "Check your mail" in resp.text
    return mailbox.wait_for(address.strip().lower(), "Confirm your address", after=before)


def confirm(browser, mailbox, message):
    link = mailbox.link(message)
    page = browser.get(link)
    assert page.status_code == 200 and "Confirm" in page.text
    return page


def test_email_sign_up_confirms_by_post_and_logs_in(accounts_hub, browser, mailbox):
    address = f"ada-{uuid.uuid4().hex[:6]}@example.org"
    message = sign_up(browser, mailbox, address)
    # unconfirmed accounts cannot log in
    other = Browser(accounts_hub)
    resp = other.login(address, "correct horse battery")
    assert resp.status_code == 403 and "Confirm your email address first" in resp.text
    # a GET of the link (a mail scanner) shows a page and changes nothing
    page = confirm(browser, mailbox, message)
    page = confirm(browser, mailbox, message)
    assert other.login(address, "correct horse battery").status_code == 403
    resp = browser.form_post(page, allow_redirects=False)
    assert resp.status_code == 302
    name = browser.whoami()
    assert name == address.split("@")[0]
    assert hub_user(accounts_hub, name)["groups"] == ["level-1"]
    # then the address and password log in, in any spelling of the address
    other.session.cookies.clear()
    assert other.login("  " + address.upper(), "correct horse battery", allow_redirects=False).status_code == 302
    assert other.whoami() == name
    # the link works once
    again = browser.get(mailbox.link(message))
    assert again.status_code == 410 and "already used" in again.text


def test_two_spellings_of_an_address_make_one_account(accounts_hub, mailbox):
    address = f"Bea.{uuid.uuid4().hex[:6]}@Example.org"
    first = sign_up(Browser(accounts_hub), mailbox, address)
    browser = Browser(accounts_hub)
    confirm_page = confirm(browser, mailbox, first)
    browser.form_post(confirm_page)
    owner = browser.whoami()
    # a second sign-up with another spelling makes no account: the owner is told by mail
    intruder = Browser(accounts_hub)
    intruder.get("hub/accounts/signup")
    before = len(mailbox.messages)
    resp = intruder.post("hub/accounts/signup", {"email": " " + address.upper() + " ", "password": "another password 123"})
    assert resp.status_code == 200 and "Check your mail" in resp.text  # the same answer: nothing to enumerate
    warned = mailbox.wait_for(address.lower(), "Your address is already registered", after=before)
    assert "reset" in warned.get_payload(decode=True).decode()
    assert intruder.login(address.lower(), "another password 123").status_code == 403
    assert intruder.whoami() is None
    assert Browser(accounts_hub).login(address.lower(), "correct horse battery", allow_redirects=False).status_code == 302
    assert owner == address.lower().split("@")[0]


def test_sign_up_refuses_bad_input_with_a_message(accounts_hub, browser, mailbox):
    browser.get("hub/accounts/signup")
    before = len(mailbox.messages)
    resp = browser.post("hub/accounts/signup", {"email": "not-an-address", "password": "long enough password"})
    assert resp.status_code == 400 and "Enter an email address" in resp.text
    resp = browser.post("hub/accounts/signup", {"email": "short@example.org", "password": "short"})
    assert resp.status_code == 400 and "at least 10 characters" in resp.text
    assert len(mailbox.messages) == before


def test_password_reset_by_email(accounts_hub, mailbox):
    address = f"cy-{uuid.uuid4().hex[:6]}@example.org"
    browser = Browser(accounts_hub)
    browser.form_post(confirm(browser, mailbox, sign_up(browser, mailbox, address)))
    stranger = Browser(accounts_hub)
    stranger.get("hub/accounts/reset")
    before = len(mailbox.messages)
    resp = stranger.post("hub/accounts/reset", {"email": address})
    assert resp.status_code == 200 and "Check your mail" in resp.text
    message = mailbox.wait_for(address, "Reset your password", after=before)
    page = stranger.get(mailbox.link(message))
    assert "Choose a new password" in page.text
    assert stranger.form_post(page, {"password": "short"}).status_code == 400  # the code survives a bad form
    resp = stranger.form_post(page, {"password": "a brand new password"}, allow_redirects=False)
    assert resp.status_code == 302
    assert stranger.whoami() == address.split("@")[0]
    assert Browser(accounts_hub).login(address, "correct horse battery").status_code == 403
    assert Browser(accounts_hub).login(address, "a brand new password", allow_redirects=False).status_code == 302
    # an unknown address gets the same answer and no mail
    before = len(mailbox.messages)
    resp = stranger.post("hub/accounts/reset", {"email": f"nobody-{uuid.uuid4().hex[:6]}@example.org"})
    assert resp.status_code == 200 and "Check your mail" in resp.text
    assert len(mailbox.messages) == before


def test_resending_the_confirmation_is_rate_limited(accounts_hub, mailbox):
    address = f"dee-{uuid.uuid4().hex[:6]}@example.org"
    browser = Browser(accounts_hub)
    sign_up(browser, mailbox, address)  # one mail
    for _ in range(2):  # the limit is 3 per hour per address mailed to
        before = len(mailbox.messages)
        assert browser.post("hub/accounts/resend", {"email": address}).status_code == 200
        mailbox.wait_for(address, "Confirm your address", after=before)
    before = len(mailbox.messages)
    resp = browser.post("hub/accounts/resend", {"email": address})
    assert resp.status_code == 429 and "Too many requests for this address. Try again in" in resp.text
    assert len(mailbox.messages) == before


@pytest.mark.parametrize("evil", ["//evil.example", "///evil.example", "\\\\evil.example", "https://evil.example",
                                  "/\\evil.example"])
def test_next_never_leaves_the_hub(accounts_hub, evil):
    browser = Browser(accounts_hub, some_address())
    browser.get("hub/login")
    resp = browser.post(f"hub/login?next={evil}", {"username": "admin", "password": ADMIN_PASSWORD},
                        allow_redirects=False)
    assert resp.status_code == 302 and stays_on_the_hub(resp.headers["Location"])
    browser.session.cookies.clear()
    browser.get("hub/login")
    resp = browser.post(f"hub/try?next={evil}", allow_redirects=False)
    assert resp.status_code == 302 and stays_on_the_hub(resp.headers["Location"])


def stays_on_the_hub(location: str) -> bool:
    """A path on this host, in every browser's reading (no host, no // nor backslash)."""
    return urlparse(location).netloc == "" and location.startswith("/") and not location.startswith("//") \
        and "\\" not in location


def test_long_user_input_is_truncated_in_the_log(accounts_hub):
    browser = Browser(accounts_hub)
    marker = "x" * 300 + uuid.uuid4().hex
    browser.login(marker, "wrong password")
    log = (accounts_hub.workdir / "hub.log").read_text()
    assert marker not in log
    assert marker[:16] in log
