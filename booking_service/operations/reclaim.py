"""Reclaiming unused bookings: a booking nobody started a server of within its level's
time after its start is CANCELLED and frees what it held, the way Slurm and Chameleon
reclaim unused reservations (BookingService.reclaim_unstarted_minutes; never an admin's)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import select

from .. import orm
from ..domain import ACCEPTED, CANCELLED, WAITING
from ..store import locked_pool
from . import Context
from .phases import move

log = logging.getLogger("booking_service.reclaim")


def reclaim_cause(minutes: float) -> str:
    return f"not started within {minutes:g} minutes of its start: its capacity was released for others"


async def _minutes_for(ctx: Context, user: str, known: dict) -> float | None:
    """The reclaim time of `user`'s level (None: never), from the hub's groups and admin flag."""
    if user not in known:
        try:
            model = await ctx.hub.user(user)
        except Exception as e:  # the hub is away: decide next round, and let the rest of this one run
            log.warning("Could not ask the hub about %s (%s); their bookings are not reclaimed this round", user, e)
            return None
        if model is None or model.get("admin"):
            known[user] = None  # a deleted user's bookings end through forget; an admin's are kept
        else:
            known[user] = ctx.reclaim_unstarted.get(ctx.policy.level_of(model.get("groups") or []))
    return known[user]


async def reclaim_unstarted(ctx: Context, now: datetime) -> int:
    """Cancel the bookings under way for longer than their user's level allows with no
    server ever started under them. Needs the hub (levels come from its groups)."""
    if not ctx.reclaim_unstarted or ctx.hub is None:
        return 0
    shortest = timedelta(minutes=min(ctx.reclaim_unstarted.values()))
    used = select(orm.Session.id).where(orm.Session.booking_id == orm.Booking.id).exists()
    where = (orm.Booking.state == "booked", orm.Booking.phase.in_((ACCEPTED, WAITING)),
             orm.Booking.start <= now - shortest, orm.Booking.end > now, ~used)
    async with ctx.engine.connect() as conn:
        candidates = (await conn.execute(
            select(orm.Booking.id, orm.Booking.user, orm.Booking.start, orm.Pool.name.label("pool_name"))
            .join(orm.Pool, orm.Pool.id == orm.Booking.pool_id).where(*where))).all()
    known, due = {}, {}
    for row in candidates:
        minutes = await _minutes_for(ctx, row.user, known)
        if minutes is not None and row.start + timedelta(minutes=minutes) <= now:
            due.setdefault(row.pool_name, []).append((row.id, minutes))
    reclaimed = 0
    for pool, bookings in sorted(due.items()):
        async with locked_pool(ctx.engine, ctx.cache, pool) as change:
            for booking_id, minutes in bookings:
                row = (await change.conn.execute(  # as of the lock: still unused and under way?
                    select(orm.Booking.id, orm.Booking.phase).where(orm.Booking.id == booking_id, *where))).first()
                if row is None:
                    continue
                cause = reclaim_cause(minutes)
                await move(change, row, CANCELLED, now=now, cause=cause, by="lifecycle", cancelled=now,
                           cancel_reason=cause)
                reclaimed += 1
            if not change.recorded:
                change.unchanged()
    if reclaimed:
        log.info("Reclaimed %d unstarted booking(s)", reclaimed)
    return reclaimed
