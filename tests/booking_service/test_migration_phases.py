"""Migration 0004 (offer sets, phases, transitions) on a database at 0003 that holds
bookings of every kind, on SQLite and PostgreSQL: each keeps its rows and gets the phase
its state and the clock give it, with the transitions that took it there; and back down."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import text

from booking_service import store

NOW = datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)
H = timedelta(hours=1)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path, postgres_db):
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path}/booking.sqlite"
    return postgres_db()


# name -> (start, end, state, cancelled, running server?) and the phase it must get
BOOKINGS = {
    "later": ((NOW + H, NOW + 3 * H, "booked", None, False), "ACCEPTED"),
    "under way": ((NOW - H, NOW + H, "booked", None, False), "WAITING"),
    "in use": ((NOW - H, NOW + H, "booked", None, True), "RUNNING"),
    "over": ((NOW - 3 * H, NOW - H, "booked", None, False), "COMPLETED"),
    "cancelled": ((NOW + H, NOW + 2 * H, "cancelled", NOW - H, False), "CANCELLED"),
}


async def test_existing_bookings_get_phases_and_history(db_url):
    engine = store.make_engine(db_url)
    try:
        await store.upgrade(engine, "0003")
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO pools (id, name, description, kind, version, created) "
                                    "VALUES (1, 'p', '', 'reserved', 1, :now)"), {"now": NOW})
            for i, (name, ((start, end, state, cancelled, running), _)) in enumerate(BOOKINGS.items(), 1):
                await conn.execute(text(
                    'INSERT INTO bookings (id, "user", pool_id, start, "end", millicores, mib, state, created, '
                    "created_by, cancelled, changed_version) VALUES (:id, :user, 1, :start, :end, 1000, 1024, "
                    ":state, :created, :user, :cancelled, 1)"),
                    {"id": i, "user": name, "start": start, "end": end, "state": state, "created": NOW - 5 * H,
                     "cancelled": cancelled})
                if running:
                    await conn.execute(text(
                        'INSERT INTO sessions ("user", server_name, pool_id, booking_id, millicores, mib, flavour, '
                        "state, started, stop_reason, changed_version) VALUES (:user, '', 1, :id, 1000, 1024, "
                        "'jupyter', 'running', :now, '', 1)"), {"user": name, "id": i, "now": NOW})
        await store.upgrade(engine)
        async with engine.connect() as conn:
            phases = dict((await conn.execute(text('SELECT "user", phase FROM bookings'))).all())
            history = (await conn.execute(text(
                'SELECT b."user", t.from_phase, t.to_phase FROM booking_transitions t '
                "JOIN bookings b ON b.id = t.booking_id ORDER BY t.booking_id, t.id"))).all()
        assert phases == {name: phase for name, (_, phase) in BOOKINGS.items()}
        for name, (_, phase) in BOOKINGS.items():
            moves = [(f, t) for who, f, t in history if who == name]
            assert moves == ([(None, "ACCEPTED")] + ([("ACCEPTED", phase)] if phase != "ACCEPTED" else [])), name

        # the database holds state and phase together: a 'booked' row cannot be EXPIRED
        with pytest.raises(Exception, match="(?i)check|constraint"):
            async with engine.begin() as conn:
                await conn.execute(text("UPDATE bookings SET phase = 'EXPIRED' WHERE \"user\" = 'later'"))

        await store.downgrade(engine, "0003")  # and back: the rows stay, as they were
        async with engine.connect() as conn:
            states = dict((await conn.execute(text('SELECT "user", state FROM bookings'))).all())
        assert states == {name: spec[2] for name, (spec, _) in BOOKINGS.items()}
    finally:
        await engine.dispose()
