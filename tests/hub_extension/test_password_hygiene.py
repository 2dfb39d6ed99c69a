"""Password and code hygiene (issue 9, item 8): a new password (the account page's form,
or a reset) voids every outstanding code of the account and ends its other sessions, the
hub's cookies and the OAuth tokens handed to services for them; a login link's `next`
with control characters is refused when the link is made."""

from __future__ import annotations

import uuid

import pytest
import requests

from tests.hub_extension.conftest import Browser, some_address

OLD, NEW = "the old password 123", "the new password 456"


def admin_api(hub, method, path, **kw):
    return requests.request(method, hub.url + "hub/api/" + path, headers={"Authorization": f"token {hub.admin_token}"},
                            **kw)


def account_with_password(hub) -> tuple[str, str]:
    address = f"hy-{uuid.uuid4().hex[:8]}@example.org"
    name = address.split("@")[0]
    resp = admin_api(hub, "POST", "accounts", json={"name": name, "email": address, "email_confirmed": True,
                                                    "password": OLD})
    assert resp.status_code == 201, resp.text
    return name, address


def logged_in(hub, login: str, password: str) -> Browser:
    browser = Browser(hub)  # through the proxy, which also serves the booking service
    assert browser.login(login, password, allow_redirects=False).status_code == 302
    # a service's page: the hub hands this browser session an OAuth token for it
    assert browser.get("services/booking/").status_code == 200
    return browser


def session_tokens(hub, name: str) -> set[str]:
    tokens = admin_api(hub, "GET", f"users/{name}/tokens").json()["api_tokens"]
    return {t["session_id"] for t in tokens if t.get("session_id")}


def outstanding_links(hub, mailbox, name, address) -> list[str]:
    """A login link and a reset link, both unused."""
    link = admin_api(hub, "POST", f"accounts/{name}/login-links", json={}).json()["url"]
    stranger = Browser(hub, some_address())
    stranger.get("hub/accounts/reset")
    before = len(mailbox.messages)
    assert stranger.post("hub/accounts/reset", {"email": address}).status_code == 200
    return [link, mailbox.link(mailbox.wait_for(address, "Reset your password", after=before))]


def session_id(browser: Browser) -> str:
    return browser.session.cookies.get("jupyterhub-session-id")


def test_changing_the_password_on_the_account_page_ends_the_other_sessions_and_voids_the_codes(accounts_hub, mailbox):
    name, address = account_with_password(accounts_hub)
    here, elsewhere = logged_in(accounts_hub, address, OLD), logged_in(accounts_hub, name, OLD)
    assert {session_id(here), session_id(elsewhere)} <= session_tokens(accounts_hub, name)
    links = outstanding_links(accounts_hub, mailbox, name, address)
    page = here.get("hub/account")
    assert 'id="password-form"' in page.text
    # a wrong current password changes nothing; a POST without _xsrf neither
    wrong = here.post("hub/account/password", {"password": "not it at all", "new_password": NEW})
    assert wrong.status_code == 403 and "not your current password" in wrong.text
    assert here.post("hub/account/password", {"password": OLD, "new_password": NEW}, xsrf=False).status_code == 403
    assert elsewhere.whoami() == name
    done = here.post("hub/account/password", {"password": OLD, "new_password": NEW})
    assert done.status_code == 200 and "Password changed" in done.text
    # this browser stays logged in (and its _xsrf still works); the other one is out
    assert here.whoami() == name
    assert elsewhere.whoami() is None
    tokens = session_tokens(accounts_hub, name)
    assert session_id(here) in tokens and session_id(elsewhere) not in tokens
    for link in links:
        page = Browser(accounts_hub).get(link)
        assert page.status_code == 410, (link, page.status_code)
    assert Browser(accounts_hub, some_address()).login(address, OLD).status_code == 403
    assert Browser(accounts_hub, some_address()).login(address, NEW, allow_redirects=False).status_code == 302
    again = here.post("hub/account/password", {"password": NEW, "new_password": OLD})
    assert again.status_code == 200  # the _xsrf of this browser's new cookie


def test_a_password_reset_ends_every_session_and_voids_the_other_codes(accounts_hub, mailbox):
    name, address = account_with_password(accounts_hub)
    first, second = logged_in(accounts_hub, address, OLD), logged_in(accounts_hub, name, OLD)
    login_link, reset_link = outstanding_links(accounts_hub, mailbox, name, address)
    _, other_reset = outstanding_links(accounts_hub, mailbox, name, address)
    stranger = Browser(accounts_hub)  # whoever reads the mailbox
    page = stranger.get(reset_link)
    assert stranger.form_post(page, {"password": NEW}, allow_redirects=False).status_code == 302
    assert stranger.whoami() == name
    assert first.whoami() is None and second.whoami() is None
    assert session_tokens(accounts_hub, name) & {session_id(first), session_id(second)} == set()
    for link in (login_link, other_reset, reset_link):
        assert Browser(accounts_hub).get(link).status_code == 410, link


@pytest.mark.parametrize("evil", ["/hub/home\r\nSet-Cookie: owned=1", "/hub/home\n", "/hub/\x00home", "/hub/\x1bhome",
                                  "/hub/home\u2028x", "/hub/home\x85"])
def test_a_login_link_next_with_control_characters_is_refused_when_the_link_is_made(accounts_hub, evil):
    name, _ = account_with_password(accounts_hub)
    resp = admin_api(accounts_hub, "POST", f"accounts/{name}/login-links", json={"next": evil})
    assert resp.status_code == 400, resp.text
    assert set(resp.json()) >= {"status", "message"} and "next" in resp.json()["message"]
    ok = admin_api(accounts_hub, "POST", f"accounts/{name}/login-links", json={"next": "/hub/home?x=1"})
    assert ok.status_code == 201
