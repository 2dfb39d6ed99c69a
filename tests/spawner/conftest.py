"""A real hub with the booking-aware local spawner, real single-user servers, and an
external booking service the tests can stop and restart."""

from __future__ import annotations

import asyncio
import os
import pwd
import re
import shutil
import subprocess
import tempfile
import time
import uuid
from contextlib import asynccontextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import quote, unquote

import pytest

from hub_extension.config.accounts import TEMPLATES
from hub_extension.embedded import server_env
from spawner import system_users
from tests.booking_service.conftest import BookingAPI, day_start, iso
from tests.hub import Hub, User, start_hub, stop_hub


def servers_env() -> Path:
    """The servers' venv `make test` builds (make server-env), outside the checkout."""
    env = server_env.path()
    if not (env / "bin" / "jupyterhub-singleuser").exists():
        raise RuntimeError(f"{env} is missing: run `make server-env` (make test builds it)")
    return env


def remove_accounts(prefix: str) -> None:
    """Remove every account the hub made with `prefix` (what deleting its users would do)."""
    for entry in pwd.getpwall():
        if entry.pw_name.startswith(prefix) and entry.pw_gecos.startswith(system_users.MARKER):
            system_users.kill_processes(entry.pw_uid, entry.pw_gid)
            subprocess.run(["userdel", "--remove", entry.pw_name], check=False, capture_output=True)


# What the spawner tests' hubs share: servers' landing page, generous timeouts, a poll that
# notices a server that died within a second or two.
SERVERS_CONFIG = """
        c.Spawner.default_url = '/api/status'
        c.Spawner.start_timeout = 60
        c.Spawner.http_timeout = 60
        c.Spawner.poll_interval = 1
"""


# A package's Spark workers start a real cluster (spawner/spark_local.py): only the Spark
# tests want one (running_spawn_hub(spark=True); a module of spawn_hub's sets SPAWN_HUB_SPARK).
NO_SPARK = """
        c.BookingLocalProcessSpawner.spark_cluster = False
"""


@asynccontextmanager
async def running_spawn_hub(workdir: Path, extra_config: str = "", *, spark: bool = False):
    """The spawner tests' hub in `workdir`, with `extra_config` after its own (a hub of its
    own for tests that need other settings); stopped, and its accounts removed, at the end."""
    # the hub's system accounts: a prefix of their own, homes in a directory every account
    # can enter (pytest's own tmp is 0700); all removed afterwards, as userdel would
    prefix = f"t{uuid.uuid4().hex[:6]}-"
    homes = tempfile.mkdtemp(prefix="aglais-homes-", dir="/tmp")
    os.chmod(homes, 0o755)
    extra = f"""
        c.JupyterHub.spawner_class = 'booking-local'
        # the tests run as root, as the embedded default and CI do: an account per user
        c.BookingLocalProcessSpawner.create_system_users = True
        c.BookingLocalProcessSpawner.system_user_prefix = '{prefix}'
        c.BookingLocalProcessSpawner.system_homes = '{homes}'
        c.Spawner.cmd = ['{servers_env()}/bin/jupyterhub-singleuser']
        # the hub's pages as the accounts work serves them (the queue's self-refreshing error page)
        c.JupyterHub.template_paths = ['{TEMPLATES}']
        c.JupyterHub.last_activity_interval = 5
        # hub secrets in the hub's environment (below) that config wrongly asks servers to keep
        c.Spawner.env_keep = ['PATH', 'LANG', 'AGLAIS_ADMIN_PASSWORD', 'CONFIGPROXY_AUTH_TOKEN']
    """ + SERVERS_CONFIG + ("" if spark else NO_SPARK) + extra_config
    secrets = {"AGLAIS_ADMIN_PASSWORD": uuid.uuid4().hex, "CONFIGPROXY_AUTH_TOKEN": uuid.uuid4().hex}
    os.environ.update(secrets)
    try:
        hub = start_hub(workdir, {}, external={"booking": f"sqlite+aiosqlite:///{workdir}/booking.sqlite"},
                        extra_config=extra)
    finally:
        for key in secrets:
            del os.environ[key]
    api = BookingAPI(hub, "booking")
    admin = await hub.new_user(admin=True, prefix="admin")
    # the walk-in pool: room for one small (1 core, 4 GiB) at a time
    await api.ok("POST", "pools", admin, {"name": "shared", "kind": "shared"})
    await api.ok("POST", "pools/shared/capacity", admin, {
        "start": iso(day_start(-1)), "end": iso(day_start(30)), "cores": 1, "memory_gib": 5})
    hub.booking_admin = admin
    hub.system_user_prefix, hub.system_homes = prefix, homes
    try:
        yield hub
    finally:
        for booking in hub.external.values():
            booking.stop()
        stop_hub(hub.process)
        remove_accounts(prefix)
        shutil.rmtree(homes, ignore_errors=True)


@pytest.fixture(scope="module")
async def spawn_hub(tmp_path_factory, request):
    """The module's hub: with its module's SPAWN_HUB_CONFIG (more config) and
    SPAWN_HUB_SPARK (True: real Spark clusters), if it sets them."""
    spark = getattr(request.module, "SPAWN_HUB_SPARK", False)
    extra = getattr(request.module, "SPAWN_HUB_CONFIG", "")
    async with running_spawn_hub(tmp_path_factory.mktemp("spawn-hub"), extra, spark=spark) as hub:
        yield hub


class Servers:
    """Start, inspect and stop users' servers through the hub's REST API, as an admin's program does."""

    def __init__(self, hub: Hub):
        self.hub = hub

    async def start(self, user: User, flavour: str = "jupyter"):
        """The hub's answer to starting the server: 201/202, or the refusal (status, message)."""
        resp = await self.hub.request("POST", f"hub/api/users/{quote(user.name)}/server", token=self.hub.admin_token,
                                      body={"flavour": flavour})
        if resp.status in (201, 202):
            await self.wait_ready(user)
        return resp

    async def model(self, user: User) -> dict:
        resp = await self.hub.request("GET", f"hub/api/users/{quote(user.name)}?include_stopped_servers=0",
                                      token=self.hub.admin_token)
        return resp.json()

    async def wait_ready(self, user: User, timeout: float = 60) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            server = (await self.model(user)).get("servers", {}).get("")
            if server and server.get("ready"):
                return server
            await asyncio.sleep(0.5)
        raise AssertionError(f"{user.name}'s server did not become ready")

    async def wait_stopped(self, user: User, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not (await self.model(user)).get("servers", {}).get(""):
                return
            await asyncio.sleep(0.5)
        raise AssertionError(f"{user.name}'s server is still running after {timeout}s")

    async def stop(self, user: User) -> None:
        await self.hub.request("DELETE", f"hub/api/users/{quote(user.name)}/server", token=self.hub.admin_token)
        await self.wait_stopped(user)

    async def process(self, user: User) -> "ServerProcess":
        server = (await self.model(user))["servers"][""]
        return ServerProcess(int(server["state"]["pid"]))


class ServerProcess:
    """What the kernel says a server process got: its CPUs, its limits, its environment."""

    def __init__(self, pid: int):
        self.pid = pid

    def cpus(self) -> int:
        import os

        return len(os.sched_getaffinity(self.pid))

    def data_limit(self) -> int:
        for line in Path(f"/proc/{self.pid}/limits").read_text().splitlines():
            if line.startswith("Max data size"):
                return int(line.split()[3])
        raise AssertionError("no data size limit line")

    def env(self) -> dict:
        raw = Path(f"/proc/{self.pid}/environ").read_bytes().split(b"\0")
        return dict(item.decode().split("=", 1) for item in raw if b"=" in item)


def releases(hub: Hub, session_id: int, name: str = "booking") -> list[str]:
    """The reasons of every release (DELETE /sessions/<id>) the booking service `name`
    received for the session, in order, read from its request log."""
    pattern = re.compile(rf"\d{{3}} DELETE /services/{name}/api/v1/sessions/{session_id}\?reason=(\S*) ")
    return [unquote(m.group(1)) for m in pattern.finditer(hub.external[name].log.read_text())]


async def wait_for(predicate, timeout: float, message: str):
    """Await `predicate()` (a coroutine function) until it is truthy; its value."""
    deadline = time.monotonic() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(message)
        await asyncio.sleep(0.3)


@pytest.fixture
def servers(spawn_hub) -> Servers:
    return Servers(spawn_hub)


@pytest.fixture
def booking_api(spawn_hub) -> BookingAPI:
    return BookingAPI(spawn_hub, "booking")


async def new_user(hub: Hub, level: str) -> User:
    return await hub.new_user(groups=[level], prefix=f"{level}-{uuid.uuid4().hex[:4]}")


async def booked_now(hub: Hub, api: BookingAPI, package: str, length: timedelta) -> tuple[User, dict]:
    """A level-1 user holding a booking of `package` from now, in a fresh reserved pool."""
    pool = await api.new_pool(hub.booking_admin, cores=8, memory_gib=32,
                              start=datetime.now(timezone.utc) - timedelta(hours=1))
    user = await new_user(hub, "level-1")
    now = datetime.now(timezone.utc)
    booking = await api.ok("POST", "bookings", user, {
        "pool": pool, "package": package, "start": iso(now), "end": iso(now + length)})
    return user, booking


