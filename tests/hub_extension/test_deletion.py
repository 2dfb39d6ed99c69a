"""Deleting a hub user leaves nothing the next owner of the name inherits (issue 9, item
6), and a trial user may log out while their server is still starting (item 10).

Every way of deleting passes AglaisAuthenticator.delete_user: logout of a trial account,
the hub's API (what the admin page and the idle culler use), the account API. There the
servers come to rest (a pending start is cancelled), the forget hooks run (here a hook
that writes the names down, where the booking service's forget_user goes), and the
account goes with a tombstone and its name's throttle counts."""

from __future__ import annotations

import uuid

import pytest
import requests

from tests.hub_extension.conftest import ADMIN_PASSWORD, Browser, own_accounts_hub, some_address
from tests.hub_extension.test_ways_in import confirm, sign_up


def extra_config(workdir) -> str:
    return f"""
import asyncio, pathlib
from jupyterhub.spawner import Spawner

WORKDIR = pathlib.Path({str(workdir)!r})

async def record_forget(name):
    await asyncio.sleep(0)
    if (WORKDIR / "fail-forget").exists():
        raise RuntimeError("the booking service is not answering")
    with open(WORKDIR / "forgotten.txt", "a") as out:
        out.write(name + "\\n")

c.AglaisAuthenticator.forget_hooks = [record_forget]


class SlowSpawner(Spawner):
    '''A server that takes an hour to start: still starting when its user logs out.'''

    async def start(self):
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            (WORKDIR / f"cancelled-{{self.user.name}}").touch()
            raise
        return ("127.0.0.1", 1)

    async def stop(self, now=False):
        pass

    async def poll(self):
        return 0

c.JupyterHub.spawner_class = SlowSpawner
# the hub's spawn request answers at once (202) while the start goes on
c.JupyterHub.tornado_settings.update({{"slow_spawn_timeout": 0}})
"""


@pytest.fixture(scope="module")
def hub(tmp_path_factory, mailbox, oidc_provider, stand_in):
    workdir = tmp_path_factory.mktemp("deletion-hub")
    with own_accounts_hub(workdir, smtp_port=mailbox.port, oidc=oidc_provider, stand_in=stand_in,
                          extra=extra_config(workdir)) as running:
        yield running
    log = (workdir / "hub.log").read_text()
    assert "Traceback" not in log, f"the hub logged tracebacks: {workdir / 'hub.log'}"


def api(hub, method, path, **kw):
    return requests.request(method, hub.url + "hub/api/" + path, headers={"Authorization": f"token {hub.admin_token}"},
                            **kw)


def forgotten(hub) -> list[str]:
    path = hub.workdir / "forgotten.txt"
    return path.read_text().split() if path.exists() else []


def trial(hub) -> tuple[Browser, str]:
    browser = Browser(hub)
    browser.get("hub/login")
    assert browser.post("hub/try", allow_redirects=False).status_code == 302
    return browser, browser.whoami()


def start_slowly(hub, name: str) -> None:
    assert api(hub, "POST", f"users/{name}/server").status_code == 202
    assert api(hub, "GET", f"users/{name}").json()["servers"][""]["pending"] == "spawn"


def test_a_trial_user_logs_out_while_the_server_is_starting(hub):
    browser, name = trial(hub)
    start_slowly(hub, name)
    browser.get("hub/logout")
    resp = browser.post("hub/logout")
    assert resp.status_code == 200 and "deleted" in resp.text, resp.text[-1500:]
    assert api(hub, "GET", f"users/{name}").status_code == 404
    assert api(hub, "GET", f"accounts/{name}").status_code == 404
    assert (hub.workdir / f"cancelled-{name}").exists()  # the start was cancelled, not left running
    assert name in forgotten(hub)


@pytest.mark.parametrize("path", ["users", "accounts"])
def test_the_apis_delete_a_user_whose_server_is_starting_and_forget_them(hub, path):
    """The hub's API (the admin page's and the idle culler's path) and the account API."""
    _, name = trial(hub)
    start_slowly(hub, name)
    assert api(hub, "DELETE", f"{path}/{name}").status_code == 204
    assert api(hub, "GET", f"accounts/{name}").status_code == 404
    assert (hub.workdir / f"cancelled-{name}").exists()
    assert name in forgotten(hub)


def test_the_account_api_forgets_and_a_failing_forget_deletes_nothing(hub):
    name = f"gone-{uuid.uuid4().hex[:6]}"
    assert api(hub, "POST", "accounts", json={"name": name}).status_code == 201
    (hub.workdir / "fail-forget").touch()
    try:
        refused = api(hub, "DELETE", f"accounts/{name}")
        assert refused.status_code == 503 and "Nothing was deleted" in refused.json()["message"]
        assert api(hub, "GET", f"accounts/{name}").status_code == 200
        assert api(hub, "DELETE", f"users/{name}").status_code == 503  # the hub's API alike
        assert api(hub, "GET", f"users/{name}").status_code == 200
    finally:
        (hub.workdir / "fail-forget").unlink()
    assert api(hub, "DELETE", f"accounts/{name}").status_code == 204
    assert name in forgotten(hub)


def test_a_deleted_name_is_not_handed_to_the_next_sign_up_but_an_admin_may_reuse_it(hub, mailbox):
    _, name = trial(hub)
    assert api(hub, "DELETE", f"users/{name}").status_code == 204
    # a sign-up whose address would be named like the deleted trial account gets another name
    browser = Browser(hub)
    browser.form_post(confirm(browser, mailbox, sign_up(browser, mailbox, f"{name}@example.org")))
    assert browser.whoami() == f"{name}-2"
    # so does the next one after a registered account is deleted
    assert api(hub, "DELETE", f"accounts/{name}-2").status_code == 204
    again = Browser(hub)
    again.form_post(confirm(again, mailbox, sign_up(again, mailbox, f"{name}-2@example.net")))
    assert again.whoami() == f"{name}-2-2"
    # an admin who names it deliberately may have it back
    assert api(hub, "POST", "accounts", json={"name": name}).status_code == 201


def test_the_throttle_counts_under_a_name_go_with_it(hub):
    name = f"locked-{uuid.uuid4().hex[:6]}"
    assert api(hub, "POST", "accounts", json={"name": name, "password": "the first password"}).status_code == 201
    for _ in range(5):  # login_limit_account: 5 per 15 minutes
        assert Browser(hub, some_address()).login(name, "a wrong password").status_code == 403
    assert Browser(hub, some_address()).login(name, "the first password").status_code == 429
    assert api(hub, "DELETE", f"accounts/{name}").status_code == 204
    # the next owner of the name (an admin's deliberate choice) does not inherit the lock
    assert api(hub, "POST", "accounts", json={"name": name, "password": "the next password"}).status_code == 201
    assert Browser(hub, some_address()).login(name, "the next password", allow_redirects=False).status_code == 302
    assert Browser(hub, some_address()).login("admin", ADMIN_PASSWORD, allow_redirects=False).status_code == 302
