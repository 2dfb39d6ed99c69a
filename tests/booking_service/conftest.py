"""Factories for the booking API tests: a client per booking service (SQLite and
PostgreSQL), fresh users at any level, and fresh pools with capacity."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pytest

from tests.hub import Hub, User, start_hub


def iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def day_start(days_from_today: int = 1) -> datetime:
    """Midnight UTC, `days_from_today` days ahead: a start every test can book."""
    today = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    return today + timedelta(days=days_from_today)


@dataclass
class BookingAPI:
    """The booking API of one service, called as a program does (token header)."""

    hub: Hub
    service: str

    @property
    def base(self) -> str:
        return f"services/{self.service}/api/v1/"

    async def call(self, method, path, user: User | None = None, body=None, **kw):
        return await self.hub.request(method, self.base + path.lstrip("/"), token=user and user.token, body=body, **kw)

    async def ok(self, method, path, user, body=None, status=None):
        resp = await self.call(method, path, user, body)
        expected = status or (201 if method == "POST" else 200)
        assert resp.status == expected, (method, path, resp.status, resp.body)
        return resp.json()

    async def new_pool(self, admin: User, *, cores=4, memory_gib=16, start=None, days=30, kind="reserved") -> str:
        name = f"pool-{uuid.uuid4().hex[:10]}"
        await self.ok("POST", "pools", admin, {"name": name, "kind": kind, "description": "test"})
        if cores or memory_gib:
            start = start or day_start(0)
            await self.ok("POST", f"pools/{name}/capacity", admin, {
                "start": iso(start), "end": iso(start + timedelta(days=days)),
                "cores": cores, "memory_gib": memory_gib,
            })
        return name

    async def new_package(self, admin: User, cores, memory_gib, workers=0, worker_cores=0, worker_memory_gib=0) -> str:
        name = f"pkg-{uuid.uuid4().hex[:8]}"
        await self.ok("POST", "packages", admin, {
            "name": name, "notebook_cores": cores, "notebook_memory_gib": memory_gib,
            "spark_workers": workers, "worker_cores": worker_cores, "worker_memory_gib": worker_memory_gib,
        })
        return name


@pytest.fixture(params=["booking", "booking-pg"], ids=["sqlite", "postgresql"])
def api(request, hub) -> BookingAPI:
    return BookingAPI(hub, request.param)


@pytest.fixture
async def admin(hub) -> User:
    return await hub.new_user(admin=True, prefix="admin")


@pytest.fixture
async def user(hub) -> User:
    """A level-1 (basic) user."""
    return await hub.new_user(groups=["level-1"])


async def start_walk_in_hub(workdir, postgres_cluster, database: str) -> Hub:
    """A hub whose hub-managed booking services ("booking" on SQLite, "booking-pg" on the
    PostgreSQL `database`) have the walk-in pool 'shared', with room for one small (1 core,
    4 GiB) walk-in at a time; its booking admin is `hub.booking_admin`. Stop it with stop_hub."""
    walk_in = """
        for service in c.JupyterHub.services:
            if "command" in service:
                service["command"].append("--BookingService.walk_in_pool=shared")
    """
    hub = start_hub(workdir, {
        "booking": f"sqlite+aiosqlite:///{workdir}/booking.sqlite",
        "booking-pg": postgres_cluster.url(postgres_cluster.create_database(database)),
    }, extra_config=walk_in)
    admin = await hub.new_user(admin=True, prefix="admin")
    for name in hub.services:
        api = BookingAPI(hub, name)
        await api.ok("POST", "pools", admin, {"name": "shared", "kind": "shared"})
        await api.ok("POST", "pools/shared/capacity", admin, {
            "start": iso(day_start(-1)), "end": iso(day_start(30)), "cores": 1, "memory_gib": 5})
    hub.booking_admin = admin
    return hub
