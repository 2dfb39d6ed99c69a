"""Benchmark F: the offer search over a month at minute resolution, by the engine (the pool's
in-memory timeline, engine/offers.py) and by Calycopis' approach (the IVOA ExecutionBroker
prototype, seed 004: a per-minute series of rows joined to the bookings, then gaps and
islands in SQL), on PostgreSQL, side by side, with the same bookings.

Data: one pool with a grant of 1000 cores / 4000 GiB for June 2027 (from a day before) and
N bookings of 10 minutes to 4 hours (whole minutes) starting uniformly from 4 hours before
the month to its end (so its first hours are as busy as the rest), each of 0.25 to 4
cores and 1 to 16 GiB, inserted with COPY (as benchmark A does).

Both answer "4 offers of C cores and 600 GiB for exactly 2 hours, starting in June", where C
is what the busiest 20% of the month's hours lack (so most islands of room are too short
and the search has to look; 10k and 100k bookings get their own C): for
a fixed size and length the two methods agree (the earliest islands of room, cut into
2-hour pieces), and the benchmark asserts they do before it times anything.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import numpy as np
from sqlalchemy import text

from booking_service import store
from booking_service.domain import Caller, epoch
from booking_service.engine import Resources
from booking_service.engine.offers import OfferRequest, search
from booking_service.operations import Context, find_pool
from booking_service.operations.offers import create_offer_set
from booking_service.policy import LevelPolicy

from .availability import load_pool
from .common import UTC, LatencyRow, timed

MONTH_START = datetime(2027, 6, 1, tzinfo=UTC)
MONTH_END = datetime(2027, 7, 1, tzinfo=UTC)
GRANT = Resources(1000 * 1000, 4000 * 1024)
NEED = Resources(250 * 1000, 600 * 1024)
LENGTH = 2 * 3600
SEED = 20270601
ORDER = ["Calycopis SQL", "engine: search only", "engine: ranges, search only", "service: lock, search, hold 4"]

# Calycopis' query (ivoa/Calycopis-broker, ExecutionBlockDatabaseServiceImpl.generate, on H2)
# written for PostgreSQL: one row per minute from the range start (generate_series for H2's
# SYSTEM_RANGE), each joined to the bookings covering it to sum what is free; rows with room
# numbered so consecutive minutes share a group (gaps and islands); islands long enough
# split into pieces of the maximum length; the first 4 by start. Calycopis counts its blocks
# against constant totals; here the totals are the pool's one grant, given as parameters.
CALYCOPIS_SQL = """
WITH ExpandedDataset AS (
    SELECT
        StartRange.StartRow AS StartRow,
        (:totalcores - COALESCE(sum(b.millicores), 0)) AS FreeCores,
        (:totalmemory - COALESCE(sum(b.mib), 0)) AS FreeMemory
    FROM (
        SELECT generate_series(0, :rangeend) AS StartRow
    ) AS StartRange
    LEFT OUTER JOIN bookings b
        ON b.pool_id = :pool AND b.state IN ('booked', 'offered')
        AND b.start <= CAST(:rangestart AS timestamp) + StartRange.StartRow * interval '1 minute'
        AND b."end" > CAST(:rangestart AS timestamp) + StartRange.StartRow * interval '1 minute'
    GROUP BY StartRange.StartRow
),
ConsecutiveBlocks AS (
    SELECT
        StartRow,
        (StartRow + 1) - ROW_NUMBER() OVER (ORDER BY StartRow) AS BlockGroup,
        FreeCores,
        FreeMemory
    FROM ExpandedDataset
    WHERE FreeCores >= :minfreecores AND FreeMemory >= :minfreememory
),
BlockInfo AS (
    SELECT MIN(StartRow) AS BlockStart, COUNT(*) AS BlockLength
    FROM ConsecutiveBlocks
    GROUP BY BlockGroup
    HAVING COUNT(*) >= :minblocklength
),
SplitBlocks AS (
    SELECT
        BlockStart + :maxblocklength * (n - 1) AS BlockStart,
        LEAST(:maxblocklength, BlockLength - :maxblocklength * (n - 1)) AS BlockLength
    FROM BlockInfo, generate_series(1, :maxsplits) AS n
    WHERE BlockStart + :maxblocklength * (n - 1) < BlockStart + BlockLength
),
BlockResources AS (
    SELECT s.BlockStart, s.BlockLength, e.FreeCores, e.FreeMemory
    FROM ExpandedDataset e
    JOIN SplitBlocks s ON e.StartRow >= s.BlockStart AND e.StartRow < s.BlockStart + s.BlockLength
    WHERE s.BlockLength >= :minblocklength AND s.BlockLength <= :maxblocklength
)
SELECT BlockStart, BlockLength, MIN(FreeCores) AS MinFreeCores, MIN(FreeMemory) AS MinFreeMemory
FROM BlockResources
GROUP BY BlockStart, BlockLength
ORDER BY BlockStart ASC, MinFreeCores DESC, MinFreeMemory DESC, BlockLength DESC
LIMIT 4
"""


def generate_bookings(size: int) -> list[tuple[int, int, int, int]]:
    rng = np.random.default_rng(SEED + size)
    minutes = rng.integers(10, 4 * 60, size=size, endpoint=True)
    month = (MONTH_END - MONTH_START) // timedelta(minutes=1)
    # from 4 hours before the month on, so that its first hours are as busy as the rest
    start = rng.integers(-4 * 60, month - minutes, endpoint=True)
    millicores = rng.integers(1, 16, size=size, endpoint=True) * 250
    mib = rng.integers(2, 32, size=size, endpoint=True) * 512
    base = epoch(MONTH_START)
    return list(zip((base + start * 60).tolist(), (base + (start + minutes) * 60).tolist(),
                    millicores.tolist(), mib.tolist()))


def pool_name(size: int) -> str:
    return f"month-{size // 1000}k"


async def run(pg_url: str, libpq_url: str, sizes: list[int], reps: int, sql_budget_s: float, log) -> list[LatencyRow]:
    rows: list[LatencyRow] = []
    for size in sizes:
        t0 = time.perf_counter()
        load_pool(libpq_url, pool_name(size), generate_bookings(size), start=MONTH_START - timedelta(days=1),
                  end=MONTH_END,
                  millicores=GRANT.millicores, mib=GRANT.mib)
        log(f"loaded pool {pool_name(size)}: {size} bookings in {time.perf_counter() - t0:.1f}s")
        engine = store.make_engine(pg_url)
        ctx = Context(engine=engine, policy=LevelPolicy(), offer_hold=timedelta(0))
        try:
            async with engine.connect() as conn:
                pool = await find_pool(conn, pool_name(size))
                timeline = await ctx.cache.current(conn, pool.id, pool.version)
            lowest = timeline.min_free(epoch(MONTH_START), epoch(MONTH_END))
            assert lowest.millicores >= 0 and lowest.mib >= 0, f"{size} bookings overfill the grant: {lowest}"
            # the size asked: what the busiest 20% of hours lack, so that most islands are too
            # short and the search has to look
            hours = [epoch(MONTH_START) + 3600 * i for i in range(30 * 24 + 1)]
            free = sorted(b.free_min.millicores for b in timeline.blocks(hours, {}))
            need = Resources(free[len(free) * 8 // 10] // 10_000 * 10_000, NEED.mib)
            window = [(epoch(MONTH_START), epoch(MONTH_END))]
            fixed = OfferRequest(need=need, most=need, windows=window, shortest=LENGTH, longest=LENGTH)
            ranges = OfferRequest(need=need, most=Resources(need.millicores + 300_000, 1500 * 1024), windows=window,
                                  shortest=LENGTH, longest=6 * 3600)
            params = {"pool": pool.id, "rangestart": MONTH_START.replace(tzinfo=None),
                      "rangeend": (MONTH_END - MONTH_START) // timedelta(minutes=1) + LENGTH // 60,
                      "totalcores": GRANT.millicores, "totalmemory": GRANT.mib, "minfreecores": need.millicores,
                      "minfreememory": NEED.mib, "minblocklength": LENGTH // 60, "maxblocklength": LENGTH // 60,
                      "maxsplits": 31 * 24 * 60 // (LENGTH // 60) + 1}
            sql_answer = None

            async def calycopis():
                nonlocal sql_answer
                async with engine.connect() as conn:
                    sql_answer = (await conn.execute(text(CALYCOPIS_SQL), params)).all()

            # Correctness first: the same four offers (start, length), and some that the
            # minute-by-minute view agrees hold room.
            answer = search({pool.name: timeline}, fixed).offers
            t1 = time.perf_counter()
            await calycopis()
            first_sql = (time.perf_counter() - t1) * 1000
            start_minute = epoch(MONTH_START) // 60
            sql_offers = [((start_minute + r.blockstart) * 60, r.blocklength * 60) for r in sql_answer]
            assert [(o.start, o.duration) for o in answer] == sql_offers, (size, answer, sql_offers)
            for offer in answer:
                assert need.fits_in(timeline.min_free(offer.start, offer.start + offer.duration))
            assert len(answer) == 4, (size, answer)
            log(f"{pool.name}: {need.millicores // 1000} cores asked; engine and Calycopis' SQL agree on "
                f"{len(answer)} offers, the first at "
                f"{datetime.fromtimestamp(answer[0].start, UTC):%d %b %H:%M}; the SQL took {first_sql:.0f} ms")

            sql_samples = [first_sql] + await timed(calycopis, reps, budget_s=sql_budget_s, min_reps=2)
            sql_row = LatencyRow("Calycopis SQL", size, "month/minute", sql_samples)
            sql_row.seed_median = sql_row.median
            rows.append(sql_row)

            async def engine_fixed():
                search({pool.name: timeline}, fixed)

            async def engine_ranges():
                search({pool.name: timeline}, ranges)

            admin = Caller(name="bench", kind="user", level=2, admin=True, can_read=True, can_write=True)
            body = {"what": {"package": "bench-offer"}, "pools": [pool.name], "duration": {"min": "PT2H"},
                    "when": {"start": ["2027-06-01T00:00:00Z/2027-07-01T00:00:00Z"]}}
            body = {**body, "what": {"resources": {"cores": {"min": need.millicores // 1000},
                                                   "memory_gib": {"min": NEED.mib // 1024}}}}
            moment = [MONTH_START - timedelta(days=1)]

            async def service():
                # each set expires at once (offer_hold 0), so the next one's lock expires it
                moment[0] += timedelta(seconds=1)
                made = await create_offer_set(ctx, admin, body, moment[0])
                assert made["result"] == "YES"

            for name, call, n in [("engine: search only", engine_fixed, reps * 10),
                                  ("engine: ranges, search only", engine_ranges, reps * 10),
                                  ("service: lock, search, hold 4", service, reps * 10)]:
                await call()
                rows.append(LatencyRow(name, size, "month/minute", await timed(call, n), sql_row.median))
            log(f"{pool.name}: Calycopis SQL {sql_row.median:.0f} ms, engine {rows[-3].median:.2f} ms, "
                f"service {rows[-1].median:.1f} ms")
        finally:
            await engine.dispose()
    return rows
