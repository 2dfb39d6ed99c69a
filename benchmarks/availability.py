"""Benchmark A: what a pool has free over a range, by the availability engine (the
service layer with its per-pool in-memory timeline) and by the seed design's SQL (a
`generate_series` of slots joined to the bookings), on PostgreSQL, side by side.

Data: one pool per size with a grant of 2000 cores / 8000 GiB for the year 2027 and
N bookings of 1 to 72 hours (uniform, whole minutes) starting uniformly over the year,
each of 0.25 to 4 cores and 1 to 16 GiB, inserted with COPY (no admission), each row
with its own changed_version and the pool's version set to match.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import psycopg
from sqlalchemy import text
from tornado.httpclient import AsyncHTTPClient, HTTPRequest

from booking_service import store
from booking_service.domain import format_time
from booking_service.engine import block_boundaries
from booking_service.operations import Context, find_pool, footprint, latest_packages
from booking_service.operations.availability import availability
from booking_service.policy import LevelPolicy

from .common import UTC, LatencyRow, epoch, exact_min_free, timed

YEAR_START = datetime(2027, 1, 1, tzinfo=UTC)
YEAR_END = datetime(2028, 1, 1, tzinfo=UTC)
GRANT_MILLICORES = 2000 * 1000
GRANT_MIB = 8000 * 1024
SEED = 20270101

# name -> (start, end, grain, seed SQL slot length)
QUERIES = {
    "month/hour": (datetime(2027, 6, 1, tzinfo=UTC), datetime(2027, 7, 1, tzinfo=UTC), "hour", "1 hour"),
    "year/day": (YEAR_START, YEAR_END, "day", "1 day"),
}
ORDER = ["seed SQL", "fetch only", "engine, cold", "engine, warm", "engine, warm, tz", "timeline.blocks only",
         "HTTP via proxy, warm", "HTTP direct, warm"]

# The seed design's availability query: one row per slot, summing everything that touches
# the slot (grants positive, booked bookings negative). Conservative, not exact: two
# bookings that touch the same hour one after the other are both counted.
SEED_SQL = """
SELECT slot, sum(millicores) AS millicores, sum(mib) AS mib FROM (
    SELECT slot, g.millicores, g.mib
    FROM generate_series(CAST(:start AS timestamp), CAST(:end AS timestamp) - interval '{step}',
                         interval '{step}') AS slot
    JOIN capacity_grants g ON g.start < slot + interval '{step}' AND g."end" > slot
    WHERE g.pool_id = :pool
  UNION ALL
    SELECT slot, -b.millicores, -b.mib
    FROM generate_series(CAST(:start AS timestamp), CAST(:end AS timestamp) - interval '{step}',
                         interval '{step}') AS slot
    JOIN bookings b ON b.start < slot + interval '{step}' AND b."end" > slot
    WHERE b.pool_id = :pool AND b.state = 'booked'
) AS touching
GROUP BY slot ORDER BY slot
"""

FETCH_SQL = """
SELECT start, "end", millicores, mib FROM bookings
WHERE pool_id = :pool AND state = 'booked' AND start < :end AND "end" > :start
"""


@dataclass
class Reps:
    sql: int = 20
    sql_budget_s: float = 25.0  # per (size, query): the seed SQL stops early past this
    fetch: int = 20
    cold: int = 10
    warm: int = 200
    http: int = 200


def pool_name(size: int) -> str:
    return f"year-{size // 1000}k"


def generate_bookings(size: int, seed: int = SEED) -> list[tuple[int, int, int, int]]:
    """(start, end, millicores, mib) of `size` bookings, in epoch seconds."""
    rng = np.random.default_rng(seed + size)
    minutes = rng.integers(60, 72 * 60, size=size, endpoint=True)
    year_minutes = (YEAR_END - YEAR_START) // timedelta(minutes=1)
    start = rng.integers(0, year_minutes - minutes, endpoint=True)  # whole booking inside the year
    millicores = rng.integers(1, 16, size=size, endpoint=True) * 250  # 0.25 .. 4 cores
    mib = rng.integers(2, 32, size=size, endpoint=True) * 512  # 1 .. 16 GiB
    base = epoch(YEAR_START)
    return list(zip((base + start * 60).tolist(), (base + (start + minutes) * 60).tolist(),
                    millicores.tolist(), mib.tolist()))


def load_pool(libpq_url: str, name: str, bookings: list[tuple[int, int, int, int]], *, start=YEAR_START,
              end=YEAR_END, millicores=GRANT_MILLICORES, mib=GRANT_MIB) -> int:
    """Insert the pool, its grant over [start, end) (the year) and the bookings directly (COPY);
    return the pool id. Version 1 is the grant, version i + 2 the i-th booking, the pool's
    version the last."""
    naive = lambda seconds: datetime.fromtimestamp(seconds, UTC).replace(tzinfo=None)  # noqa: E731
    created = naive(epoch(start) - 30 * 86400)
    with psycopg.connect(libpq_url) as conn:
        pool_id = conn.execute(
            "INSERT INTO pools (name, description, kind, version, created) VALUES (%s, %s, 'reserved', %s, %s) "
            "RETURNING id", (name, f"benchmark: {len(bookings)} bookings", len(bookings) + 1, created),
        ).fetchone()[0]
        conn.execute(
            'INSERT INTO capacity_grants (pool_id, start, "end", millicores, mib, created, created_by, changed_version) '
            "VALUES (%s, %s, %s, %s, %s, %s, 'benchmark', 1)",
            (pool_id, naive(epoch(start)), naive(epoch(end)), millicores, mib, created),
        )
        with conn.cursor() as cur:
            with cur.copy('COPY bookings ("user", pool_id, start, "end", millicores, mib, state, phase, created, '
                          "created_by, changed_version) FROM STDIN") as copy:
                for i, (s, e, c, m) in enumerate(bookings):
                    user = f"user-{i % 500}"
                    copy.write_row((user, pool_id, naive(s), naive(e), c, m, "booked", "ACCEPTED", created, user,
                                    i + 2))
        conn.execute("ANALYZE")
    return pool_id


def _free_of(block: dict) -> tuple[int, int]:
    free = block["free_min"]
    return round(free["cores"] * 1000), round(free["memory_gib"] * 1024)


def check_engine_answer(answer: dict, entries, size: int, query: str, samples: int) -> int:
    """Assert the engine's free_min agrees with an exact sum for `samples` blocks (the first,
    the last, and random ones), so the benchmark never times a wrong answer."""
    blocks = answer["blocks"]
    rng = random.Random(SEED + size + len(blocks))
    picks = sorted({0, len(blocks) - 1, *rng.sample(range(len(blocks)), min(samples, len(blocks)))})
    for j in picks:
        block = blocks[j]
        start = epoch(datetime.fromisoformat(block["start"].replace("Z", "+00:00")))
        end = epoch(datetime.fromisoformat(block["end"].replace("Z", "+00:00")))
        expected = exact_min_free(entries, start, end)
        assert _free_of(block) == expected, (size, query, j, block, expected)
    return len(picks)


def check_seed_answer(seed_rows, answer: dict, size: int, query: str) -> None:
    """The seed SQL counts every booking touching a slot, so it never shows more free than
    the exact least free of the block: assert that, for every block."""
    blocks = answer["blocks"]
    assert len(seed_rows) == len(blocks), (size, query, len(seed_rows), len(blocks))
    for row, block in zip(seed_rows, blocks):
        assert format_time(row.slot.replace(tzinfo=UTC)) == block["start"], (row.slot, block["start"])
        exact_c, exact_m = _free_of(block)
        assert row.millicores <= exact_c and row.mib <= exact_m, (size, query, row, block)


async def run_direct(pg_url: str, libpq_url: str, sizes: list[int], reps: Reps, log) -> tuple[list[LatencyRow], dict]:
    """Load the pools, then time the seed SQL, the fetch, and the engine cold and warm.
    Returns the rows and the engine's answers (to compare the HTTP answers with)."""
    rows: list[LatencyRow] = []
    answers: dict = {}
    for size in sizes:
        t0 = time.perf_counter()
        bookings = generate_bookings(size)
        load_pool(libpq_url, pool_name(size), bookings)
        log(f"loaded pool {pool_name(size)}: {size} bookings in {time.perf_counter() - t0:.1f}s")
        entries = [(epoch(YEAR_START), epoch(YEAR_END), GRANT_MILLICORES, GRANT_MIB)]
        entries += [(s, e, -c, -m) for s, e, c, m in bookings]

        engine = store.make_engine(pg_url)
        policy = LevelPolicy()
        warm = Context(engine=engine, policy=policy)
        try:
            async with engine.connect() as conn:
                pool = await find_pool(conn, pool_name(size))
                templates = await latest_packages(conn)
                timeline = await warm.cache.current(conn, pool.id, pool.version)
            packages = {t.name: footprint(t) for t in templates}
            # The whole year's free function must stay >= 0: the data are bookable as made.
            lowest = timeline.min_free(epoch(YEAR_START), epoch(YEAR_END))
            assert lowest.millicores >= 0 and lowest.mib >= 0, f"{size} bookings overfill the grant: {lowest}"

            for query, (start, end, grain, step) in QUERIES.items():
                s_iso, e_iso = format_time(start), format_time(end)
                naive_start, naive_end = start.replace(tzinfo=None), end.replace(tzinfo=None)
                seed_sql = text(SEED_SQL.format(step=step))
                seed_rows = None

                async def seed():
                    nonlocal seed_rows
                    async with engine.connect() as conn:
                        seed_rows = (await conn.execute(
                            seed_sql, {"start": naive_start, "end": naive_end, "pool": pool.id})).all()

                async def fetch():
                    async with engine.connect() as conn:
                        (await conn.execute(text(FETCH_SQL),
                                            {"start": naive_start, "end": naive_end, "pool": pool.id})).all()

                async def cold():
                    ctx = Context(engine=engine, policy=policy)  # a fresh process's empty cache
                    return await availability(ctx, pool.name, s_iso, e_iso, grain)

                async def warm_query():
                    return await availability(warm, pool.name, s_iso, e_iso, grain)

                async def warm_zoned():  # the calendar of a London user: block starts found in a zone
                    return await availability(warm, pool.name, s_iso, e_iso, grain, tz="Europe/London")

                boundaries = [epoch(b) for b in block_boundaries(start, end, grain, 10_000)]

                async def blocks_only():
                    timeline.blocks(boundaries, packages)

                # Correctness first: the engine against exact sums, cold == warm, seed <= exact.
                answer = await warm_query()
                checked = check_engine_answer(answer, entries, size, query, 6 if grain == "hour" else 3)
                assert await cold() == answer, (size, query, "cold and warm answers differ")
                await seed()
                check_seed_answer(seed_rows, answer, size, query)
                answers[(size, query)] = answer
                log(f"{pool.name} {query}: engine agrees with exact sums on {checked} blocks; "
                    f"seed SQL <= engine on all {len(answer['blocks'])}")

                seed_samples = await timed(seed, reps.sql, budget_s=reps.sql_budget_s, min_reps=min(5, reps.sql))
                seed_row = LatencyRow("seed SQL", size, query, seed_samples)
                seed_row.seed_median = seed_row.median
                rows.append(seed_row)
                for name, call, n in [("fetch only", fetch, reps.fetch), ("engine, cold", cold, reps.cold),
                                      ("engine, warm", warm_query, reps.warm),
                                      ("engine, warm, tz", warm_zoned, reps.warm),
                                      ("timeline.blocks only", blocks_only, reps.warm)]:
                    await call()  # connection pool, statement caches
                    rows.append(LatencyRow(name, size, query, await timed(call, n), seed_row.median))
                log(f"{pool.name} {query}: seed SQL {seed_row.median:.0f} ms, engine warm "
                    f"{rows[-3].median:.2f} ms, cold {rows[-4].median:.0f} ms")
        finally:
            await engine.dispose()
    return rows, answers


async def run_http(hub, service: str, token: str, sizes: list[int], reps: Reps, answers: dict,
                   seed_medians: dict, log) -> list[LatencyRow]:
    """GET .../pools/<pool>/availability through the proxy, and straight to the service's
    port (no proxy) for comparison, with a warm cache; answers must equal the engine's."""
    http = AsyncHTTPClient()
    model = await hub.hub_api("GET", f"services/{service}")
    direct = model["url"].rstrip("/") + "/"  # the service listens under its prefix
    headers = {"Authorization": f"token {token}"}
    rows = []
    for size in sizes:
        for query, (start, end, grain, _step) in QUERIES.items():
            path = (f"services/{service}/api/v1/pools/{pool_name(size)}/availability"
                    f"?start={format_time(start)}&end={format_time(end)}&grain={grain}")
            for name, base in [("HTTP via proxy, warm", hub.url), ("HTTP direct, warm", direct)]:
                request = HTTPRequest(base + path, headers=headers, request_timeout=120)

                async def get():
                    resp = await http.fetch(request)
                    return resp.body

                for _ in range(3):  # token check with the hub, timeline load, connections
                    body = await get()
                assert json.loads(body) == answers[(size, query)], (name, size, query, "HTTP answer differs")
                rows.append(LatencyRow(name, size, query, await timed(get, reps.http), seed_medians[(size, query)]))
            log(f"HTTP {pool_name(size)} {query}: proxy {rows[-2].median:.1f} ms, direct {rows[-1].median:.1f} ms "
                f"({len(body) / 1024:.0f} KiB)")
    return rows
