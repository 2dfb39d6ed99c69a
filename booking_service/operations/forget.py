"""Forgetting a deleted hub user: their bookings, walk-in queue places and sessions end,
with a reason, and every row of theirs is kept as history under a name no hub user can
have, so whoever gets the name next inherits nothing (issue 9, item 6)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, union, update

from .. import orm
from ..domain import CANCELLED, FORGET_SCOPE, Caller, Conflict, Forbidden, Invalid, format_time
from ..store import HOLDING, locked_pools
from . import Context
from .ical import forget_feed
from .phases import move
from .sessions import OPEN, offer_places

TABLES = (orm.Booking, orm.Session, orm.QueueEntry)


def parse_user(user) -> str:
    # JupyterHub refuses '/' in names (Authenticator.validate_username), which is what
    # makes a forgotten name unclaimable
    if not isinstance(user, str) or not 0 < len(user) <= 200 or "/" in user:
        raise Invalid("'user' must be a hub user name (at most 200 characters, no '/')")
    return user


def forgotten_name(user: str, now: datetime) -> str:
    """What a forgotten user's rows are kept under: their name, for the admins' history,
    with a '/' no hub name has."""
    return f"{user}/deleted {format_time(now)}"


async def _pools_of(conn, user: str) -> set[str]:
    rows = await conn.execute(union(*(
        select(orm.Pool.name).join(table, table.pool_id == orm.Pool.id).where(table.user == user) for table in TABLES)))
    return set(rows.scalars().all())


async def forget_user(ctx: Context, caller: Caller, user, reason: str, now: datetime) -> dict:
    """End everything `user` holds and rename their rows, in one transaction over every
    pool they have rows in. Idempotent: forgetting someone with no rows changes nothing."""
    if not (caller.admin or caller.forget):
        raise Forbidden(f"Only the hub (a token with '{FORGET_SCOPE}') and booking admins can forget a user.")
    user = parse_user(user)
    if not reason or len(reason) > 200:
        raise Invalid("'reason' must be text of 1 to 200 characters")
    kept_as = forgotten_name(user, now)
    # first, and whether they hold anything or not: the old feed address must not show
    # the bookings of whoever gets the name next
    await forget_feed(ctx, user)
    counts = {"bookings_cancelled": 0, "sessions_stopped": 0, "queue_entries_left": 0}
    async with ctx.engine.connect() as conn:
        pools = await _pools_of(conn, user)
    for _attempt in range(5):
        if not pools:
            break
        try:
            async with locked_pools(ctx.engine, ctx.cache, pools) as changes:
                # a row made in a pool we did not lock (between the look and the locks):
                # start again holding that pool's lock too
                missing = await _pools_of(changes[0].conn, user) - pools
                if missing:
                    raise _MorePools(missing)
                for change in changes:
                    await _end_and_rename(ctx, change, user, reason, kept_as, counts, now)
            break
        except _MorePools as e:
            pools |= e.pools
    else:
        raise Conflict(f"'{user}' keeps getting new bookings; try again.")
    return {"user": user, "reason": reason, "kept_as": kept_as if pools else None, **counts}


async def _end_and_rename(ctx, change, user, reason, kept_as, counts, now) -> None:
    held = (await change.conn.execute(select(orm.Booking.id, orm.Booking.phase).where(
        orm.Booking.pool_id == change.pool.id, orm.Booking.user == user, orm.Booking.state.in_(HOLDING),
        orm.Booking.end > now))).all()
    for booking in held:  # bookings and held offers alike
        await move(change, booking, CANCELLED, now=now, cause=reason, by="hub", cancelled=now, cancel_reason=reason)
    counts["bookings_cancelled"] += len(held)
    counts["sessions_stopped"] += len(await change.update(
        orm.Session, orm.Session.user == user, orm.Session.state == "running",
        state="stopped", stopped=now, stop_reason=reason))
    counts["queue_entries_left"] += len(await change.update(
        orm.QueueEntry, orm.QueueEntry.user == user, orm.QueueEntry.state.in_(OPEN), state="left", end_reason=reason))
    for table in TABLES:
        await change.update(table, table.user == user, user=kept_as)
    # offer sets belong to no pool: renamed with the first pool's change (later ones find none)
    await change.conn.execute(update(orm.OfferSet).where(orm.OfferSet.user == user).values(user=kept_as))
    # so are their notices (0006_notices), and what was not mailed yet never is
    await change.conn.execute(update(orm.Notice).where(orm.Notice.user == user, orm.Notice.mail_state == "pending")
                              .values(mail_state="off"))
    await change.conn.execute(update(orm.Notice).where(orm.Notice.user == user).values(user=kept_as))
    # their series end with their bookings (whose cancelling is above)
    await change.conn.execute(update(orm.BookingSeries).where(orm.BookingSeries.user == user).values(
        user=kept_as, cancelled=func.coalesce(orm.BookingSeries.cancelled, now)))
    await offer_places(ctx, change, now)  # what they held is free for the head of the queue


class _MorePools(Exception):
    def __init__(self, pools: set[str]):
        super().__init__()
        self.pools = pools
