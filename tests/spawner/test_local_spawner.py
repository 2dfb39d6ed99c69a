"""End to end: the booking-aware local spawner in a real hub, with real single-user
servers and the real booking service (its own process)."""

from __future__ import annotations

import asyncio
import os
import pwd
import stat
import subprocess
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import quote

import pytest

from spawner import system_users
from spawner.mixin import HUB_SECRETS
from tests.booking_service.conftest import iso
from tests.hub import User
from tests.spawner.conftest import booked_now, new_user, releases, wait_for

GIB = 1024**3


async def test_walk_in_without_a_booking_gets_the_level_package(spawn_hub, servers, booking_api):
    user = await new_user(spawn_hub, "level-1")
    ent = await booking_api.ok("GET", f"users/{user.name}/entitlement", user)
    assert (ent["kind"], ent["package"]["name"], ent["pool"]) == ("walk-in", "small", "shared")
    resp = await servers.start(user)
    assert resp.status in (201, 202), resp.body
    proc = await servers.process(user)
    assert proc.cpus() == 1  # ceil(0.5 cores)
    assert proc.data_limit() == 2 * GIB  # the small package's notebook memory
    env = proc.env()
    assert (env["AGLAIS_PACKAGE"], env["AGLAIS_SESSION_KIND"], env["AGLAIS_BOOKING_END"]) == ("small", "walk-in", "")
    assert env["SPARK_EXECUTOR_INSTANCES"] == "1"
    conf = open(env["SPARK_CONF_DIR"] + "/spark-defaults.conf").read()
    assert "spark.executor.instances 1" in conf and "spark.executor.memory 1664m" in conf and "spark.executor.memoryOverhead 384m" in conf
    ent = await booking_api.ok("GET", f"users/{user.name}/entitlement", user)
    assert len(ent["sessions"]) == 1
    await servers.stop(user)
    ent = await booking_api.ok("GET", f"users/{user.name}/entitlement", user)
    assert ent["sessions"] == []  # released when the server stopped


async def test_a_stopped_server_releases_its_session_once(spawn_hub, servers, booking_api):
    user = await new_user(spawn_hub, "level-1")
    assert (await servers.start(user)).status in (201, 202)
    (session,) = (await booking_api.ok("GET", f"users/{user.name}/entitlement", user))["sessions"]
    await servers.stop(user)
    assert releases(spawn_hub, session["id"]) == ["server stopped"]


async def test_a_server_that_dies_releases_its_session_once_as_exited(spawn_hub, servers, booking_api):
    user = await new_user(spawn_hub, "level-1")
    assert (await servers.start(user)).status in (201, 202)
    (session,) = (await booking_api.ok("GET", f"users/{user.name}/entitlement", user))["sessions"]
    os.kill((await servers.process(user)).pid, 9)
    await servers.wait_stopped(user, timeout=15)  # the hub's poll found it gone
    await wait_for(lambda: _no_sessions(booking_api, user), 10, "the session was not released")
    assert releases(spawn_hub, session["id"]) == ["server exited"]


async def _no_sessions(booking_api, user) -> bool:
    return not (await booking_api.ok("GET", f"users/{user.name}/entitlement", user))["sessions"]


async def test_a_booking_for_now_gets_the_booked_package(spawn_hub, servers, booking_api):
    user, booking = await booked_now(spawn_hub, booking_api, "medium", timedelta(hours=2))
    resp = await servers.start(user)
    assert resp.status in (201, 202), resp.body
    proc = await servers.process(user)
    assert proc.data_limit() == 4 * GIB  # medium's notebook: 1 core, 4 GiB
    assert proc.cpus() == 1
    env = proc.env()
    assert env["AGLAIS_PACKAGE"] == "medium" and env["AGLAIS_BOOKING_ID"] == str(booking["id"])
    assert env["AGLAIS_BOOKING_END"] == booking["end"] and env["SPARK_EXECUTOR_INSTANCES"] == "2"
    await servers.stop(user)


async def test_level_0_cannot_book_and_gets_the_tiny_walk_in(spawn_hub, servers, booking_api):
    admin = spawn_hub.booking_admin
    pool = await booking_api.new_pool(admin, cores=8, memory_gib=32)
    user = await new_user(spawn_hub, "level-0")
    now = datetime.now(timezone.utc)
    refused = await booking_api.call("POST", "bookings", user, {
        "pool": pool, "package": "small", "start": iso(now), "end": iso(now + timedelta(hours=1))})
    assert refused.status == 403
    resp = await servers.start(user)
    assert resp.status in (201, 202), resp.body
    proc = await servers.process(user)
    assert proc.data_limit() == 1 * GIB and proc.env()["AGLAIS_PACKAGE"] == "tiny"
    await servers.stop(user)


async def test_a_zeppelin_start_where_zeppelin_is_not_installed_is_told_why(spawn_hub, servers, booking_api):
    # this hub has no zeppelin_sh and no $ZEPPELIN_HOME (tests/labextension/test_zeppelin.py has one)
    user = await new_user(spawn_hub, "level-1")
    assert "zeppelin" in (await booking_api.ok("GET", f"users/{user.name}/entitlement", user))["flavours"]
    resp = await servers.start(user, flavour="zeppelin")
    assert resp.status == 400, resp.body
    assert "Apache Zeppelin is not installed on this hub" in resp.json()["message"]
    assert not (await servers.model(user)).get("servers", {}).get("")
    assert (await servers.start(user)).status in (201, 202)  # Jupyter starts
    await servers.stop(user)


async def test_full_shared_pool_queues_and_frees_the_slot_for_the_head(spawn_hub, servers, booking_api):
    first, second, third = [await new_user(spawn_hub, "level-1") for _ in range(3)]
    assert (await servers.start(first)).status in (201, 202)
    refused = await servers.start(second)
    assert refused.status == 409, refused.body
    assert "You are number 1 in the queue" in refused.json()["message"]
    refused = await servers.start(third)
    assert "You are number 2 in the queue" in refused.json()["message"]
    ent = await booking_api.ok("GET", f"users/{third.name}/entitlement", third)
    assert ent["queue"]["position"] == 2 and ent["queue"]["state"] == "waiting"
    await servers.stop(first)
    ent = await booking_api.ok("GET", f"users/{second.name}/entitlement", second)
    assert ent["queue"]["state"] == "offered" and ent["kind"] == "walk-in"
    still = await servers.start(third)  # the place is held for the head, not for whoever comes
    assert still.status == 409 and "number 2 in the queue" in still.json()["message"]
    assert (await servers.start(second)).status in (201, 202)
    ent = await booking_api.ok("GET", f"users/{third.name}/entitlement", third)
    assert ent["queue"]["position"] == 1
    await servers.stop(second)
    await booking_api.ok("DELETE", f"users/{third.name}/queue", third)


async def test_shortening_a_booking_stops_the_server_extending_keeps_it(spawn_hub, servers, booking_api):
    user, booking = await booked_now(spawn_hub, booking_api, "small", timedelta(minutes=10))
    now = datetime.now(timezone.utc)
    assert (await servers.start(user)).status in (201, 202)
    ent = await booking_api.ok("GET", f"users/{user.name}/entitlement", user)
    assert ent["kind"] == "booking" and ent["warning"] == "15m"
    await booking_api.ok("PATCH", f"bookings/{booking['id']}", user, {"end": iso(now + timedelta(hours=1))})
    await asyncio.sleep(3)  # three rounds of the loop (1 s in these tests)
    assert (await servers.model(user))["servers"].get(""), "extending must keep the server"
    ended = datetime.now(timezone.utc)
    await booking_api.ok("PATCH", f"bookings/{booking['id']}", user, {"end": iso(ended)})
    started = time.monotonic()
    await servers.wait_stopped(user, timeout=15)
    assert time.monotonic() - started < 15


async def test_booking_service_down_refuses_and_restarted_loses_no_session(spawn_hub, servers, booking_api):
    booking = spawn_hub.external["booking"]
    user = await new_user(spawn_hub, "level-1")
    booking.stop()
    try:
        resp = await servers.start(user)
        assert resp.status == 503, resp.body
        assert "booking service is not answering" in resp.json()["message"]
        assert not (await servers.model(user))["servers"]  # nothing half-started
    finally:
        booking.start()
    assert (await servers.start(user)).status in (201, 202)
    booking.stop()
    booking.start()  # restarted while the server runs
    ent = await booking_api.ok("GET", f"users/{user.name}/entitlement", user)
    assert len(ent["sessions"]) == 1
    await servers.stop(user)
    ent = await booking_api.ok("GET", f"users/{user.name}/entitlement", user)
    assert ent["sessions"] == []


async def test_a_lost_release_is_ended_by_the_lifecycle_loop(spawn_hub, servers, booking_api):
    """The server stops while the booking service is down: the spawner cannot release the
    session, so the service ends it once it sees the hub no longer runs that server."""
    booking = spawn_hub.external["booking"]
    user = await new_user(spawn_hub, "level-1")
    assert (await servers.start(user)).status in (201, 202)
    booking.stop()
    try:
        await servers.stop(user)
    finally:
        booking.start()
    deadline = time.monotonic() + 15
    while (await booking_api.ok("GET", f"users/{user.name}/entitlement", user))["sessions"]:
        assert time.monotonic() < deadline, "the orphaned session was never ended"
        await asyncio.sleep(0.5)


async def test_a_running_walk_in_is_what_the_entitlement_shows(spawn_hub, servers, booking_api):
    """The shared pool is full with the user's own server: they hold a walk-in, not a queue place."""
    user = await new_user(spawn_hub, "level-1")
    assert (await servers.start(user)).status in (201, 202)
    ent = await booking_api.ok("GET", f"users/{user.name}/entitlement", user)
    assert (ent["kind"], ent["queue"], len(ent["sessions"])) == ("walk-in", None, 1)
    await servers.stop(user)


# -- servers run as system accounts of their own (the hub runs as root here, as in CI) ----

def account_of(hub, user: User) -> pwd.struct_passwd:
    return pwd.getpwnam(system_users.system_name(hub.system_user_prefix, user.name))


async def test_each_server_runs_as_an_account_of_its_own_and_it_goes_with_the_user(spawn_hub, servers):
    first, second = await new_user(spawn_hub, "level-1"), await new_user(spawn_hub, "level-0")
    assert (await servers.start(first)).status in (201, 202)
    proc = await servers.process(first)
    account = account_of(spawn_hub, first)
    status = Path(f"/proc/{proc.pid}/status").read_text()
    uids = next(line.split()[1:] for line in status.splitlines() if line.startswith("Uid:"))
    groups = next(line.split()[1:] for line in status.splitlines() if line.startswith("Groups:"))
    assert set(uids) == {str(account.pw_uid)} and account.pw_uid != 0  # real, effective, saved, fs
    assert {int(g) for g in groups} == set(os.getgrouplist(account.pw_name, account.pw_gid))
    assert account.pw_name.startswith(spawn_hub.system_user_prefix)
    assert account.pw_gecos == system_users.marker(first.name)
    home = Path(account.pw_dir)
    assert home.parent == Path(spawn_hub.system_homes)
    st = home.stat()
    assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (account.pw_uid, 0o700)
    env = proc.env()
    assert (env["HOME"], env["USER"]) == (str(home), account.pw_name)
    for path in (home / ".aglais", home / ".aglais" / "spark", Path(env["SPARK_CONF_DIR"]) / "spark-defaults.conf"):
        assert path.stat().st_uid == account.pw_uid, path
    assert "--allow-root" not in Path(f"/proc/{proc.pid}/cmdline").read_bytes().decode()
    await servers.stop(first)
    # the second user's server (the shared pool holds one at a time): another account
    assert (await servers.start(second)).status in (201, 202)
    other = account_of(spawn_hub, second)
    assert other.pw_uid not in (0, account.pw_uid)
    await servers.stop(second)
    await spawn_hub.hub_api("DELETE", f"users/{first.name}")
    with pytest.raises(KeyError):
        account_of(spawn_hub, first)
    assert not home.exists()
    assert account_of(spawn_hub, second)  # nobody else's


async def test_no_hub_secret_reaches_a_server_even_when_config_asks(spawn_hub, servers):
    """The hub's test config puts AGLAIS_ADMIN_PASSWORD and CONFIGPROXY_AUTH_TOKEN in env_keep."""
    user = await new_user(spawn_hub, "level-1")
    assert (await servers.start(user)).status in (201, 202)
    env = (await servers.process(user)).env()
    hub_env = dict(item.split("=", 1) for item in
                   Path(f"/proc/{spawn_hub.process.pid}/environ").read_text().split("\0") if "=" in item)
    assert hub_env["AGLAIS_ADMIN_PASSWORD"] and hub_env.get("CONFIGPROXY_AUTH_TOKEN")
    assert "AGLAIS_ADMIN_PASSWORD" not in env and "CONFIGPROXY_AUTH_TOKEN" not in env
    secrets = {v for k, v in hub_env.items() if k in HUB_SECRETS and v}
    assert not secrets & set(env.values())
    assert env["JUPYTERHUB_API_TOKEN"] and env["JUPYTERHUB_API_TOKEN"] not in hub_env.values()  # its own
    await servers.stop(user)


async def test_an_account_the_hub_did_not_make_is_never_used_nor_removed(spawn_hub, servers):
    user = await new_user(spawn_hub, "level-1")
    name = system_users.system_name(spawn_hub.system_user_prefix, user.name)
    subprocess.run(["useradd", "--comment", "someone else", "--base-dir", spawn_hub.system_homes, "--create-home", name],
                   check=True)
    try:
        refused = await servers.start(user)
        assert refused.status >= 400 or not (await servers.model(user))["servers"]
        assert not [p for p in Path("/proc").iterdir() if p.name.isdigit() and _owner(p) == pwd.getpwnam(name).pw_uid]
        await spawn_hub.hub_api("DELETE", f"users/{user.name}")
        assert pwd.getpwnam(name).pw_gecos == "someone else"
        assert Path(pwd.getpwnam(name).pw_dir).is_dir()
    finally:
        subprocess.run(["userdel", "--remove", name], check=False, capture_output=True)


def _owner(path: Path) -> int | None:
    try:
        return path.stat().st_uid
    except FileNotFoundError:
        return None


async def test_a_name_useradd_would_refuse_gets_a_valid_account(spawn_hub, servers):
    """Long, with "@", "." and non-ASCII: a hashed account name, made and removed for real."""
    name = f"ädä.lovelace+{uuid.uuid4().hex[:6]}@example.org-with-a-very-long-tail"  # as the hub spells it
    await spawn_hub.hub_api("POST", f"users/{quote(name)}", {})
    await spawn_hub.ensure_group("level-1")
    await spawn_hub.hub_api("POST", "groups/level-1/users", {"users": [name]})
    user = User(name, await spawn_hub.token_for(name, ["custom:booking:read"]))
    started = time.monotonic()
    assert (await servers.start(user)).status in (201, 202)
    account = account_of(spawn_hub, user)
    assert len(account.pw_name) <= 32 and "_" in account.pw_name[len(spawn_hub.system_user_prefix):]
    assert (await servers.process(user)).env()["USER"] == account.pw_name
    await servers.stop(user)
    await spawn_hub.hub_api("DELETE", f"users/{quote(name)}")
    with pytest.raises(KeyError):
        account_of(spawn_hub, user)
    assert time.monotonic() - started < 60
