"""Entitlement, sessions and the walk-in queue: what a user may run now and soon,
recording the servers that run and what they hold (the booking or the walk-in the
start chose), and first-come first-served access to a full shared pool (seed 001)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select

from aglais_common.facts import FLAVOURS, WALK_IN

from .. import orm
from ..domain import RUNNING, Caller, Conflict, Forbidden, Invalid, NotFound, epoch, format_time, require_fields, resources_json
from ..engine import Resources
from ..entitlement import Decision, decide, warning
from ..domain import ACCEPTED, PREPARING  # still_preparing
from ..steps import COMPLETED
from ..store import locked_pool
from . import Context, footprint, package_json, package_named
from . import notices
from .phases import advance

OPEN = ("waiting", "offered")
NEXT_BOOKINGS = 5  # the entitlement lists the bookings on now and this many to come


def _may_act_for(caller: Caller, user: str, *, write: bool) -> None:
    if caller.admin or caller.sessions:
        return
    if caller.name != user or write:
        raise Forbidden("Only the spawner (scope 'custom:booking:sessions') and booking admins can do this.")


async def _level(ctx: Context, caller: Caller, user: str):
    if caller.kind == "user" and caller.name == user:
        return ctx.policy.rules(caller.level)
    if ctx.hub is None:
        raise Forbidden("This service cannot look up other users' levels (no hub API token).")
    model = await ctx.hub.user(user)
    return ctx.policy.rules(ctx.policy.level_of(model.get("groups") or []))


async def _active_booking(conn, user: str, now: datetime):
    return (
        await conn.execute(
            select(orm.Booking, orm.Pool.name.label("pool_name"))
            .join(orm.Pool, orm.Pool.id == orm.Booking.pool_id)
            .where(orm.Booking.user == user, orm.Booking.state == "booked",
                   orm.Booking.start <= now, orm.Booking.end > now)
            .order_by(orm.Booking.start, orm.Booking.id)
        )
    ).first()


async def _queue_view(conn, pool_id: int, user: str, now: datetime):
    """This user's open queue entry (if any), and how many open entries are ahead of it."""
    mine = (
        await conn.execute(
            select(orm.QueueEntry).where(orm.QueueEntry.pool_id == pool_id, orm.QueueEntry.user == user,
                                         orm.QueueEntry.state.in_(OPEN))
        )
    ).first()
    ahead = select(func.count()).select_from(orm.QueueEntry).where(
        orm.QueueEntry.pool_id == pool_id, orm.QueueEntry.state.in_(OPEN))
    if mine is not None:
        ahead = ahead.where(orm.QueueEntry.id < mine.id)
    count = (await conn.execute(ahead)).scalar()
    holds = mine is not None and mine.state == "offered" and mine.hold_until > now
    return mine, count, holds


async def _walk_in_pool(conn, ctx: Context):
    if not ctx.walk_in_pool:
        return None
    return (
        await conn.execute(select(orm.Pool.id, orm.Pool.name, orm.Pool.version).where(
            orm.Pool.name == ctx.walk_in_pool, orm.Pool.kind == "shared"))
    ).first()


def parse_choice(body: dict):
    """A start's `booking`: a booking's id, "walk-in", or None when left out (the booking
    on now, else the walk-in)."""
    if "booking" not in body:
        return None
    value = body["booking"]
    if value == WALK_IN:
        return value
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 2**31 - 1:  # the ids' range
        raise Invalid(f"'booking' must be the id of one of your bookings (a whole number) or \"{WALK_IN}\"")
    return value


async def _chosen_booking(conn, user: str, now: datetime, choice):
    """The booking a start runs under: the chosen one, which must be the user's and on
    now (NotFound, Conflict otherwise); none for the walk-in; by default the booking on now."""
    if choice is None:
        return await _active_booking(conn, user, now)
    if choice == WALK_IN:
        return None
    row = (await conn.execute(
        select(orm.Booking, orm.Pool.name.label("pool_name"))
        .join(orm.Pool, orm.Pool.id == orm.Booking.pool_id).where(orm.Booking.id == choice))).first()
    if row is None or row.user != user:
        raise NotFound(f"'{user}' has no booking {choice}.")
    if row.state != "booked":
        raise Conflict(f"Booking {choice} is cancelled; it cannot start a server.")
    if row.start > now:
        raise Conflict(f"Booking {choice} starts at {format_time(row.start)}; its server can start from then on.")
    if row.end <= now:
        raise Conflict(f"Booking {choice} ended at {format_time(row.end)}; it cannot start a server.")
    return row


async def _walk_in(ctx, conn, level, user, now, timeline=None):
    """The walk-in option, whatever the user's bookings: (decision, pool, package, queue entry)."""
    pool = await _walk_in_pool(conn, ctx)
    template = None
    room = holds = False
    ahead = 0
    mine = None
    if pool is not None and level is not None and level.walk_in:
        template = await package_named(conn, level.walk_in)
        if timeline is None:
            timeline = await ctx.cache.current(conn, pool.id, pool.version)
        room = footprint(template).fits_in(timeline.free_at(epoch(now)))
        mine, ahead, holds = await _queue_view(conn, pool.id, user, now)
    decision = decide(level, has_booking=False, walk_in_pool=pool and pool.name, room_now=room,
                      waiting_ahead=ahead, holds_offer=holds)
    return decision, pool, template, mine


async def _situation(ctx, conn, level, user, now, timeline=None, choice=None):
    """What a start with `choice` (parse_choice) gets: (decision, booking, pool, package, queue entry)."""
    booking = await _chosen_booking(conn, user, now, choice)
    if booking is not None:
        return decide(level, has_booking=True, walk_in_pool=None, room_now=False, waiting_ahead=0,
                      holds_offer=False), booking, await _walk_in_pool(conn, ctx), None, None
    decision, pool, template, mine = await _walk_in(ctx, conn, level, user, now, timeline)
    return decision, None, pool, template, mine


OWN_WALK_IN = "Your server runs with your level's walk-in package."


def _holds_own_walk_in(decision: Decision, mine, running) -> bool:
    """A full pool that holds this user's own walk-in server: that server is what they hold."""
    return decision.kind == "queue" and mine is None and any(s.booking_id is None for s in running)


async def _coming_bookings(conn, user: str, now: datetime) -> list[dict]:
    """The user's bookings on now and the next NEXT_BOOKINGS to come, earliest first."""
    rows = (await conn.execute(
        select(orm.Booking, orm.Pool.name.label("pool_name"))
        .join(orm.Pool, orm.Pool.id == orm.Booking.pool_id)
        .where(orm.Booking.user == user, orm.Booking.state == "booked", orm.Booking.end > now)
        .order_by(orm.Booking.start, orm.Booking.id))).all()
    rows = [r for r in rows if r.start <= now] + [r for r in rows if r.start > now][:NEXT_BOOKINGS]
    ids = {r.package_id for r in rows if r.package_id is not None}
    packages = {p.id: p for p in (await conn.execute(
        select(orm.PackageTemplate).where(orm.PackageTemplate.id.in_(ids)))).all()} if ids else {}
    return [{
        "id": r.id,
        "pool": r.pool_name,
        "package": package_json(packages[r.package_id]) if r.package_id in packages else None,
        "resources": resources_json(Resources(r.millicores, r.mib)),
        "start": format_time(r.start),
        "end": format_time(r.end),
        "status": "active" if r.start <= now else "upcoming",
    } for r in rows]


def _walk_in_json(decision: Decision, pool, template, mine, running) -> dict:
    """The walk-in option for the home page: `free` (start now), `queue` (full: the user's
    place, or the place they would get), `running` (their walk-in server holds it), `none`."""
    if _holds_own_walk_in(decision, mine, running):
        state, reason = "running", OWN_WALK_IN
    else:
        state, reason = {"walk-in": "free", "queue": "queue", "none": "none"}[decision.kind], decision.reason
    return {
        "state": state,
        "reason": reason,
        "pool": None if state == "none" else pool.name,
        "package": None if state == "none" else package_json(template),
        "position": decision.position if state == "queue" else None,
        "queued": mine is not None,
    }


async def entitlement(ctx: Context, caller: Caller, user: str, now: datetime) -> dict:
    _may_act_for(caller, user, write=False)
    level = await _level(ctx, caller, user)
    async with ctx.engine.connect() as conn:
        decision, booking, pool, template, mine = await _situation(ctx, conn, level, user, now)
        running = (await conn.execute(select(orm.Session.id, orm.Session.server_name, orm.Session.booking_id).where(
            orm.Session.user == user, orm.Session.state == "running"))).all()
        # the walk-in option too, for the home page's choice
        walk_in = (decision, pool, template, mine) if booking is None else await _walk_in(ctx, conn, level, user, now)
        if _holds_own_walk_in(decision, mine, running):
            decision = Decision("walk-in", OWN_WALK_IN, package=decision.package)
        if booking is not None and (preparing := await still_preparing(conn, booking)) is not None:
            decision = Decision(decision.kind, preparing, package=decision.package)  # what a start would answer
        package = None
        if booking is not None and booking.package_id is not None:
            package = (await conn.execute(select(orm.PackageTemplate).where(
                orm.PackageTemplate.id == booking.package_id))).first()
        bookings = await _coming_bookings(conn, user, now)
    until = booking.end if booking is not None else None
    return {
        "user": user,
        "level": None if level is None else level.number,
        "level_name": None if level is None else level.name,
        "kind": decision.kind,
        "reason": decision.reason,
        "pool": booking.pool_name if booking is not None else (pool.name if decision.kind != "none" else None),
        "booking_id": None if booking is None else booking.id,
        "package": package_json(package) if package is not None else (package_json(template) if template else None),
        "resources": resources_json(Resources(booking.millicores, booking.mib)) if booking is not None
        else (resources_json(footprint(template)) if template is not None else None),
        "until": None if until is None else format_time(until),
        "seconds_left": None if until is None else int((until - now).total_seconds()),
        "warning": warning(until, now, ctx.warn_before_minutes),
        "queue": None if mine is None else {
            "position": decision.position, "state": mine.state,
            "hold_until": None if mine.hold_until is None else format_time(mine.hold_until)},
        "flavours": [] if level is None or decision.kind == "none" else list(level.flavours),
        "sessions": [{"id": s.id, "server_name": s.server_name, "booking_id": s.booking_id} for s in running],
        "bookings": bookings,
        "walk_in": _walk_in_json(*walk_in, running),
    }


def session_json(row, pool_name: str, package, booking_end, now) -> dict:
    return {
        "id": row.id,
        "user": row.user,
        "server_name": row.server_name,
        "kind": "walk-in" if row.booking_id is None else "booking",
        "pool": pool_name,
        "booking_id": row.booking_id,
        "package": None if package is None else package_json(package),
        "resources": resources_json(Resources(row.millicores, row.mib)),
        "flavour": row.flavour,
        "state": row.state,
        "started": format_time(row.started),
        "until": None if booking_end is None else format_time(booking_end),
        "stopped": None if row.stopped is None else format_time(row.stopped),
        "stop_reason": row.stop_reason,
    }


async def _load_session(conn, session_id: int):
    row = (await conn.execute(
        select(orm.Session, orm.Pool.name.label("pool_name"), orm.Booking.end.label("booking_end"))
        .join(orm.Pool, orm.Pool.id == orm.Session.pool_id)
        .outerjoin(orm.Booking, orm.Booking.id == orm.Session.booking_id)
        .where(orm.Session.id == session_id))).first()
    if row is None:
        raise NotFound(f"There is no session {session_id}.")
    package = None
    if row.package_id is not None:
        package = (await conn.execute(select(orm.PackageTemplate).where(orm.PackageTemplate.id == row.package_id))).first()
    return row, package


async def _running_session(conn, user: str, server_name: str):
    """The session this server holds already (row, package), for a repeated request."""
    existing = (await conn.execute(select(orm.Session.id).where(
        orm.Session.user == user, orm.Session.server_name == server_name, orm.Session.state == "running"))).first()
    return None if existing is None else await _load_session(conn, existing.id)


async def start_session(ctx: Context, caller: Caller, user: str, body, now: datetime) -> tuple[int, dict]:
    """Record a server about to start and what it holds; or queue the user; or refuse."""
    _may_act_for(caller, user, write=True)
    body = require_fields(body, set(), {"server_name", "flavour", "booking"})
    server_name = body.get("server_name", "")
    flavour = body.get("flavour", "jupyter")
    if not isinstance(server_name, str) or len(server_name) > 255:
        raise Invalid("'server_name' must be text of at most 255 characters")
    if not isinstance(flavour, str) or flavour not in FLAVOURS:
        raise Invalid(f"'flavour' must be one of {', '.join(FLAVOURS)}")
    choice = parse_choice(body)
    level = await _level(ctx, caller, user)
    async with ctx.engine.connect() as conn:
        # a chosen booking that is not the user's or not on now is refused here, before anything is written
        booking = await _chosen_booking(conn, user, now, choice)
        pool_name = booking.pool_name if booking is not None else ctx.walk_in_pool
    if level is not None and flavour not in level.flavours:
        raise Forbidden(f"Your account level ({level.name}) cannot start {flavour}; it may start "
                        f"{', '.join(level.flavours) or 'nothing'}.")
    if pool_name is None:
        raise Forbidden(decide(level, has_booking=False, walk_in_pool=None, room_now=False,
                               waiting_ahead=0, holds_offer=False).reason)
    async with locked_pool(ctx.engine, ctx.cache, pool_name) as change:
        conn, pool = change.conn, change.pool
        if pool is None:
            raise Forbidden(f"The pool '{pool_name}' for servers without a booking does not exist; ask an admin.")
        # asked again meanwhile (the spawner retried)? answered under the lock, so only once
        if (known := await _running_session(conn, user, server_name)) is not None:
            row, package = known
            change.unchanged()
            return 200, session_json(row, row.pool_name, package, row.booking_end, now)
        decision, booking, _, template, mine = await _situation(ctx, conn, level, user, now, change.timeline,
                                                                choice)
        if booking is not None and (preparing := await still_preparing(conn, booking)) is not None:
            raise Conflict(preparing)  # its data is not there yet: a server now would miss it
        if decision.kind == "none":
            raise Forbidden(("You chose the walk-in, but: " if choice == WALK_IN else "") + decision.reason)
        if decision.kind == "queue":
            if mine is None:
                need = footprint(template)
                await change.insert(orm.QueueEntry, user=user, package_id=template.id, millicores=need.millicores,
                                    mib=need.mib, state="waiting", joined=now)
            else:
                change.unchanged()
            # commit the queue entry, then answer 409: the refusal is the answer, the place is kept
            answer = Conflict(decision.reason, queue={"pool": pool.name, "position": decision.position})
        else:
            answer = None
            if booking is not None:
                values = dict(booking_id=booking.id, package_id=booking.package_id,
                              millicores=booking.millicores, mib=booking.mib)
            else:
                need = footprint(template)
                values = dict(booking_id=None, package_id=template.id, millicores=need.millicores, mib=need.mib)
                if mine is not None:
                    await change.update(orm.QueueEntry, orm.QueueEntry.id == mine.id, state="claimed")
            session = await change.insert(orm.Session, user=user, server_name=server_name, flavour=flavour,
                                          state="running", started=now, stop_reason="", **values)
            if booking is not None:  # its booking is RUNNING from its first server on
                await advance(change, booking, RUNNING, now=now, cause=f"server '{server_name}' started", by=caller.name)
            row, package = await _load_session(conn, session.id)
    if answer is not None:
        raise answer
    return 201, session_json(row, row.pool_name, package, row.booking_end, now)


async def still_preparing(conn, booking) -> str | None:
    """Why a server cannot start under `booking` yet: its preparation steps are not all
    done (it is WAITING, RUNNING or RELEASING once they are); None if it can."""
    if booking.phase not in (ACCEPTED, PREPARING):
        return None
    steps = (await conn.execute(select(orm.PreparationStep.position, orm.PreparationStep.kind,
                                       orm.PreparationStep.state)
                                .where(orm.PreparationStep.booking_id == booking.id)
                                .order_by(orm.PreparationStep.position))).all()
    left = next((s for s in steps if s.state != COMPLETED), None)
    if left is None:
        return None
    return (f"Your booking {booking.id} is still being prepared: step {left.position + 1} of {len(steps)} "
            f"({left.kind}) is {left.state}. Your server can start once its preparation is done.")


async def stop_session(ctx: Context, caller: Caller, session_id: int, now: datetime, reason: str = "stopped") -> dict:
    if not (caller.admin or caller.sessions):
        raise Forbidden("Only the spawner (scope 'custom:booking:sessions') and booking admins can stop sessions.")
    async with ctx.engine.connect() as conn:
        row, _ = await _load_session(conn, session_id)
    async with locked_pool(ctx.engine, ctx.cache, row.pool_name) as change:
        conn = change.conn
        row, package = await _load_session(conn, session_id)
        if row.state == "running":
            await change.update(orm.Session, orm.Session.id == session_id, state="stopped", stopped=now,
                                stop_reason=reason)
            row, package = await _load_session(conn, session_id)
            await offer_places(ctx, change, now)
        else:
            change.unchanged()
    return session_json(row, row.pool_name, package, row.booking_end, now)


async def offer_places(ctx: Context, change, now: datetime) -> int:
    """Under the pool's lock (a store.PoolChange): end the holds that ran out, then offer
    free places to the head of the queue, in order, each kept for `ctx.hold` for its user.
    The change's timeline is kept in step, so it answers what is free now. Returns how many."""
    conn, pool = change.conn, change.pool
    entries = (await conn.execute(
        select(orm.QueueEntry.id, orm.QueueEntry.state, orm.QueueEntry.hold_until, orm.QueueEntry.millicores,
               orm.QueueEntry.mib, orm.QueueEntry.user)
        .where(orm.QueueEntry.pool_id == pool.id, orm.QueueEntry.state.in_(OPEN)).order_by(orm.QueueEntry.id)
    )).all()
    for entry in entries:
        if entry.state == "offered" and entry.hold_until <= now:
            await change.update(orm.QueueEntry, orm.QueueEntry.id == entry.id, state="expired")
    free = change.timeline.free_at(epoch(now))
    offered = 0
    for entry in entries:
        if entry.state != "waiting":
            continue
        need = Resources(entry.millicores, entry.mib)
        if not need.fits_in(free):
            break  # first come, first served: nobody overtakes the head
        free = free - need
        await change.update(orm.QueueEntry, orm.QueueEntry.id == entry.id, state="offered", offered=now,
                            hold_until=now + ctx.hold)
        await notices.queue_place(conn, entry.user, entry.id, pool.name, now + ctx.hold, now)
        offered += 1
    return offered


async def leave_queue(ctx: Context, caller: Caller, user: str, now: datetime) -> dict:
    _may_act_for(caller, user, write=False)
    async with ctx.engine.connect() as conn:
        pool = await _walk_in_pool(conn, ctx)
    if pool is None:
        raise NotFound("There is no walk-in queue.")
    async with locked_pool(ctx.engine, ctx.cache, pool.name) as change:
        left = await change.update(orm.QueueEntry, orm.QueueEntry.user == user, orm.QueueEntry.state.in_(OPEN),
                                   state="left")
        if not left:
            raise NotFound(f"'{user}' is not in the queue.")
        await offer_places(ctx, change, now)
    return {"user": user, "queue": None}
