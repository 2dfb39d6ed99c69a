"""A real hub with the booking-aware local spawner, real single-user servers, and an
external booking service the tests can stop and restart."""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import quote

import pytest

from hub_extension.config.accounts import TEMPLATES
from tests.booking_service.conftest import BookingAPI, day_start, iso
from tests.hub import Hub, User, start_hub, stop_hub

VENV_BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
async def spawn_hub(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("spawn-hub")
    extra = f"""
        c.JupyterHub.spawner_class = 'booking-local'
        c.BookingLocalProcessSpawner.shared_os_user = True
        c.BookingLocalProcessSpawner.home_dir_template = '{workdir}/homes/{{username}}'
        c.Spawner.cmd = ['{VENV_BIN}/jupyterhub-singleuser']
        c.Spawner.default_url = '/api/status'
        c.Spawner.start_timeout = 60
        # the hub's pages as the accounts work serves them (the queue's self-refreshing error page)
        c.JupyterHub.template_paths = ['{TEMPLATES}']
        c.Spawner.http_timeout = 60
        c.JupyterHub.last_activity_interval = 5
    """
    hub = start_hub(workdir, {}, external={"booking": f"sqlite+aiosqlite:///{workdir}/booking.sqlite"},
                    extra_config=extra)
    api = BookingAPI(hub, "booking")
    admin = await hub.new_user(admin=True, prefix="admin")
    # the walk-in pool: room for one small (1 core, 4 GiB) at a time
    await api.ok("POST", "pools", admin, {"name": "shared", "kind": "shared"})
    await api.ok("POST", "pools/shared/capacity", admin, {
        "start": iso(day_start(-1)), "end": iso(day_start(30)), "cores": 1, "memory_gib": 5})
    hub.booking_admin = admin
    yield hub
    for booking in hub.external.values():
        booking.stop()
    stop_hub(hub.process)


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


