"""The account REST API and one-time login links, through a real hub, under hub scopes."""

from __future__ import annotations

import sqlite3
import uuid
from datetime import datetime, timedelta

import pytest
import requests

from tests.hub_extension.conftest import LINKER_TOKEN, READER_TOKEN, Browser
from tests.hub_extension.test_ways_in import hub_user


def api(hub, method, path, token=None, **kw):
    return requests.request(method, hub.url + "hub/api/" + path.lstrip("/"),
                            headers={"Authorization": f"token {token or hub.admin_token}"}, **kw)


def new_account(hub, **body):
    name = f"acct-{uuid.uuid4().hex[:8]}"
    resp = api(hub, "POST", "accounts", json={"name": name, **body})
    assert resp.status_code == 201, resp.text
    return resp.json()


def test_create_read_change_level_and_delete(accounts_hub):
    model = new_account(accounts_hub, password="a long password 1", email=f"p-{uuid.uuid4().hex[:6]}@example.org",
                        email_confirmed=True, attributes={"project": "gaia"})
    name = model["name"]
    assert model["level"] == "level-1" and model["has_password"] and model["attributes"] == {"project": "gaia"}
    assert hub_user(accounts_hub, name)["groups"] == ["level-1"]
    assert Browser(accounts_hub).login(model["email"], "a long password 1", allow_redirects=False).status_code == 302
    resp = api(accounts_hub, "PATCH", f"accounts/{name}", json={"level": "level-n"})
    assert resp.status_code == 200 and resp.json()["level"] == "level-n"
    assert hub_user(accounts_hub, name)["groups"] == ["level-n"]  # what the booking service reads
    assert resp.json()["grants"]["retention"]["saved_months"] is None  # level-n keeps data permanently
    identities = api(accounts_hub, "GET", f"accounts/{name}/identities").json()["identities"]
    assert [(i["provider"], i["confirmed"]) for i in identities] == [("email", True)]
    assert api(accounts_hub, "DELETE", f"accounts/{name}").status_code == 204
    assert hub_user(accounts_hub, name) is None
    assert api(accounts_hub, "GET", f"accounts/{name}").status_code == 404


@pytest.mark.parametrize("body, message", [
    ({"name": "Bad Name!"}, "lower-case letters"),
    ({"name": "ok-name", "level": "level-9"}, "level must be one of"),
    ({"name": "ok-name", "email": "nope"}, "Enter an email address"),
    ({"name": "ok-name", "password": "short"}, "at least 10"),
    ({"name": "ok-name", "colour": "red"}, "Unknown field"),
])
def test_bad_input_is_refused_with_a_message_and_changes_nothing(accounts_hub, body, message):
    before = api(accounts_hub, "GET", "accounts").json()["accounts"]
    resp = api(accounts_hub, "POST", "accounts", json=body)
    assert resp.status_code == 400 and message in resp.json()["message"], resp.text
    assert set(resp.json()) >= {"status", "message"}
    assert api(accounts_hub, "GET", "accounts").json()["accounts"] == before


def test_a_name_or_address_taken_is_409(accounts_hub):
    model = new_account(accounts_hub, email=f"t-{uuid.uuid4().hex[:6]}@example.org", email_confirmed=True)
    assert api(accounts_hub, "POST", "accounts", json={"name": model["name"].upper()}).status_code == 409
    assert api(accounts_hub, "POST", "accounts", json={"name": "x" + model["name"], "email": model["email"].upper()}
               ).status_code == 409


def test_users_read_their_own_account_and_nobody_else_s(accounts_hub):
    alice, bob = new_account(accounts_hub)["name"], new_account(accounts_hub)["name"]
    token = api(accounts_hub, "POST", f"users/{alice}/tokens", json={}).json()["token"]
    assert api(accounts_hub, "GET", f"accounts/{alice}", token).status_code == 200
    assert api(accounts_hub, "GET", f"accounts/{bob}", token).status_code == 403
    assert api(accounts_hub, "GET", "accounts", token).status_code == 403
    assert api(accounts_hub, "PATCH", f"accounts/{alice}", token, json={"level": "level-n"}).status_code == 403
    assert api(accounts_hub, "POST", f"accounts/{alice}/login-links", token, json={}).status_code == 403
    assert hub_user(accounts_hub, alice)["groups"] == ["level-1"]


def login_link(hub, name, token=None, **body):
    return api(hub, "POST", f"accounts/{name}/login-links", token, json=body)


def test_a_login_link_logs_in_once(accounts_hub):
    name = new_account(accounts_hub)["name"]
    resp = login_link(accounts_hub, name, next="/hub/token")
    assert resp.status_code == 201, resp.text
    url = resp.json()["url"]
    browser = Browser(accounts_hub)
    page = browser.get(url)
    assert page.status_code == 200 and f"continue as {name}" in page.text
    assert browser.whoami() is None  # showing the page logs nobody in
    landed = browser.form_post(page, allow_redirects=False)
    assert landed.status_code == 302 and landed.headers["Location"] == "/hub/token"
    assert browser.whoami() == name
    replay = Browser(accounts_hub)
    page = replay.get(url)
    assert page.status_code == 410 and "already used" in page.text
    assert replay.whoami() is None


def test_an_expired_login_link_is_refused(accounts_hub):
    name = new_account(accounts_hub)["name"]
    url = login_link(accounts_hub, name, lifetime_minutes=1).json()["url"]
    # time passes: the code's expiry moves into the past in the account database
    db = sqlite3.connect(accounts_hub.workdir / "accounts.sqlite")
    past = (datetime.utcnow() - timedelta(minutes=5)).isoformat(sep=" ")
    db.execute("UPDATE codes SET expires = ? WHERE account_name = ?", (past, name))
    db.commit()
    db.close()
    browser = Browser(accounts_hub)
    page = browser.get(url)
    assert page.status_code == 410 and "expired" in page.text
    assert browser.whoami() is None


def test_login_links_need_their_scope_and_a_next_on_this_hub(accounts_hub):
    name = new_account(accounts_hub)["name"]
    assert api(accounts_hub, "GET", f"accounts/{name}", READER_TOKEN).status_code == 200
    assert login_link(accounts_hub, name, READER_TOKEN).status_code == 403
    # the link maker's scope is filtered to the group "linkable"
    assert login_link(accounts_hub, name, LINKER_TOKEN).status_code == 403
    assert api(accounts_hub, "POST", "groups/linkable/users", json={"users": [name]}).status_code == 200
    assert login_link(accounts_hub, name, LINKER_TOKEN).status_code == 201
    other = new_account(accounts_hub)["name"]
    assert login_link(accounts_hub, other, LINKER_TOKEN).status_code == 403
    for evil in ("https://evil.example/", "//evil.example/x", "javascript:alert(1)"):
        resp = login_link(accounts_hub, name, next=evil)
        assert resp.status_code == 400 and "path on this hub" in resp.json()["message"]
    assert login_link(accounts_hub, name, lifetime_minutes=0).status_code == 400
    assert login_link(accounts_hub, name, lifetime_minutes=10**6).status_code == 400


def test_a_group_with_properties_adds_to_what_the_level_grants(accounts_hub):
    name = new_account(accounts_hub)["name"]
    group = f"project-{uuid.uuid4().hex[:6]}"
    assert api(accounts_hub, "POST", f"groups/{group}").status_code == 201
    assert api(accounts_hub, "PUT", f"groups/{group}/properties",
               json={"quota": {"saved_mb": 51200}, "retention": {"saved_months": None}}).status_code == 200
    before = api(accounts_hub, "GET", f"accounts/{name}").json()["grants"]
    assert before["quota"]["saved_mb"] == 5120 and before["retention"]["saved_months"] == 6
    assert api(accounts_hub, "POST", f"groups/{group}/users", json={"users": [name]}).status_code == 200
    after = api(accounts_hub, "GET", f"accounts/{name}").json()
    assert after["level"] == "level-1" and group in after["groups"]
    assert after["grants"]["quota"]["saved_mb"] == 51200 and after["grants"]["retention"]["saved_months"] is None
    assert after["grants"]["quota"]["notebooks"] == before["quota"]["notebooks"]  # the rest is the level's
