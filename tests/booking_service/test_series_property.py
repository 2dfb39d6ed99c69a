"""Recurring bookings against a slow obvious reference, on SQLite and PostgreSQL: over
random loads, rules, zones and modes, "all" books every occurrence or none (and names
exactly those that do not fit), "fit" books exactly those that fit, each occurrence is
admitted as a single booking (the level's advance limit, the pool's free capacity), and
the pool is never overcommitted."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from dateutil.rrule import rrulestr
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from booking_service import orm, store
from booking_service.domain import Caller, Conflict, Forbidden, epoch
from booking_service.engine import Resources
from booking_service.operations import Context, pools
from booking_service.operations.bookings import create_booking
from booking_service.operations.packages import create_package
from booking_service.operations.series import create_series
from booking_service.policy import LevelPolicy
from tests.booking_service import engine_reference as ref

UTC = timezone.utc
NOW = datetime(2030, 10, 20, 9, tzinfo=UTC)  # a week before London's clocks go back
H = timedelta(hours=1)
ONE = Resources(1000, 1024)  # the package's footprint: 1 core, 1 GiB
ADMIN = Caller("admin", "user", 2, True, True, True)
USER = Caller("ada", "user", 1, False, True, True)


@pytest.fixture(params=["sqlite", "postgresql"])
async def engine(request, tmp_path_factory, postgres_cluster):
    url = (f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('series')}/s.sqlite" if request.param == "sqlite"
           else postgres_cluster.url(postgres_cluster.create_database()))
    engine = store.make_engine(url)
    await store.upgrade(engine)
    yield engine
    await engine.dispose()


loads = st.lists(st.tuples(st.integers(0, 20 * 24), st.integers(1, 30), st.integers(1, 3)), max_size=8)


@st.composite
def series(draw):
    weekly = draw(st.booleans())
    if weekly:
        days = draw(st.lists(st.sampled_from(["MO", "TU", "WE", "TH", "FR", "SA", "SU"]), min_size=1, max_size=4,
                             unique=True))
        rule = f"FREQ=WEEKLY;BYDAY={','.join(days)}"
    else:
        rule = f"FREQ=DAILY;INTERVAL={draw(st.integers(1, 2))}"
    return {
        "tz": draw(st.sampled_from(["Europe/London", "UTC", "America/New_York"])),
        "start": datetime(2030, 10, 21) + timedelta(days=draw(st.integers(0, 3)), hours=draw(st.integers(0, 23))),
        "hours": draw(st.integers(1, 10)),
        "rrule": f"{rule};COUNT={draw(st.integers(1, 10))}",
        "mode": draw(st.sampled_from(["all", "fit"])),
    }


def reference_occurrences(spec) -> list[tuple[int, int]]:
    """dateutil alone, on an aware start: each start on the wall clock, its end `hours`
    later on the same clock; as epoch seconds."""
    zone = ZoneInfo(spec["tz"])
    found = []
    for t in rrulestr(spec["rrule"], dtstart=spec["start"].replace(tzinfo=zone)):
        end = (t.replace(tzinfo=None) + spec["hours"] * H).replace(tzinfo=zone)
        found.append((epoch(t.astimezone(UTC)), epoch(end.astimezone(UTC))))
    return found


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(capacity=st.integers(1, 3), load=loads, spec=series(), advance=st.sampled_from([5, 30]))
async def test_series_admit_exactly_what_the_reference_does(engine, capacity, load, spec, advance):
    run = uuid.uuid4().hex[:12]
    pool, package = f"pool-{run}", f"one-{run}"
    policy = LevelPolicy(levels={1: {"name": "basic", "packages": [package], "max_hours": 24,
                                     "max_advance_days": advance}})
    ctx = Context(engine=engine, policy=policy)
    await pools.create_pool(ctx, {"name": pool, "kind": "reserved"}, NOW)
    grant = (NOW - timedelta(days=1), NOW + timedelta(days=60))
    await pools.add_capacity(ctx, pool, {"start": grant[0].isoformat(), "end": grant[1].isoformat(),
                                         "cores": capacity, "memory_gib": capacity}, "admin", NOW)
    await create_package(ctx, {"name": package, "notebook_cores": 1, "notebook_memory_gib": 1}, NOW)
    model = {"grant": (epoch(grant[0]), epoch(grant[1]), capacity * 1000, capacity * 1024)}
    for i, (hour, hours, cores) in enumerate(load):
        start = NOW + timedelta(hours=hour)
        try:
            await create_booking(ctx, ADMIN, {"pool": pool, "start": start.isoformat(), "end": (start + hours * H)
                                              .isoformat(), "resources": {"cores": cores, "memory_gib": cores}}, NOW)
        except Conflict:
            continue
        model[("load", i)] = (epoch(start), epoch(start + hours * H), -cores * 1000, -cores * 1024)

    occurrences = reference_occurrences(spec)
    latest = epoch(NOW + timedelta(days=advance))
    too_late = {i for i, (s, _) in enumerate(occurrences) if s > latest}
    no_room = {i for i, (s, e) in enumerate(occurrences)
               if i not in too_late and not ONE.fits_in(ref.min_free(model, s, e))}
    failing = too_late | no_room
    body = {"package": package, "pool": pool, "start": spec["start"].isoformat(), "tz": spec["tz"],
            "duration": f"PT{spec['hours']}H", "rrule": spec["rrule"], "mode": spec["mode"]}
    fits = [i for i in range(len(occurrences)) if i not in failing]
    try:
        answer = await create_series(ctx, USER, body, NOW)
    except Forbidden as refusal:
        event("403: the first occurrence is too late")
        assert 0 in too_late, refusal.message
        answer = None
    except Conflict as refusal:
        event(f"409 ({spec['mode']})")
        assert failing and (spec["mode"] == "all" or not fits), refusal.message
        assert [f["occurrence"] for f in refusal.extra["failed"]] == sorted(failing)
        for f in refusal.extra["failed"]:
            assert ("days ahead" in f["reason"]) == (f["occurrence"] in too_late), f
        answer = None
    else:
        event(f"booked {'all' if not failing else 'some'} ({spec['mode']})")
        assert 0 not in too_late and (not failing or spec["mode"] == "fit")
        assert [(epoch(datetime.fromisoformat(b["start"].replace("Z", "+00:00"))),
                 epoch(datetime.fromisoformat(b["end"].replace("Z", "+00:00")))) for b in answer["bookings"]] == [
            occurrences[i] for i in fits]
        assert [s["occurrence"] for s in answer["skipped"]] == sorted(failing)
        for i in fits:
            model[("series", i)] = (*occurrences[i], -1000, -1024)

    # what the database holds: the series' bookings as answered, nothing more, no overcommit
    async with engine.connect() as conn:
        pool_id = (await conn.execute(select(orm.Pool.id).where(orm.Pool.name == pool))).scalar_one()
        rows = (await conn.execute(select(orm.Booking).where(
            orm.Booking.pool_id == pool_id, orm.Booking.state == "booked"))).all()
        count = (await conn.execute(select(orm.BookingSeries.id).where(orm.BookingSeries.pool_id == pool_id))).all()
    assert len(count) == (0 if answer is None else 1)
    assert sorted((epoch(r.start), epoch(r.end)) for r in rows if r.series_id is not None) == (
        [] if answer is None else [occurrences[i] for i in fits])
    held = {"grant": model["grant"], **{r.id: (epoch(r.start), epoch(r.end), -r.millicores, -r.mib) for r in rows}}
    free = ref.min_free(held, epoch(grant[0]), epoch(grant[1]))
    assert free.millicores >= 0 and free.mib >= 0
