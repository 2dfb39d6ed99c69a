"""What needs a hub of its own settings: throttles that hold across a restart, the cap on
live trial accounts, terms of use, the trial culler, and an SMTP server that is down."""

from __future__ import annotations

import sqlite3
import time
import uuid

import pytest
import requests

from tests.hub import free_port
from tests.hub_extension.conftest import (
    ADMIN_PASSWORD,
    Browser,
    own_accounts_hub,
    some_address,
)
from tests.hub_extension.test_oauth import demo_login


def restartable_hub(workdir, mailbox, oidc_provider, stand_in):
    return own_accounts_hub(workdir, smtp_port=mailbox.port, oidc=oidc_provider, stand_in=stand_in,
                            extra="c.AglaisAuthenticator.max_trial_accounts = 1\n")


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("limits-hub")


def test_failed_logins_are_throttled_and_the_throttle_survives_a_restart(workdir, mailbox, oidc_provider, stand_in):
    with restartable_hub(workdir, mailbox, oidc_provider, stand_in) as hub:
        browser = Browser(hub, some_address())
        for _ in range(5):  # login_limit_account: 5 per 15 minutes
            assert browser.login("admin", "wrong password").status_code == 403
        refused = browser.login("admin", ADMIN_PASSWORD)
        assert refused.status_code == 429 and "Too many failed sign-ins" in refused.text
        # the right password from elsewhere is refused too: the account is throttled
        assert Browser(hub, some_address()).login("admin", ADMIN_PASSWORD).status_code == 429
    with restartable_hub(workdir, mailbox, oidc_provider, stand_in) as hub:
        refused = Browser(hub, some_address()).login("admin", ADMIN_PASSWORD)
        assert refused.status_code == 429 and "Try again in" in refused.text
        # another account is not affected
        assert Browser(hub, some_address()).login("nobody", "wrong password").status_code == 403


def test_failed_logins_are_throttled_per_address(workdir, mailbox, oidc_provider, stand_in):
    with restartable_hub(workdir, mailbox, oidc_provider, stand_in) as hub:
        address = some_address()
        browser = Browser(hub, address)
        for i in range(30):  # login_limit_address: 30 per 15 minutes, across names
            assert browser.login(f"guess-{i}", "wrong password").status_code == 403
        assert browser.login("guess-x", "wrong password").status_code == 429
        assert Browser(hub, some_address()).login("guess-x", "wrong password").status_code == 403


def test_live_trial_accounts_are_capped(workdir, mailbox, oidc_provider, stand_in):
    with restartable_hub(workdir, mailbox, oidc_provider, stand_in) as hub:
        first = Browser(hub, some_address())
        first.get("hub/login")
        assert first.post("hub/try", allow_redirects=False).status_code == 302
        second = Browser(hub, some_address())
        second.get("hub/login")
        resp = second.post("hub/try")
        assert resp.status_code == 503 and "All trial places are taken" in resp.text
        assert second.whoami() is None
        # when the first trial ends, its place is free again
        first.get("hub/logout")
        assert first.post("hub/logout").status_code == 200
        assert second.post("hub/try", allow_redirects=False).status_code == 302
    log = (workdir / "hub.log").read_text()
    assert log.count("Traceback") == 0


def test_with_terms_a_new_oauth_identity_accepts_them_before_its_account_exists(tmp_path, mailbox, oidc_provider,
                                                                              stand_in):
    with own_accounts_hub(tmp_path, smtp_port=mailbox.port, oidc=oidc_provider, stand_in=stand_in,
                          extra="c.AglaisAuthenticator.terms_url = '/terms.html'\n") as hub:
        browser = Browser(hub)
        resp = demo_login(browser, f"terms-{uuid.uuid4().hex[:6]}")
        assert resp.status_code == 302 and resp.headers["Location"].endswith("/hub/accounts/complete")
        page = browser.get(resp.headers["Location"])
        assert "terms of use" in page.text and browser.whoami() is None
        before = browser.get("hub/api/accounts", headers={"Authorization": f"token {hub.admin_token}"}).json()
        refused = browser.post("hub/accounts/complete")
        assert refused.status_code == 400 and "Accept the terms" in refused.text
        assert browser.get("hub/api/accounts", headers={"Authorization": f"token {hub.admin_token}"}).json() == before
        done = browser.post("hub/accounts/complete", {"terms": "1"}, allow_redirects=False)
        assert done.status_code == 302 and browser.whoami().startswith("terms-")
        # the sign-up form asks for them too
        signup = Browser(hub)
        signup.get("hub/accounts/signup")
        resp = signup.post("hub/accounts/signup", {"email": "t@example.org", "password": "long enough password"})
        assert resp.status_code == 400 and "Accept the terms" in resp.text


def test_the_trial_culler_deletes_idle_trial_users_and_nobody_else(tmp_path, mailbox, oidc_provider, stand_in):
    """jupyterhub-idle-culler as configure_accounts runs it, with a short timeout: its
    token reaches only the trial group, so an idle level-1 user is left alone."""
    extra = ("configure_accounts(c, trial_culler_timeout=4, culler_interval=2)\n"
             "c.AglaisAuthenticator.max_trial_accounts = 10\n")
    with own_accounts_hub(tmp_path, smtp_port=mailbox.port, oidc=oidc_provider, stand_in=stand_in, extra=extra) as hub:
        admin = {"Authorization": f"token {hub.admin_token}"}
        trial = Browser(hub, some_address())
        trial.get("hub/login")
        trial.post("hub/try")
        name = trial.whoami()
        assert requests.post(hub.url + "hub/api/accounts", json={"name": "idle-scientist"}, headers=admin).ok
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if requests.get(hub.url + f"hub/api/users/{name}", headers=admin).status_code == 404:
                break
            time.sleep(0.5)
        assert requests.get(hub.url + f"hub/api/users/{name}", headers=admin).status_code == 404
        assert requests.get(hub.url + f"hub/api/accounts/{name}", headers=admin).status_code == 404
        time.sleep(5)  # two more rounds of the culler
        assert requests.get(hub.url + "hub/api/users/idle-scientist", headers=admin).status_code == 200
    log = (tmp_path / "hub.log").read_text()
    assert f"Deleted account {name}" in log


def test_a_sign_up_whose_mail_cannot_go_leaves_nothing_behind(tmp_path, oidc_provider, stand_in):
    """The SMTP server is down. Mail goes off the request's path (waiting for it would tell
    known addresses from unknown ones), so the page says "Check your mail" as always; the
    failure is logged, and no account, address, password or working code is left behind
    (the address can sign up again later)."""
    closed = free_port()  # nothing listens there
    with own_accounts_hub(tmp_path, smtp_port=closed, oidc=oidc_provider, stand_in=stand_in) as hub:
        admin = {"Authorization": f"token {hub.admin_token}"}
        before = requests.get(hub.url + "hub/api/accounts", headers=admin).json()["accounts"]
        browser = Browser(hub)
        browser.get("hub/accounts/signup")
        resp = browser.post("hub/accounts/signup", {"email": "nomail@example.org", "password": "long enough password"})
        assert resp.status_code == 200 and "Check your mail" in resp.text
        deadline = time.monotonic() + 30
        while "Could not mail" not in (tmp_path / "hub.log").read_text() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert "Could not mail nomail@example.org (confirm)" in (tmp_path / "hub.log").read_text()
        assert requests.get(hub.url + "hub/api/accounts", headers=admin).json()["accounts"] == before
        # not even "confirm first": the sign-up whose mail failed does not exist
        refused = Browser(hub).login("nomail@example.org", "long enough password")
        assert refused.status_code == 403 and "Invalid username or password" in refused.text
        with sqlite3.connect(tmp_path / "accounts.sqlite") as db:
            assert db.execute("SELECT count(*) FROM codes WHERE email = 'nomail@example.org'").fetchone() == (0,)
    assert "Traceback" not in (tmp_path / "hub.log").read_text()
