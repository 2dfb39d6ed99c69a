"""Moving bookings through their lifecycle (domain.MOVES), one recorded transition per
move, always under the booking's pool lock (a store.PoolChange), so a move and an
admission or another move of the same booking never cross; and the sweep that lets held
offers expire (which frees what they held)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert, select

from .. import orm
from . import notices
from ..domain import EXPIRED, MOVES, check_move, format_time, state_of


async def record(conn, booking_id: int, before: str | None, after: str, now: datetime, cause: str, by: str) -> None:
    await conn.execute(insert(orm.BookingTransition).values(
        booking_id=booking_id, from_phase=before, to_phase=after, at=now, cause=cause, by=by))
    # the one place every move passes: the moves a user hears of make their notice here
    await notices.on_transition(conn, booking_id, before, after, now, cause, by)


async def move(change, booking, target: str, *, now: datetime, cause: str, by: str, **values) -> None:
    """Move `booking` (a row with id and phase, read under `change`'s lock) to `target`, or
    raise Conflict (409) saying why not; `values` are further columns to set."""
    check_move(booking.phase, target, f"Booking {booking.id}")
    await change.update(orm.Booking, orm.Booking.id == booking.id, phase=target, state=state_of(target), **values)
    await record(change.conn, booking.id, booking.phase, target, now, cause, by)


async def advance(change, booking, target: str, *, now: datetime, cause: str, by: str) -> bool:
    """Move forward to `target` if the booking may (it is not there or past it already):
    for what the existing code learns as it happens (a server started, an end passed)."""
    if target not in MOVES.get(booking.phase, frozenset()):
        return False
    await move(change, booking, target, now=now, cause=cause, by=by)
    return True


async def expire_offers(change, now: datetime) -> int:
    """Under the pool's lock: every offer of this pool held until `now` or before becomes
    EXPIRED and holds nothing. Admission calls this first, so an expired offer never keeps
    anyone out, whether the lifecycle loop's sweep has come by or not."""
    due = (await change.conn.execute(
        select(orm.Booking.id, orm.Booking.phase, orm.Booking.expires)
        .where(orm.Booking.pool_id == change.pool.id, orm.Booking.state == "offered", orm.Booking.expires <= now)
    )).all()
    for offer in due:
        await move(change, offer, EXPIRED, now=now, by="lifecycle",
                   cause=f"not accepted by {format_time(offer.expires)}")
    return len(due)


async def history(conn, booking_id: int) -> list[dict]:
    rows = (await conn.execute(
        select(orm.BookingTransition).where(orm.BookingTransition.booking_id == booking_id)
        .order_by(orm.BookingTransition.id))).all()
    return [{"from": r.from_phase, "to": r.to_phase, "at": format_time(r.at), "cause": r.cause, "by": r.by}
            for r in rows]

