"""Offer sets: "find me a slot" (seed 004, the IVOA ExecutionBroker's offers). Each offer is
a booking held in phase OFFERED until it `expires`, so it counts against capacity like a
booking, under the same pool locks: offer sets and bookings never overcommit between them.
Accepting one makes it a booking (ACCEPTED) and rejects its siblings at once, freeing what
they held; an expired one can no longer be accepted."""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import func, insert, select

from .. import orm
from ..domain import (
    state_of,
    ACCEPTED,
    EXPIRED,
    OFFERED,
    REJECTED,
    Caller,
    Conflict,
    Invalid,
    NotFound,
    epoch,
    format_time,
    from_epoch,
    no_such_pool,
)
from ..engine.offers import OfferRequest, search
from ..steps import parse_steps, preparation_time
from ..store import locked_pools
from . import Context, footprint, package_named
from .bookings import booking_json
from .offer_request import apply_level, engine_windows, parse_offer_request
from .phases import expire_offers, history, move, record
from .preparation import add_steps

GRAIN = 60  # offers start on whole minutes


def iso_duration(seconds: int) -> str:
    """PT2H30M: an ISO 8601 duration in hours, minutes and seconds."""
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return "PT" + "".join(f"{n}{unit}" for n, unit in ((hours, "H"), (minutes, "M"), (secs, "S")) if n) if seconds else "PT0S"


def offer_json(row, pool_name: str, package, now: datetime) -> dict:
    seconds = int((row.end - row.start).total_seconds())
    return {**booking_json(row, pool_name, package, now), "index": row.offer_index, "duration": iso_duration(seconds)}


async def _reserved_pools(conn, names: list[str] | None) -> list[str]:
    rows = (await conn.execute(select(orm.Pool.name, orm.Pool.kind))).all()
    kinds = {r.name: r.kind for r in rows}
    if names is None:
        return sorted(name for name, kind in kinds.items() if kind == "reserved")
    for name in names:
        if name not in kinds:
            raise no_such_pool(name)
        if kinds[name] != "reserved":
            raise Invalid(f"Pool '{name}' is a shared (walk-in) pool; offers come from reserved pools only.")
    return names


def _window_text(start: datetime, end: datetime) -> str:
    return f"{format_time(start)} to {format_time(end)}"


async def create_offer_set(ctx: Context, caller: Caller, body, now: datetime) -> dict:
    parsed = parse_offer_request(body, max_windows=ctx.max_offer_windows, default_count=ctx.offers,
                                 max_resources=ctx.max_booking, max_window=ctx.max_query_span)
    package = None
    async with ctx.engine.connect() as conn:
        if parsed.package is not None:
            package = await package_named(conn, parsed.package)
            parsed.need = parsed.most = footprint(package)
        pool_names = await _reserved_pools(conn, parsed.pools)
    apply_level(parsed, ctx.policy.rules(caller.level), caller, now)
    steps = parse_steps(body.get("steps"), ctx.workers)
    expires = now + ctx.offer_hold
    if not pool_names:
        async with ctx.engine.begin() as conn:
            return await _record_set(conn, caller, body, now, expires, [], parsed.messages + [
                "There is no reserved pool to make offers from."], package, {})
    # an offer never starts before its preparation steps can be done (they run in turn)
    ready = epoch(now) + int(preparation_time(steps).total_seconds())
    start_now = ready + (-ready) % GRAIN
    async with locked_pools(ctx.engine, ctx.cache, pool_names) as changes:
        by_pool = {}
        for change in changes:
            await expire_offers(change, now)  # what expired offers held is free for this set
            by_pool[change.pool.name] = change
        if not caller.admin:
            await _check_held_sets(changes[0].conn, caller.name, now, ctx.max_held_offer_sets)
        offers, empty = [], {}
        if parsed.windows:
            answer = search({name: change.timeline for name, change in by_pool.items()}, OfferRequest(
                need=parsed.need, most=parsed.most, windows=engine_windows(parsed),
                shortest=int(parsed.shortest.total_seconds()), longest=int(parsed.longest.total_seconds()),
                count=parsed.count, grain=GRAIN, earliest=start_now,
                horizon=int(ctx.alternatives_horizon.total_seconds())))
            offers, empty = answer.offers, answer.empty
        messages = list(parsed.messages)
        if steps:
            messages.append(f"Offers start at {format_time(from_epoch(start_now))} or later: the preparation steps "
                            f"are quoted {int(preparation_time(steps).total_seconds())} s in all.")
        for index, nearest in sorted(empty.items()):
            start, end = parsed.windows[index]
            number = parsed.numbers[index]
            if nearest is None:
                messages.append(f"Nothing fits starting in window {number} ({_window_text(start, end)}), nor in the "
                                f"{ctx.alternatives_horizon.days} days after it.")
            else:
                messages.append(f"Nothing fits starting in window {number} ({_window_text(start, end)}); the nearest "
                                f"later start that fits is {format_time(from_epoch(nearest[1]))} in pool '{nearest[0]}'.")
        if offers:
            messages.append(f"{len(offers)} offer(s), held until {format_time(expires)}; accept one with "
                            f"POST /offersets/{{id}}/offers/{{n}} and {{\"phase\": \"ACCEPTED\"}}.")
        return await _record_set(changes[0].conn, caller, body, now, expires, offers, messages, package, by_pool,
                                 parsed.numbers, steps=steps)


async def _check_held_sets(conn, user: str, now: datetime, most: int) -> None:
    """Refuse a new set while the user holds unexpired offers of `most` sets (counted under
    the pools' locks, so racing requests for the same pools cannot both pass)."""
    held = (await conn.execute(
        select(func.count(func.distinct(orm.Booking.offer_set_id))).where(
            orm.Booking.user == user, orm.Booking.state == "offered", orm.Booking.expires > now))).scalar_one()
    if held >= most:
        raise Conflict(f"You hold the offers of {held} offer set(s), the most at once; accept or reject one "
                       f"(POST /offersets/{{id}}/offers/{{n}}), or wait until they expire, then ask again.")


async def _record_set(conn, caller, body, now, expires, offers, messages, package, by_pool, numbers=(),
                      steps=()) -> dict:
    set_id = (await conn.execute(insert(orm.OfferSet).values(
        user=caller.name, created=now, created_by=caller.name, expires=expires, request=json.dumps(body),
        result="YES" if offers else "NO", messages=json.dumps(messages)).returning(orm.OfferSet.id))).scalar_one()
    answer = []
    for n, offer in enumerate(offers):
        values = dict(user=caller.name, package_id=None if package is None else package.id,
                      start=from_epoch(offer.start), end=from_epoch(offer.start + offer.duration),
                      millicores=offer.resources.millicores, mib=offer.resources.mib, state="offered", phase=OFFERED,
                      created=now, created_by=caller.name, cancelled=None, offer_set_id=set_id, offer_index=n,
                      expires=expires)
        row = await by_pool[offer.pool].insert(orm.Booking, **values)
        await record(conn, row.id, None, OFFERED, now, f"offered in set {set_id}, for window {numbers[offer.window]}",
                     caller.name)
        await add_steps(conn, row.id, list(steps), values["start"])  # they run only if this offer is accepted
        answer.append(offer_json(orm.Booking(id=row.id, **values), offer.pool, package, now))
    return {"id": set_id, "user": caller.name, "created": format_time(now), "expires": format_time(expires),
            "result": "YES" if offers else "NO", "messages": messages, "offers": answer}


async def _load_set(conn, caller: Caller, set_id: int):
    row = (await conn.execute(select(orm.OfferSet).where(orm.OfferSet.id == set_id))).first()
    if row is None or (row.user != caller.name and not caller.admin):
        raise NotFound(f"There is no offer set {set_id}.")  # someone else's: as if it did not exist
    return row


async def _offers(conn, set_id: int) -> list:
    return (await conn.execute(
        select(orm.Booking, orm.Pool.name.label("pool_name"))
        .join(orm.Pool, orm.Pool.id == orm.Booking.pool_id)
        .where(orm.Booking.offer_set_id == set_id).order_by(orm.Booking.offer_index))).all()


async def _set_json(conn, row, now: datetime) -> dict:
    offers = await _offers(conn, row.id)
    packages = {}
    for offer in offers:
        if offer.package_id is not None and offer.package_id not in packages:
            packages[offer.package_id] = (await conn.execute(
                select(orm.PackageTemplate).where(orm.PackageTemplate.id == offer.package_id))).first()
    return {"id": row.id, "user": row.user, "created": format_time(row.created), "expires": format_time(row.expires),
            "result": row.result, "messages": json.loads(row.messages),
            "offers": [offer_json(o, o.pool_name, packages.get(o.package_id), now) for o in offers]}


async def get_offer_set(ctx: Context, caller: Caller, set_id: int, now: datetime) -> dict:
    async with ctx.engine.connect() as conn:
        return await _set_json(conn, await _load_set(conn, caller, set_id), now)


def parse_update(body) -> str:
    """{"phase": "ACCEPTED"|"REJECTED"}, or the ExecutionBroker's update form
    {"kind": "uri:enum-value-update", "path": "/phase", "value": ...}."""
    if not isinstance(body, dict):
        raise Invalid("The request body must be a JSON object")
    if set(body) == {"phase"}:
        phase = body["phase"]
    elif set(body) == {"kind", "path", "value"} and body["kind"] == "uri:enum-value-update" and body["path"] == "/phase":
        phase = body["value"]
    else:
        raise Invalid('Send {"phase": "ACCEPTED"} (or "REJECTED"), or {"kind": "uri:enum-value-update", '
                      '"path": "/phase", "value": "ACCEPTED"}')
    if phase not in (ACCEPTED, REJECTED):
        raise Invalid(f"An offer can be set to ACCEPTED or REJECTED, not {str(phase)[:40]!r}")
    return phase


async def update_offer(ctx: Context, caller: Caller, set_id: int, n: int, body, now: datetime) -> dict:
    """Accept offer `n` (it becomes a booking; its siblings are rejected at once) or reject it.
    Under the locks of all the set's pools, so two accepts of one set resolve to one."""
    target = parse_update(body)
    async with ctx.engine.connect() as conn:
        await _load_set(conn, caller, set_id)
        pools = {o.pool_name for o in await _offers(conn, set_id)}
    if not pools:
        raise NotFound(f"Offer set {set_id} has no offers (its answer was NO).")
    async with locked_pools(ctx.engine, ctx.cache, pools) as changes:
        conn = changes[0].conn
        by_pool = {change.pool.name: change for change in changes}
        for change in changes:
            await expire_offers(change, now)
        offers = await _offers(conn, set_id)  # as of the locks
        if not 0 <= n < len(offers):
            raise NotFound(f"Offer set {set_id} has offers 0 to {len(offers) - 1}; there is no offer {n}.")
        offer = offers[n]
        if target == ACCEPTED:
            taken = [o for o in offers if state_of(o.phase) == "booked"]  # a cancelled offer took nothing
            if taken:
                raise Conflict(f"Offer {taken[0].offer_index} of set {set_id} was accepted already "
                               f"(booking {taken[0].id}); the others were rejected.")
            if offer.phase == EXPIRED:
                raise Conflict(f"Offer {n} of set {set_id} expired at {format_time(offer.expires)} and can no longer "
                               f"be accepted; ask for new offers (POST /offersets).")
            await move(by_pool[offer.pool_name], offer, ACCEPTED, now=now, cause=f"accepted by {caller.name}",
                       by=caller.name, expires=None)
            for sibling in offers:
                if sibling.id != offer.id and sibling.phase == OFFERED:
                    await move(by_pool[sibling.pool_name], sibling, REJECTED, now=now, by=caller.name,
                               cause=f"offer {n} of the set was accepted")
        else:
            await move(by_pool[offer.pool_name], offer, REJECTED, now=now, cause=f"declined by {caller.name}",
                       by=caller.name)
        row = (await _offers(conn, set_id))[n]
        package = None
        if row.package_id is not None:
            package = (await conn.execute(select(orm.PackageTemplate).where(
                orm.PackageTemplate.id == row.package_id))).first()
        return {**offer_json(row, row.pool_name, package, now), "transitions": await history(conn, row.id)}

