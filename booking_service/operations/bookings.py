"""Bookings: admission against the pool's free capacity (under the pool's database
lock), listing, cancelling, and moving the end."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from .. import orm
from ..domain import (
    ACCEPTED,
    CANCELLED,
    EXPIRED,
    LIVE,
    OFFERED,
    REJECTED,
    Caller,
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    no_such_pool,
    epoch,
    format_time,
    from_epoch,
    parse_name,
    parse_range,
    parse_resources,
    parse_time,
    require_fields,
    resources_json,
)
from ..engine import Resources
from ..policy import NOW_GRACE, check_booking, check_length
from ..steps import parse_steps
from ..store import locked_pool
from . import Context, find_pool, footprint, package_named
from .phases import expire_offers, history, move, record
from .preparation import add_steps, booking_steps, check_preparation_time, steps_of

MAX_LISTED = 1000


# offers that never became bookings: GET /offersets shows them, GET /bookings does not
NEVER_BOOKED = (OFFERED, EXPIRED, REJECTED)


def booking_status(row, now: datetime) -> str:
    if row.state == "offered":
        return "offered"
    if row.state == "cancelled":
        return "cancelled"
    if now < row.start:
        return "upcoming"
    return "active" if now < row.end else "finished"


def booking_json(row, pool_name: str, package, now: datetime) -> dict:
    return {
        "id": row.id,
        "user": row.user,
        "pool": pool_name,
        "package": None if package is None else {"name": package.name, "version": package.version},
        "resources": resources_json(Resources(row.millicores, row.mib)),
        "start": format_time(row.start),
        "end": format_time(row.end),
        "state": row.state,
        "status": booking_status(row, now),
        "created": format_time(row.created),
        "created_by": row.created_by,
        "cancelled": None if row.cancelled is None else format_time(row.cancelled),
        "cancel_reason": row.cancel_reason,
        "phase": row.phase,
        "expires": None if row.expires is None else format_time(row.expires),
        "offer_set": None if row.offer_set_id is None else {"id": row.offer_set_id, "index": row.offer_index},
        "series_id": row.series_id,
    }


def _check_not_past(start: datetime, now: datetime) -> None:
    if start < now - NOW_GRACE:
        raise Invalid(
            f"'start' ({format_time(start)}) is in the past; book from now ({format_time(now)}) on."
        )


def _short_of(need: Resources, free: Resources) -> str:
    parts = []
    if free.millicores < need.millicores:
        parts.append(f"{max(free.millicores, 0) / 1000:g} of {need.millicores / 1000:g} cores")
    if free.mib < need.mib:
        parts.append(f"{max(free.mib, 0) / 1024:g} of {need.mib / 1024:g} GiB of memory")
    return " and ".join(parts) + " free for the whole period"


async def create_booking(ctx: Context, caller: Caller, body, now: datetime) -> dict:
    body = require_fields(body, {"pool", "start", "end"}, {"package", "resources", "user", "steps"})
    if ("package" in body) == ("resources" in body):
        raise Invalid("Give either 'package' (a package name) or 'resources' ({\"cores\", \"memory_gib\"}), not both or neither")
    start, end = parse_range(body["start"], body["end"])
    _check_not_past(start, now)
    steps = parse_steps(body.get("steps"), ctx.workers)
    check_preparation_time(steps, start, now)
    user = booking_user(caller, body)

    pool_name = body["pool"]
    if not isinstance(pool_name, str) or len(pool_name) > 255:
        raise Invalid("'pool' must be a pool name")
    package = None
    if "package" in body:
        package_name = parse_name(body["package"], "package")
        async with ctx.engine.connect() as conn:
            package = await package_named(conn, package_name)
        need = footprint(package)
    else:
        need = parse_resources(body["resources"], maximum=ctx.max_booking)
    check_booking(
        ctx.policy.rules(caller.level),
        package=None if package is None else package.name,
        start=start, end=end, now=now, admin=caller.admin,
    )
    async with locked_pool(ctx.engine, ctx.cache, pool_name) as change:
        pool, timeline = change.pool, change.timeline
        check_bookable(pool, pool_name)
        await expire_offers(change, now)
        s, e = epoch(start), epoch(end)
        short = shortfall(timeline, need, start, end)
        if short is not None:
            since = max(s, epoch(now))
            options = timeline.earliest_fits(need, e - s, since, since + int(ctx.alternatives_horizon.total_seconds()),
                                             ctx.alternatives)
            raise Conflict(
                f"Pool '{pool.name}' has only {short} from {format_time(start)} to {format_time(end)}."
                + (" The earliest times that fit are listed in 'alternatives'." if options else
                   f" Nothing of that length fits in the next {ctx.alternatives_horizon.days} days."),
                alternatives=[
                    {"pool": pool.name, "start": format_time(from_epoch(a)), "end": format_time(from_epoch(a + e - s))}
                    for a in options
                ],
            )
        booking = await admit(change, user=user, package=package, need=need, start=start, end=end, now=now,
                              by=caller.name)
        await add_steps(change.conn, booking.id, steps, start)
        answer = booking_json(booking, pool.name, package, now)
        return {**answer, "steps": await booking_steps(change.conn, booking.id)}


def booking_user(caller: Caller, body: dict) -> str:
    """Whom a booking is for: the caller, or (booking admins only) the body's 'user'."""
    user = body.get("user", caller.name)
    if user != caller.name:
        if not caller.admin:
            raise Forbidden("Only booking admins can book on behalf of someone else; leave out 'user'.")
        if not isinstance(user, str) or not 0 < len(user) <= 255 or "/" in user:
            raise Invalid("'user' must be a hub user name")  # hub names never hold '/'
    return user


def check_bookable(pool, pool_name: str) -> None:
    """A booking's pool (as locked) must exist and be booked ahead."""
    if pool is None:
        raise no_such_pool(pool_name)
    if pool.kind != "reserved":
        raise Invalid(f"Pool '{pool.name}' is a shared (walk-in) pool and cannot be booked; book a reserved pool.")


def shortfall(timeline, need: Resources, start: datetime, end: datetime) -> str | None:
    """None if `need` fits in the pool's free resources throughout [start, end), else what
    is short, for a message ("1 of 2 cores free for the whole period")."""
    free = timeline.min_free(epoch(start), epoch(end))
    return None if need.fits_in(free) else _short_of(need, free)


async def admit(change, *, user: str, package, need: Resources, start: datetime, end: datetime, now: datetime,
                by: str, cause: str = "booked", **columns):
    """Write a booking (ACCEPTED) that the caller has checked fits, under `change`'s lock,
    with its first transition; returns it as an orm.Booking. `columns`: more to set."""
    values = dict(
        user=user, package_id=None if package is None else package.id,
        start=start, end=end, millicores=need.millicores, mib=need.mib, state="booked", phase=ACCEPTED,
        created=now, created_by=by, cancelled=None, offer_set_id=None, offer_index=None, expires=None,
        **columns,
    )
    booking = await change.insert(orm.Booking, **values)
    await record(change.conn, booking.id, None, ACCEPTED, now, cause, by)
    return orm.Booking(id=booking.id, **values)


async def _load(conn, booking_id) -> tuple:
    row = (
        await conn.execute(
            select(orm.Booking, orm.Pool.name.label("pool_name"))
            .join(orm.Pool, orm.Pool.id == orm.Booking.pool_id)
            .where(orm.Booking.id == booking_id)
        )
    ).first()
    if row is None:
        raise NotFound(f"There is no booking {booking_id}.")
    package = None
    if row.package_id is not None:
        package = (
            await conn.execute(select(orm.PackageTemplate).where(orm.PackageTemplate.id == row.package_id))
        ).first()
    return row, package


def _check_owner(caller: Caller, row, booking_id) -> None:
    if row.user != caller.name and not caller.admin:
        # Same answer as a missing booking: do not reveal other people's bookings.
        raise NotFound(f"There is no booking {booking_id}.")


async def get_booking(ctx: Context, caller: Caller, booking_id: int, now: datetime) -> dict:
    async with ctx.engine.connect() as conn:
        row, package = await _load(conn, booking_id)
        _check_owner(caller, row, booking_id)
        return {**booking_json(row, row.pool_name, package, now), "transitions": await history(conn, booking_id),
                "steps": await booking_steps(conn, booking_id)}


async def list_bookings(ctx: Context, caller: Caller, start, end, user, pool, now: datetime) -> dict:
    start = parse_time(start, "start") if start is not None else now - timedelta(days=1)
    end = parse_time(end, "end") if end is not None else start + timedelta(days=366)
    start, end = parse_range(format_time(start), format_time(end), max_span=ctx.max_query_span)
    if user is not None and user != caller.name and not caller.admin:
        raise Forbidden("Only booking admins can list other people's bookings; leave out 'user'.")
    if user is None and not caller.admin:
        user = caller.name
    query = (
        select(orm.Booking, orm.Pool.name.label("pool_name"), orm.PackageTemplate.name.label("package_name"),
               orm.PackageTemplate.version.label("package_version"))
        .join(orm.Pool, orm.Pool.id == orm.Booking.pool_id)
        .outerjoin(orm.PackageTemplate, orm.PackageTemplate.id == orm.Booking.package_id)
        .where(orm.Booking.start < end, orm.Booking.end > start, orm.Booking.phase.not_in(NEVER_BOOKED))
        .order_by(orm.Booking.start, orm.Booking.id)
        .limit(MAX_LISTED + 1)
    )
    if user is not None:
        query = query.where(orm.Booking.user == user)
    async with ctx.engine.connect() as conn:
        if pool is not None:
            query = query.where(orm.Booking.pool_id == (await find_pool(conn, pool)).id)
        rows = (await conn.execute(query)).all()
        if len(rows) > MAX_LISTED:
            raise Invalid(f"More than {MAX_LISTED} bookings match; ask for a shorter range, a pool or a user.")
        steps = await steps_of(conn, [r.id for r in rows])  # the calendar's cards show them
    return {
        "start": format_time(start),
        "end": format_time(end),
        "bookings": [
            {**booking_json(r, r.pool_name, None if r.package_name is None else
                            orm.PackageTemplate(name=r.package_name, version=r.package_version), now),
             "steps": steps[r.id]}
            for r in rows
        ],
    }


async def _change(ctx: Context, caller: Caller, booking_id: int, now: datetime, decide) -> dict:
    """Lock the booking's pool, re-read the booking, let `decide` check and return the new
    values (or raise), write them, and keep the cached timeline in step."""
    async with ctx.engine.connect() as conn:
        row, _ = await _load(conn, booking_id)
    _check_owner(caller, row, booking_id)
    async with locked_pool(ctx.engine, ctx.cache, row.pool_name) as change:
        conn = change.conn
        row, package = await _load(conn, booking_id)  # as of the lock: nobody else changes it now
        await expire_offers(change, now)  # what expired offers held is free for an extension
        changes = decide(row, package, change.timeline)
        await change.update(orm.Booking, orm.Booking.id == booking_id, **changes)
        row, package = await _load(conn, booking_id)
    return booking_json(row, row.pool_name, package, now)


async def cancel_booking(ctx: Context, caller: Caller, booking_id: int, now: datetime) -> dict:
    """Cancel a booking (CANCELLED) or decline an offer (REJECTED); either frees what it held."""
    async with ctx.engine.connect() as conn:
        row, _ = await _load(conn, booking_id)
    _check_owner(caller, row, booking_id)
    async with locked_pool(ctx.engine, ctx.cache, row.pool_name) as change:
        row, package = await _load(change.conn, booking_id)  # as of the lock
        if row.state == "cancelled":
            raise Conflict(f"Booking {booking_id} was {row.phase.lower()} already"
                           + (f", at {format_time(row.cancelled)}." if row.cancelled else "."))
        if row.end <= now:
            raise Conflict(f"Booking {booking_id} ended at {format_time(row.end)}; it is kept as history.")
        if row.phase == OFFERED:
            await move(change, row, REJECTED, now=now, cause=f"declined by {caller.name}", by=caller.name)
        else:
            await move(change, row, CANCELLED, now=now, cause=f"cancelled by {caller.name}", by=caller.name,
                       cancelled=now)
        row, package = await _load(change.conn, booking_id)
    return booking_json(row, row.pool_name, package, now)


async def move_end(ctx: Context, caller: Caller, booking_id: int, body, now: datetime) -> dict:
    body = require_fields(body, {"end"})
    new_end = parse_time(body["end"], "end")

    def decide(row, package, timeline):
        if row.state == "cancelled":
            raise Conflict(f"Booking {booking_id} is {row.phase}; make a new booking instead.")
        if row.phase not in LIVE:
            raise Conflict(f"Booking {booking_id} is {row.phase}: an offer's end cannot move; accept it first "
                           f"(POST /offersets/{row.offer_set_id}/offers/{row.offer_index}).")
        if row.end <= now:
            raise Conflict(f"Booking {booking_id} ended at {format_time(row.end)}; make a new booking instead.")
        if new_end <= row.start:
            raise Invalid(f"The new end must be after the booking's start ({format_time(row.start)}); "
                          f"to drop a booking that has not started, cancel it.")
        if new_end < now - NOW_GRACE:
            raise Invalid(f"The new end ({format_time(new_end)}) is in the past; the earliest end is now.")
        if new_end > row.end:
            # only the length rule: the booking was allowed when made, whoever made it
            check_length(ctx.policy.rules(caller.level), row.start, new_end, admin=caller.admin)
            need = Resources(row.millicores, row.mib)
            free = timeline.min_free(epoch(row.end), epoch(new_end))
            if not need.fits_in(free):
                raise Conflict(
                    f"Pool '{row.pool_name}' has only {_short_of(need, free)} from {format_time(row.end)} "
                    f"to {format_time(new_end)}; extend by less."
                )
        return {"end": max(new_end, now)}

    return await _change(ctx, caller, booking_id, now, decide)
