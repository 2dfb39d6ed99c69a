"""Benchmark B: booking admission through the hub's proxy under concurrency.

`clients` asyncio tasks (tornado's AsyncHTTPClient, one TCP connection a request, as the
simple client does) each POST /bookings one after the other, all against one pool, on
one or more booking-service processes sharing a database. Every client is its own
level-1 hub user booking the seeded "small" package (1 core, 4 GiB) for 1 to 8 hours,
starting within the next four weeks; the pool's capacity is set so that demand about
equals supply, so a good share of the requests is refused (409). Afterwards the pool's
booked rows are read back and an exact sweep checks that no moment is overbooked.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from tornado.httpclient import AsyncHTTPClient, HTTPRequest

from .common import UTC, ThroughputRow, cpu_snapshot, cpu_used, load_pool_rows, sweep_violations

PACKAGE = "small"  # the seeded package: 0.5 + 0.5 cores, 2 + 2 GiB
PACKAGE_CORES, PACKAGE_GIB = 1, 4
MIN_HOURS, MAX_HOURS = 1, 8
SPREAD_DAYS = 28  # level-1 users may book at most 30 days ahead
WARMUP_PER_CLIENT = 3


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Admission:
    clients: int = 64
    requests: int = 2000
    seed: int = 4242

    def capacity_cores(self) -> int:
        """Cores so that the average demand over the spread about equals the capacity."""
        mean_hours = (MIN_HOURS + MAX_HOURS) / 2
        return max(2, math.ceil(self.requests * mean_hours * PACKAGE_CORES / (SPREAD_DAYS * 24)))


async def make_users(hub, count: int) -> list:
    """`count` level-1 hub users, each with an API token for the booking services."""
    await hub.ensure_group("level-1")
    users = []
    for batch in range(0, count, 8):
        users += await asyncio.gather(*(hub.new_user(groups=["level-1"], prefix="bench")
                                        for _ in range(min(8, count - batch))))
    return users


async def _call(http, hub, service, token, method, path, body=None):
    request = HTTPRequest(
        f"{hub.url}services/{service}/api/v1/{path}", method=method,
        headers={"Authorization": f"token {token}", "Content-Type": "application/json"},
        body=None if body is None else json.dumps(body), request_timeout=120,
    )
    return await http.fetch(request, raise_error=False)


async def _new_pool(http, hub, service, admin, prefix: str, cores: int, now: datetime) -> str:
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    resp = await _call(http, hub, service, admin.token, "POST", "pools",
                       {"name": name, "kind": "reserved", "description": "benchmark"})
    assert resp.code == 201, (resp.code, resp.body)
    start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    resp = await _call(http, hub, service, admin.token, "POST", f"pools/{name}/capacity", {
        "start": iso(start), "end": iso(start + timedelta(days=SPREAD_DAYS + 4)),
        "cores": cores, "memory_gib": cores * PACKAGE_GIB,
    })
    assert resp.code == 201, (resp.code, resp.body)
    return name


def _window(rng: random.Random, base: datetime) -> tuple[str, str]:
    start = base + timedelta(hours=rng.randrange(SPREAD_DAYS * 24))
    return iso(start), iso(start + timedelta(hours=rng.randint(MIN_HOURS, MAX_HOURS)))


async def run_admission(hub, admin, users: list, services: list[str], db_url: str, label: str,
                        cfg: Admission, log, roles: dict[int, str] | None = None) -> ThroughputRow:
    """One run: a fresh pool, a warm-up on another pool, then `cfg.requests` bookings from
    `cfg.clients` concurrent clients, client i talking to services[i % len(services)]."""
    http = AsyncHTTPClient()
    now = datetime.now(UTC)
    # Whole hours, an hour from now at least, so no start is in the past when it arrives.
    base = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=2)
    cores = cfg.capacity_cores()
    pool = await _new_pool(http, hub, services[0], admin, "admit", cores, now)
    warm_pool = await _new_pool(http, hub, services[0], admin, "warm", 10_000, now)

    async def warm_up(i):
        service, user = services[i % len(services)], users[i]
        rng = random.Random(-1 - i)
        resp = await _call(http, hub, service, user.token, "GET", "me")  # the hub checks the token once
        assert resp.code == 200, (resp.code, resp.body)
        for _ in range(WARMUP_PER_CLIENT):  # connections, statement caches, the warm pool's timeline
            start, end = _window(rng, base)
            resp = await _call(http, hub, service, user.token, "POST", "bookings",
                               {"pool": warm_pool, "package": PACKAGE, "start": start, "end": end})
            assert resp.code == 201, (resp.code, resp.body)

    await asyncio.gather(*(warm_up(i) for i in range(cfg.clients)))
    for service in services:  # each process loads the (empty) measured pool's timeline once
        resp = await _call(http, hub, service, admin.token, "GET",
                           f"pools/{pool}/availability?start={iso(base)}&end={iso(base + timedelta(days=1))}&grain=hour")
        assert resp.code == 200, (resp.code, resp.body)

    statuses: Counter = Counter()
    latencies: list[float] = []
    oddities: list[str] = []

    async def client(i: int, count: int):
        service, user = services[i % len(services)], users[i]
        rng = random.Random(cfg.seed * 1000 + i)
        for _ in range(count):
            start, end = _window(rng, base)
            t0 = time.perf_counter()
            resp = await _call(http, hub, service, user.token, "POST", "bookings",
                               {"pool": pool, "package": PACKAGE, "start": start, "end": end})
            latencies.append((time.perf_counter() - t0) * 1000)
            statuses[resp.code] += 1
            if resp.code not in (201, 409) and len(oddities) < 5:
                oddities.append(f"{resp.code}: {(resp.body or b'')[:300]!r}")

    share = [cfg.requests // cfg.clients + (1 if i < cfg.requests % cfg.clients else 0) for i in range(cfg.clients)]
    cpu_before = cpu_snapshot(roles or {})
    t0 = time.perf_counter()
    await asyncio.gather(*(client(i, n) for i, n in enumerate(share)))
    seconds = time.perf_counter() - t0
    cpu = cpu_used(cpu_before, cpu_snapshot(roles or {}))

    grants, booked = await load_pool_rows(db_url, pool)
    violations = sweep_violations(grants, booked)
    row = ThroughputRow(
        target=label, clients=cfg.clients, requests=cfg.requests, created=statuses.pop(201, 0),
        refused=statuses.pop(409, 0), other=dict(statuses), seconds=seconds, latencies=latencies,
        booked_rows=len(booked), overbooked=bool(violations), notes=oddities, cpu=cpu,
    )
    if len(booked) != row.created:
        row.notes.append(f"{len(booked)} booked rows in the pool but {row.created} answers 201")
    if violations:
        row.notes.append(f"{len(violations)} overbooked moments, e.g. {violations[:3]}")
    log(f"{label}: {row.created} x 201, {row.refused} x 409, other {row.other} in {seconds:.1f}s = "
        f"{row.decisions_per_s:.0f} decisions/s ({cores} cores; {len(booked)} booked rows; "
        f"overbooked: {row.overbooked})")
    for note in row.notes:
        log(f"  NOTE {label}: {note}")
    return row
