"""The server extension (aglais_lab) in real single-user servers: /aglais/status and
/aglais/extend ask the real booking service with the server's own token, whose scopes
the hub limits to the user's own bookings."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from datetime import datetime, timedelta
from pathlib import Path

from tests.hub import free_port, stop_hub, wait_for_http
from tests.labextension.conftest import booked_now, booking_in_full_pool, lab_request, new_user, server_token


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text)


async def test_status_gives_the_package_and_the_end_and_extend_moves_it(spawn_hub, servers, booking_api):
    user, booking = await booked_now(spawn_hub, booking_api, "medium", timedelta(hours=2))
    assert (await servers.start(user)).status in (201, 202)
    token = await server_token(spawn_hub, user)
    resp = await lab_request(spawn_hub, user, "GET", "aglais/status", token=token)
    assert resp.status == 200, resp.body
    status = resp.json()
    assert status["hub"] is True and status["booking_service"] is True
    assert (status["package"], status["kind"], status["booking_id"]) == ("medium", "booking", booking["id"])
    assert status["end"] == booking["end"] and status["state"] == "active"
    assert 7000 < status["seconds_left"] <= 7200
    assert (status["level"], status["warning"]) == (1, None)  # two hours left: no warning yet
    assert status["register_url"] == "/hub/register" and status["logout_url"] == "/hub/logout"

    resp = await lab_request(spawn_hub, user, "POST", "aglais/extend", token=token, body={"minutes": 30})
    assert resp.status == 200, resp.body
    extended = resp.json()
    assert _time(extended["end"]) - _time(booking["end"]) == timedelta(minutes=30)
    # the booking service has it too
    assert (await booking_api.ok("GET", f"bookings/{booking['id']}", user))["end"] == extended["end"]
    resp = await lab_request(spawn_hub, user, "GET", "aglais/status", token=token)
    assert resp.json()["end"] == extended["end"]
    # the default step (AglaisLab.extend_minutes, 30)
    resp = await lab_request(spawn_hub, user, "POST", "aglais/extend", token=token)
    assert _time(resp.json()["end"]) - _time(extended["end"]) == timedelta(minutes=30)
    bad = await lab_request(spawn_hub, user, "POST", "aglais/extend", token=token, body={"minutes": "lots"})
    assert bad.status == 400 and "minutes" in bad.json()["message"]
    await servers.stop(user)


async def test_warning_near_the_end_and_extend_refused_without_capacity(spawn_hub, servers, booking_api):
    user, booking = await booking_in_full_pool(spawn_hub, booking_api, timedelta(minutes=10))
    assert (await servers.start(user)).status in (201, 202)
    token = await server_token(spawn_hub, user)
    status = (await lab_request(spawn_hub, user, "GET", "aglais/status", token=token)).json()
    assert (status["package"], status["warning"]) == ("small", "15m")  # the booking service's warning
    assert status["seconds_left"] <= 600 and status["last_notice_seconds"] == 120
    resp = await lab_request(spawn_hub, user, "POST", "aglais/extend", token=token)
    assert resp.status == 409, resp.body
    # the booking service's own message, passed on
    assert "extend by less" in resp.json()["message"].lower(), resp.body
    assert (await booking_api.ok("GET", f"bookings/{booking['id']}", user))["end"] == booking["end"]
    await servers.stop(user)


async def test_level_0_walk_in_has_a_level_and_nothing_to_extend(spawn_hub, servers, booking_api):
    user = await new_user(spawn_hub, "level-0")
    assert (await servers.start(user)).status in (201, 202)
    token = await server_token(spawn_hub, user)
    status = (await lab_request(spawn_hub, user, "GET", "aglais/status", token=token)).json()
    assert (status["level"], status["kind"], status["package"], status["end"]) == (0, "walk-in", "tiny", None)
    resp = await lab_request(spawn_hub, user, "POST", "aglais/extend", token=token)
    assert resp.status == 409 and "nothing to extend" in resp.json()["message"]
    await servers.stop(user)


async def test_the_server_token_reaches_only_its_users_bookings(spawn_hub, servers, booking_api):
    user, booking = await booked_now(spawn_hub, booking_api, "small", timedelta(hours=1))
    other, others = await booked_now(spawn_hub, booking_api, "small", timedelta(hours=1))
    assert (await servers.start(user)).status in (201, 202)
    env = (await servers.process(user)).env()
    assert env["AGLAIS_BOOKING_URL"].endswith("/services/booking/api/v1")
    own = env["JUPYTERHUB_API_TOKEN"]
    # what the hub granted it: the server role's scopes and the user's own bookings
    model = (await spawn_hub.request("GET", "hub/api/user", token=own)).json()
    assert {"custom:booking:read!user=" + user.name, "custom:booking:write!user=" + user.name,
            "access:services!service=booking"} <= set(model["scopes"])
    assert not {"custom:booking:read", "custom:booking:write"} & set(model["scopes"])

    def call(method, path, body=None):
        return spawn_hub.request(method, f"services/booking/api/v1/{path}", token=own, body=body)

    assert (await call("GET", f"users/{user.name}/entitlement")).status == 200
    assert (await call("GET", f"bookings/{booking['id']}")).status == 200
    assert (await call("GET", f"users/{other.name}/entitlement")).status == 403
    assert (await call("GET", f"bookings/{others['id']}")).status == 404  # someone else's looks missing
    assert (await call("PATCH", f"bookings/{others['id']}", {"end": others["end"]})).status == 404
    assert (await spawn_hub.request("GET", "hub/api/users", token=own)).status == 403

    # a token without access to the server is refused by the server, before any booking call
    outsider = await server_token(spawn_hub, other)  # the other user's: no access to this server
    assert (await lab_request(spawn_hub, user, "GET", "aglais/status", token=outsider)).status == 403
    booking_only = await spawn_hub.token_for(user.name, ["custom:booking:write"])  # no access:servers
    resp = await lab_request(spawn_hub, user, "POST", "aglais/extend", token=booking_only)
    assert resp.status == 403
    assert (await booking_api.ok("GET", f"bookings/{booking['id']}", user))["end"] == booking["end"]
    await servers.stop(user)


async def test_a_hub_admins_server_token_is_not_a_booking_admin(spawn_hub, servers, booking_api):
    admin = await spawn_hub.new_user(admin=True, groups=["level-1"], prefix="hubadmin")
    _, others = await booked_now(spawn_hub, booking_api, "small", timedelta(hours=1))
    assert (await servers.start(admin)).status in (201, 202)
    own = (await servers.process(admin)).env()["JUPYTERHUB_API_TOKEN"]
    me = (await spawn_hub.request("GET", "services/booking/api/v1/me", token=own)).json()
    assert (me["name"], me["admin"]) == (admin.name, False)
    resp = await spawn_hub.request("GET", f"services/booking/api/v1/bookings/{others['id']}", token=own)
    assert resp.status == 404
    await servers.stop(admin)


def test_outside_a_hub_the_extension_says_so(tmp_path):
    """A plain `jupyter server` (no JUPYTERHUB_* environment): status says "not under a hub"."""
    port, token = free_port(), "t" * 32
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTERHUB_", "AGLAIS_"))}
    env.update(HOME=str(tmp_path), JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"))
    log = tmp_path / "server.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [str(Path(sys.executable).parent / "jupyter-server"), f"--port={port}", "--ip=127.0.0.1",
             "--no-browser", "--allow-root", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={tmp_path}"],
            env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for_http(f"http://127.0.0.1:{port}/api", process, log)  # public: the server's version
        url = f"http://127.0.0.1:{port}/aglais/status"
        request = urllib.request.Request(url, headers={"Authorization": f"token {token}"})
        with urllib.request.urlopen(request, timeout=10) as resp:
            assert json.load(resp) == {"hub": False, "message": "not under a hub"}
        # unauthenticated: refused like any other API
        try:
            urllib.request.urlopen(url, timeout=5)
            raise AssertionError("answered without a token")
        except urllib.error.HTTPError as e:
            assert e.code == 403
    finally:
        stop_hub(process)  # any process of ours: SIGTERM, then the group's SIGKILL
