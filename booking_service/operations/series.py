"""Recurring bookings (series): one request books a package on an RFC 5545 rule, every
occurrence admitted as a single booking is (the level's rules, the pool's free capacity)
in one transaction under the pool's lock: all or nothing, or "fit", which books those that
fit and says why the others were skipped. A series is cancelled as a whole (its occurrences
to come) or one occurrence at a time (DELETE /bookings/{id})."""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import insert, select, update

from .. import orm
from ..domain import (
    Caller,
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    format_time,
    parse_duration,
    parse_name,
    parse_resources,
    parse_zone,
    require_fields,
    resources_json,
)
from ..engine import Resources
from ..policy import NOW_GRACE, check_booking
from ..recurrence import Occurrence, expand, parse_local_start, parse_rule
from ..store import HOLDING, locked_pool
from . import Context, footprint, package_named
from .bookings import admit, booking_json, booking_user, check_bookable, shortfall
from .phases import expire_offers, move

MODES = ("all", "fit")
REQUIRED = {"start", "duration", "rrule"}
OPTIONAL = {"package", "resources", "pool", "tz", "mode", "user"}


def occurrence_json(occurrence: Occurrence, reason: str | None = None) -> dict:
    entry = {"occurrence": occurrence.index, "start": format_time(occurrence.start), "end": format_time(occurrence.end)}
    return entry if reason is None else {**entry, "reason": reason}


def series_json(series, pool_name: str, package, bookings: list, now: datetime) -> dict:
    return {
        "id": series.id,
        "user": series.user,
        "pool": pool_name,
        "package": None if package is None else {"name": package.name, "version": package.version},
        "resources": resources_json(Resources(series.millicores, series.mib)),
        "start": series.start,
        "tz": series.tz,
        "duration": series.duration,
        "rrule": series.rrule,
        "mode": series.mode,
        "created": format_time(series.created),
        "created_by": series.created_by,
        "cancelled": None if series.cancelled is None else format_time(series.cancelled),
        "bookings": [booking_json(b, pool_name, package, now) for b in bookings],
        "skipped": json.loads(series.skipped),
    }


def _parse(ctx: Context, body) -> dict:
    """Everything the request says, checked, before any database work."""
    body = require_fields(body, REQUIRED, OPTIONAL)
    if ("package" in body) == ("resources" in body):
        raise Invalid("Give either 'package' (a package name) or 'resources' ({\"cores\", \"memory_gib\"}), not both or neither")
    zone = parse_zone(body.get("tz"))
    start = parse_local_start(body["start"], zone)
    duration = parse_duration(body["duration"], "duration")
    rule = parse_rule(body["rrule"], zone)
    mode = body.get("mode", "all")
    if mode not in MODES:
        raise Invalid(f"'mode' must be \"all\" (every occurrence or none) or \"fit\" (those that fit), not {mode!r}")
    pool = body.get("pool")
    if pool is not None and (not isinstance(pool, str) or len(pool) > 255):
        raise Invalid("'pool' must be a pool name")
    occurrences = expand(rule, start, zone, duration,
                         max_occurrences=ctx.max_series_occurrences, max_days=ctx.max_series_days)
    return {
        "package": parse_name(body["package"], "package") if "package" in body else None,
        "resources": None if "package" in body else parse_resources(body["resources"], maximum=ctx.max_booking),
        "tz": "UTC" if zone is None else zone.key, "start": start, "duration": body["duration"].strip().upper(),
        "rrule": body["rrule"].strip(), "mode": mode, "pool": pool, "occurrences": occurrences,
    }


def _policy_reasons(ctx: Context, caller: Caller, package, occurrences: list[Occurrence], now: datetime) -> dict:
    """The level's rules, as for a single booking. What the first occurrence breaks, the
    series breaks (403: later ones start later and hold as much); a later one may break the
    advance limit, or the length where a clock change lengthens it: its reason, by index."""
    rules = ctx.policy.rules(caller.level)
    name = None if package is None else package.name
    first = occurrences[0]
    check_booking(rules, package=name, start=first.start, end=first.end, now=now, admin=caller.admin)
    reasons = {}
    for occurrence in occurrences[1:]:
        try:
            check_booking(rules, package=name, start=occurrence.start, end=occurrence.end, now=now,
                          admin=caller.admin)
        except Forbidden as e:
            reasons[occurrence.index] = e.message
    return reasons


async def _pool_name(conn, given: str | None) -> str:
    if given is not None:
        return given
    names = (await conn.execute(
        select(orm.Pool.name).where(orm.Pool.kind == "reserved").order_by(orm.Pool.name).limit(2))).scalars().all()
    if len(names) != 1:
        raise Invalid("Name the 'pool' to book" + (": there are several; GET /pools lists them." if names else
                                                    "; there is no reserved pool yet."))
    return names[0]


async def create_series(ctx: Context, caller: Caller, body, now: datetime) -> dict:
    request = _parse(ctx, body)
    user = booking_user(caller, body)
    occurrences = request["occurrences"]
    if occurrences[0].start < now - NOW_GRACE:
        raise Invalid(f"The series' first occurrence ({format_time(occurrences[0].start)}) is in the past; "
                      f"start it from now ({format_time(now)}) on.")
    async with ctx.engine.connect() as conn:
        package = None if request["package"] is None else await package_named(conn, request["package"])
        pool_name = await _pool_name(conn, request["pool"])
    need = request["resources"] if package is None else footprint(package)
    reasons = _policy_reasons(ctx, caller, package, occurrences, now)

    async with locked_pool(ctx.engine, ctx.cache, pool_name) as change:
        check_bookable(change.pool, pool_name)
        await expire_offers(change, now)
        # every occurrence checked before any is written: the series' own occurrences never
        # overlap (recurrence.expand), so each one's room is the pool's as it is now
        for occurrence in occurrences:
            if occurrence.index not in reasons:
                short = shortfall(change.timeline, need, occurrence.start, occurrence.end)
                if short is not None:
                    reasons[occurrence.index] = f"pool '{change.pool.name}' has only {short}"
        failed = [occurrence_json(o, reasons[o.index]) for o in occurrences if o.index in reasons]
        fitting = [o for o in occurrences if o.index not in reasons]
        if failed and (request["mode"] == "all" or not fitting):
            raise Conflict(
                (f"{len(failed)} of the series' {len(occurrences)} occurrences cannot be booked, so none was"
                 + (" (ask with \"mode\": \"fit\" to book those that fit)" if request["mode"] == "all" else "")
                 + f"; 'failed' lists which and why. The first: occurrence {failed[0]['occurrence']} "
                   f"({failed[0]['start']}): {failed[0]['reason']}."),
                failed=failed,
            )
        values = dict(
            user=user, pool_id=change.pool.id, package_id=None if package is None else package.id,
            millicores=need.millicores, mib=need.mib, start=request["start"].isoformat(), tz=request["tz"],
            duration=request["duration"], rrule=request["rrule"], mode=request["mode"], skipped=json.dumps(failed),
            created=now, created_by=caller.name, cancelled=None,
        )
        series_id = (await change.conn.execute(
            insert(orm.BookingSeries).values(**values).returning(orm.BookingSeries.id))).scalar_one()
        bookings = [
            await admit(change, user=user, package=package, need=need, start=o.start, end=o.end, now=now,
                        by=caller.name, cause=f"occurrence {o.index} of series {series_id}", series_id=series_id)
            for o in fitting
        ]
    return series_json(orm.BookingSeries(id=series_id, **values), change.pool.name, package, bookings, now)


async def _load(conn, series_id: int):
    row = (await conn.execute(
        select(orm.BookingSeries, orm.Pool.name.label("pool_name"))
        .join(orm.Pool, orm.Pool.id == orm.BookingSeries.pool_id)
        .where(orm.BookingSeries.id == series_id))).first()
    if row is None:
        raise NotFound(f"There is no series {series_id}.")
    return row


def _check_owner(caller: Caller, row, series_id: int) -> None:
    if row.user != caller.name and not caller.admin:
        raise NotFound(f"There is no series {series_id}.")  # as if missing: other people's are not shown


async def _answer(conn, series, now: datetime) -> dict:
    package = None
    if series.package_id is not None:
        package = (await conn.execute(
            select(orm.PackageTemplate).where(orm.PackageTemplate.id == series.package_id))).first()
    bookings = (await conn.execute(
        select(orm.Booking).where(orm.Booking.series_id == series.id).order_by(orm.Booking.start, orm.Booking.id)
    )).all()
    return series_json(series, series.pool_name, package, bookings, now)


async def get_series(ctx: Context, caller: Caller, series_id: int, now: datetime) -> dict:
    async with ctx.engine.connect() as conn:
        series = await _load(conn, series_id)
        _check_owner(caller, series, series_id)
        return await _answer(conn, series, now)


async def cancel_series(ctx: Context, caller: Caller, series_id: int, now: datetime) -> dict:
    """Cancel the occurrences still to come; one under way is left to run (cancel it on its
    own, DELETE /bookings/{id}), those over are history."""
    async with ctx.engine.connect() as conn:
        series = await _load(conn, series_id)
    _check_owner(caller, series, series_id)
    async with locked_pool(ctx.engine, ctx.cache, series.pool_name) as change:
        series = await _load(change.conn, series_id)  # as of the lock
        if series.cancelled is not None:
            raise Conflict(f"Series {series_id} was cancelled already, at {format_time(series.cancelled)}.")
        to_come = (await change.conn.execute(
            select(orm.Booking.id, orm.Booking.phase).where(
                orm.Booking.pool_id == change.pool.id, orm.Booking.series_id == series_id,
                orm.Booking.state.in_(HOLDING), orm.Booking.start > now))).all()
        for booking in to_come:
            await move(change, booking, "CANCELLED", now=now, cause=f"series {series_id} cancelled by {caller.name}",
                       by=caller.name, cancelled=now)
        await change.conn.execute(
            update(orm.BookingSeries).where(orm.BookingSeries.id == series_id).values(cancelled=now))
        series = await _load(change.conn, series_id)
        return {**await _answer(change.conn, series, now), "cancelled_bookings": [b.id for b in to_come]}
