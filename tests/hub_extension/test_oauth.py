"""OAuth through a real hub: the Demo provider is a real OpenID Connect provider
(oidc-provider-mock); GitHub and Google are stand-ins answering their endpoints."""

from __future__ import annotations

import uuid

import requests

from tests.hub_extension.conftest import Browser, StandIn, some_address
from tests.hub_extension.test_ways_in import hub_user


def account(hub, name):
    resp = requests.get(hub.url + f"hub/api/accounts/{name}", headers={"Authorization": f"token {hub.admin_token}"})
    assert resp.status_code == 200, resp.text
    return resp.json()


def demo_login(browser: Browser, sub: str) -> requests.Response:
    """Log in at the Demo provider as `sub`: its form, then back to the hub."""
    form = browser.get("hub/oauth/demo/oauth_login")
    assert form.status_code == 200 and "Authorize" in form.text, form.text[:500]
    back = browser.session.post(form.url, data={"sub": sub}, allow_redirects=False)
    assert back.status_code == 302, back.text[:500]
    return browser.get(back.headers["Location"], allow_redirects=False)


def test_demo_provider_makes_a_level_1_account_and_logs_back_into_it(accounts_hub, browser):
    resp = demo_login(browser, "olive-sub")
    assert resp.status_code == 302, resp.text[:1000]
    name = browser.whoami()
    assert name.startswith("olive")
    model = account(accounts_hub, name)
    assert model["level"] == "level-1" and not model["transient"]
    assert model["email"] == "olive@example.org"  # verified by the provider
    assert [(i["provider"], i["confirmed"]) for i in model["identities"]] == [("demo", True)]
    again = Browser(accounts_hub)
    assert demo_login(again, "olive-sub").status_code == 302
    assert again.whoami() == name


def test_an_unverified_address_is_not_used(accounts_hub, browser):
    # the mock hands out {"email": sub} without email_verified for subjects it doesn't know
    sub = f"mallory-{uuid.uuid4().hex[:6]}@example.org"
    assert demo_login(browser, sub).status_code == 302
    model = account(accounts_hub, browser.whoami())
    assert model["email"] is None
    assert model["identities"][0]["email"] is None


def test_github_and_google(accounts_hub, browser):
    StandIn.next_user["gh"] = "octocat"
    landing = browser.get("hub/oauth/github/oauth_login")
    assert landing.status_code == 200
    octo = browser.whoami()
    assert octo.startswith("octocat")
    assert account(accounts_hub, octo)["email"] == "octocat@example.org"
    other = Browser(accounts_hub)
    StandIn.next_user["google"] = "gina"
    assert other.get("hub/oauth/google/oauth_login").status_code == 200
    gina = other.whoami()
    assert gina.startswith("gina") and gina != octo
    model = account(accounts_hub, gina)
    assert model["email"] == "gina@example.org" and model["identities"][0]["provider"] == "google"


def test_facebook_identities_never_bring_an_address(accounts_hub, browser):
    # Facebook does not say whether an address is verified: the preset never asks for one
    assert browser.get("hub/oauth/facebook/oauth_login").status_code == 200
    name = browser.whoami()
    assert name.startswith("fiona-fb")
    model = account(accounts_hub, name)
    assert model["email"] is None
    assert [(i["provider"], i["label"], i["email"]) for i in model["identities"]] == [("facebook", "Fiona Fb", None)]


def test_a_provider_name_cannot_take_over_an_existing_account(accounts_hub, browser):
    # a GitHub user called "admin" gets an account of their own, not the hub admin's
    StandIn.USERS["admin-gh"] = {"id": 9001, "login": "admin", "email": None, "name": "Not the admin"}
    StandIn.next_user["gh"] = "admin-gh"
    try:
        assert browser.get("hub/oauth/github/oauth_login").status_code == 200
    finally:
        StandIn.next_user["gh"] = "octocat"
    name = browser.whoami()
    assert name != "admin" and name.startswith("admin-")
    assert hub_user(accounts_hub, name)["admin"] is False


def test_a_trial_account_registers_with_a_provider_and_keeps_its_name(accounts_hub):
    browser = Browser(accounts_hub, some_address())
    browser.get("hub/login")
    browser.post("hub/try")
    trial = browser.whoami()
    assert account(accounts_hub, trial)["level"] == "level-0"
    register = browser.get("hub/register")
    assert "Register with Demo provider" in register.text
    form = browser.post("hub/account/link/demo")  # the link cookie, then the provider
    back = browser.session.post(form.url, data={"sub": f"reg-{uuid.uuid4().hex[:6]}"}, allow_redirects=False)
    landing = browser.get(back.headers["Location"])
    assert landing.status_code == 200 and "Your account" in landing.text
    assert browser.whoami() == trial
    model = account(accounts_hub, trial)
    assert model["level"] == "level-1" and model["transient"] is False
    assert [i["provider"] for i in model["identities"]] == ["demo"]
    # now logging out keeps the account
    assert "will be deleted" not in browser.get("hub/logout").text
    assert hub_user(accounts_hub, trial) is not None


def test_linking_an_identity_that_belongs_to_someone_else_is_refused(accounts_hub):
    owner = Browser(accounts_hub)
    sub = f"shared-{uuid.uuid4().hex[:6]}"
    demo_login(owner, sub)
    first = owner.whoami()
    other = Browser(accounts_hub)
    demo_login(other, f"other-{uuid.uuid4().hex[:6]}")
    second = other.whoami()
    form = other.post("hub/account/link/demo")
    back = other.session.post(form.url, data={"sub": sub}, allow_redirects=False)
    refused = other.get(back.headers["Location"])
    assert refused.status_code == 409 and "already belongs to another account" in refused.text
    assert [i["provider"] for i in account(accounts_hub, second)["identities"]] == ["demo"]
    assert len(account(accounts_hub, first)["identities"]) == 1


def test_linking_needs_a_post_with_xsrf(accounts_hub):
    browser = Browser(accounts_hub)
    demo_login(browser, f"x-{uuid.uuid4().hex[:6]}")
    assert browser.get("hub/account/link/demo").status_code == 405
    assert browser.post("hub/account/link/demo", xsrf=False, allow_redirects=False).status_code == 403
