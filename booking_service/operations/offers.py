"""Offer sets: "find me a slot" (seed 004, the IVOA ExecutionBroker's offers). Each offer is
a booking held in phase OFFERED until it `expires`, so it counts against capacity like a
booking, under the same pool locks: offer sets and bookings never overcommit between them.
Accepting one makes it a booking (ACCEPTED) and rejects its siblings at once, freeing what
they held; an expired one can no longer be accepted."""

from __future__ import annotations

import json
from contextlib import asynccontextmanager
from datetime import datetime, timedelta

from sqlalchemy import insert, select

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
    format_time,
    from_epoch,
    no_such_pool,
)
from ..steps import parse_steps, preparation_time
from ..store import locked_pools
from . import Context, footprint, package_named, platform_offers
from .bookings import booking_json
from .offer_request import apply_level, iso_duration, parse_offer_request
from .phases import expire_offers, history, move, record
from .preparation import add_steps


def offer_json(row, pool_name: str, package, now: datetime, platform: str | None = None) -> dict:
    seconds = int((row.end - row.start).total_seconds())
    answer = {**booking_json(row, pool_name, package, now), "index": row.offer_index, "duration": iso_duration(seconds)}
    if platform is not None:
        answer["platform"] = platform
    return answer


def _local_platform(ctx: Context, pool: str) -> str | None:
    return next((p.name for p in ctx.platforms if not p.remote and p.owns(pool)), None)


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
    asked = platform_offers.choose(ctx, parsed)
    local = [p for p in asked if not p.remote]
    remote = [p for p in asked if p.remote]
    async with ctx.engine.connect() as conn:
        if parsed.package is not None:
            package = await package_named(conn, parsed.package)
            parsed.need = parsed.most = footprint(package)
        pool_names = await _reserved_pools(conn, parsed.pools) if local else []
        pool_names = [name for name in pool_names if any(p.owns(name) for p in local)]
        if remote and not caller.admin:  # before anything is held elsewhere
            await _check_held_sets(conn, caller.name, now, ctx.max_held_offer_sets)
    apply_level(parsed, ctx.policy.rules(caller.level), caller, now)
    steps = parse_steps(body.get("steps"), ctx.workers)
    expires = now + ctx.offer_hold
    if not pool_names and not remote:
        async with ctx.engine.begin() as conn:
            answer = await _record_set(conn, caller, body, now, expires, [], parsed.messages + [
                "There is no reserved pool to make offers from."], package, {})
            return {**answer, "nearest": None}
    # an offer never starts before its preparation steps can be done (they run in turn, on
    # this service's workers: with steps, other platforms are not asked)
    # ... and never before the steps can be done if it is accepted at the last moment of
    # its hold: an offer's hold never eats into its preparation
    preparation = preparation_time(steps) + (ctx.offer_hold if steps else timedelta(0))
    skipped = [p.name for p in remote] if steps else []
    remote = [] if steps else remote
    # Other platforms are asked first, outside any lock here: they hold what they offer.
    answers = await platform_offers.ask(remote, parsed, now, caller.name) if parsed.windows else []
    held = [o for a in answers for o in a.offers]
    try:
        async with _locked(ctx, pool_names) as (conn, changes):
            by_pool = {}
            for change in changes:
                await expire_offers(change, now)  # what expired offers held is free for this set
                by_pool[change.pool.name] = change
            if not caller.admin:
                await _check_held_sets(conn, caller.name, now, ctx.max_held_offer_sets)
            timelines = {name: change.timeline for name, change in by_pool.items()}
            local_answers = [p.answer(parsed, timelines, now=now + preparation) for p in local] if parsed.windows else []
            offers, left = platform_offers.merge(local_answers + answers, parsed.count)
            messages = list(parsed.messages)
            for answer in answers:
                messages += answer.messages
            if steps:
                ready = now + preparation
                messages.append(f"Offers start at {format_time(ready)} or later: the preparation steps are quoted "
                                f"{int(preparation_time(steps).total_seconds())} s in all, after the offers' hold "
                                f"of {int(ctx.offer_hold.total_seconds())} s.")
            if skipped:
                messages.append(f"Preparation steps run on this service's workers: platform(s) {', '.join(skipped)} "
                                f"were not asked.")
            messages += _empty_messages(ctx, parsed, local_answers, offers, several=len(asked) > 1)
            if offers:
                messages.append(f"{len(offers)} offer(s), held until {format_time(expires)}; accept one with "
                                f"POST /offersets/{{id}}/offers/{{n}} and {{\"phase\": \"ACCEPTED\"}}.")
            result = await _record_set(conn, caller, body, now, expires, offers, messages, package, by_pool,
                                       parsed.numbers, steps=steps)
            result["nearest"] = _nearest_start(offers, local_answers)
    except BaseException:
        await platform_offers.release(ctx, held)  # nothing was recorded: nothing stays held
        raise
    await platform_offers.release(ctx, left)
    return result


def _nearest_start(offers, local_answers) -> str | None:
    """For a NO: the earliest of the windows' nearest later starts that fit on this
    service's pools (what a client can ask again from); None when there are offers or
    nothing fits within the horizon."""
    starts = [found[1] for a in local_answers for found in a.empty.values() if found is not None]
    return None if offers or not starts else format_time(from_epoch(min(starts)))


@asynccontextmanager
async def _locked(ctx: Context, pool_names: list[str]):
    """(connection, PoolChanges) of one write transaction holding the pools' locks; with no
    local pool (only other platforms asked), a plain write transaction."""
    if pool_names:
        async with locked_pools(ctx.engine, ctx.cache, pool_names) as changes:
            yield changes[0].conn, changes
    else:
        async with ctx.engine.begin() as conn:
            yield conn, []


def _empty_messages(ctx: Context, parsed, local_answers, offers, *, several: bool) -> list[str]:
    """For each window in which no platform offers anything, what the local search found:
    nothing, or the nearest later start that fits."""
    messages = []
    where = " on this service's pools" if several else ""
    for index, (start, end) in enumerate(parsed.windows):
        if any(o.window == index for o in offers) or not local_answers:
            continue
        empties = [a.empty for a in local_answers]
        if not all(index in e for e in empties):
            continue
        found = [e[index] for e in empties if e[index] is not None]
        nearest = min(found, key=lambda n: (n[1], n[0])) if found else None
        number = parsed.numbers[index]
        if nearest is None:
            messages.append(f"Nothing fits starting in window {number} ({_window_text(start, end)}){where}, nor in "
                            f"the {ctx.alternatives_horizon.days} days after it.")
        else:
            messages.append(f"Nothing fits starting in window {number} ({_window_text(start, end)}){where}; the "
                            f"nearest later start that fits is {format_time(from_epoch(nearest[1]))} in pool "
                            f"'{nearest[0]}'.")
    return messages


async def _check_held_sets(conn, user: str, now: datetime, most: int) -> None:
    """Refuse a new set while the user holds unexpired offers of `most` sets (counted under
    the pools' locks, so racing requests for the same pools cannot both pass)."""
    held = set((await conn.execute(
        select(orm.Booking.offer_set_id).distinct().where(
            orm.Booking.user == user, orm.Booking.state == "offered", orm.Booking.expires > now))).scalars())
    # offers held on other platforms count as well (a set may have only those)
    held = len(held | await platform_offers.held_sets(conn, user, now))
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
        if offer.ref is not None:  # held on its platform: the set records where
            answer.append(await platform_offers.keep_offer(
                conn, set_id, n, offer, user=caller.name, package=package, now=now, expires=expires,
                cause=f"offered in set {set_id}, for window {numbers[offer.window]}, by platform '{offer.platform}'"))
            continue
        values = dict(user=caller.name, package_id=None if package is None else package.id,
                      start=from_epoch(offer.start), end=from_epoch(offer.start + offer.duration),
                      millicores=offer.resources.millicores, mib=offer.resources.mib, state="offered", phase=OFFERED,
                      created=now, created_by=caller.name, cancelled=None, offer_set_id=set_id, offer_index=n,
                      expires=expires)
        row = await by_pool[offer.pool].insert(orm.Booking, **values)
        await record(conn, row.id, None, OFFERED, now, f"offered in set {set_id}, for window {numbers[offer.window]}",
                     caller.name)
        await add_steps(conn, row.id, list(steps), values["start"])  # they run only if this offer is accepted
        answer.append(offer_json(orm.Booking(id=row.id, **values), offer.pool, package, now, offer.platform))
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


async def _set_json(ctx: Context, conn, row, now: datetime) -> dict:
    offers = await _offers(conn, row.id)
    packages = {}
    for offer in offers:
        if offer.package_id is not None and offer.package_id not in packages:
            packages[offer.package_id] = (await conn.execute(
                select(orm.PackageTemplate).where(orm.PackageTemplate.id == offer.package_id))).first()
    return {"id": row.id, "user": row.user, "created": format_time(row.created), "expires": format_time(row.expires),
            "result": row.result, "messages": json.loads(row.messages),
            "offers": sorted([offer_json(o, o.pool_name, packages.get(o.package_id), now,
                                         _local_platform(ctx, o.pool_name)) for o in offers]
                             + [platform_offers.offer_json(r, now) for r in await platform_offers.rows_of(conn, row.id)],
                             key=lambda o: o["index"])}


async def get_offer_set(ctx: Context, caller: Caller, set_id: int, now: datetime) -> dict:
    async with ctx.engine.connect() as conn:
        return await _set_json(ctx, conn, await _load_set(conn, caller, set_id), now)


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
    Under the locks of all the set's pools, so two accepts of one set resolve to one; an
    offer held on another platform is accepted there (platform_offers.accept)."""
    target = parse_update(body)
    async with ctx.engine.connect() as conn:
        await _load_set(conn, caller, set_id)
        seen = await _offers(conn, set_id)
        pools = {o.pool_name for o in seen}
        elsewhere = {r.offer_index: r for r in await platform_offers.rows_of(conn, set_id)}
    if not pools and not elsewhere:
        raise NotFound(f"Offer set {set_id} has no offers (its answer was NO).")
    if n not in elsewhere and not pools:
        raise NotFound(f"Offer set {set_id} has offers 0 to {len(elsewhere) - 1}; there is no offer {n}.")
    if any(o.state == "offered" and o.expires <= now for o in seen):
        # Expire them in a transaction of its own, so that the 409 the accept then gets
        # (it rolls its own transaction back) leaves them EXPIRED, not OFFERED until a sweep.
        async with locked_pools(ctx.engine, ctx.cache, pools) as changes:
            for change in changes:
                await expire_offers(change, now)
    if n in elsewhere:
        if target == REJECTED:
            return await platform_offers.decline(ctx, caller, set_id, elsewhere[n], now)

        async def reject_local(moment, keep):
            await reject_local_offers(ctx, set_id, keep, moment, by=caller.name)
        return await platform_offers.accept(ctx, caller, set_id, elsewhere[n], now, reject_local)
    gone = []
    async with locked_pools(ctx.engine, ctx.cache, pools) as changes:
        conn = changes[0].conn
        by_pool = {change.pool.name: change for change in changes}
        for change in changes:
            await expire_offers(change, now)
        if elsewhere:
            await platform_offers.lock_set(conn, set_id)  # accepts of remote offers take turns with this
        offers = await _offers(conn, set_id)  # as of the locks
        count = len(offers) + len(elsewhere)
        offer = next((o for o in offers if o.offer_index == n), None)
        if offer is None:
            raise NotFound(f"Offer set {set_id} has offers 0 to {count - 1}; there is no offer {n}.")
        if target == ACCEPTED:
            taken = [o for o in offers if state_of(o.phase) == "booked"]  # a cancelled offer took nothing
            if taken:
                raise Conflict(f"Offer {taken[0].offer_index} of set {set_id} was accepted already "
                               f"(booking {taken[0].id}); the others were rejected.")
            remote_taken = [r for r in await platform_offers.rows_of(conn, set_id)
                            if r.phase in (platform_offers.ACCEPTING, ACCEPTED)]
            if remote_taken:
                raise Conflict(platform_offers.taken_text(remote_taken[0]))
            if offer.phase == EXPIRED:
                raise Conflict(f"Offer {n} of set {set_id} expired at {format_time(offer.expires)} and can no longer "
                               f"be accepted; ask for new offers (POST /offersets).")
            await _check_preparation_left(conn, offer, now)
            await move(by_pool[offer.pool_name], offer, ACCEPTED, now=now, cause=f"accepted by {caller.name}",
                       by=caller.name, expires=None)
            for sibling in offers:
                if sibling.id != offer.id and sibling.phase == OFFERED:
                    await move(by_pool[sibling.pool_name], sibling, REJECTED, now=now, by=caller.name,
                               cause=f"offer {n} of the set was accepted")
            if elsewhere:
                gone = await platform_offers.reject_siblings(conn, set_id, None, now=now, by=caller.name,
                                                             cause=f"offer {n} of the set was accepted")
        else:
            await move(by_pool[offer.pool_name], offer, REJECTED, now=now, cause=f"declined by {caller.name}",
                       by=caller.name)
        row = next(o for o in await _offers(conn, set_id) if o.offer_index == n)
        package = None
        if row.package_id is not None:
            package = (await conn.execute(select(orm.PackageTemplate).where(
                orm.PackageTemplate.id == row.package_id))).first()
        answer = {**offer_json(row, row.pool_name, package, now, _local_platform(ctx, row.pool_name)),
                  "transitions": await history(conn, row.id)}
    await platform_offers.release(ctx, gone)
    return answer


async def reject_local_offers(ctx: Context, set_id: int, keep: int, now: datetime, *, by: str) -> None:
    """The set's local offers still OFFERED become REJECTED (offer `keep`, held on another
    platform, was accepted), under their pools' locks; an expired one stays EXPIRED."""
    async with ctx.engine.connect() as conn:
        pools = {o.pool_name for o in await _offers(conn, set_id)}
    if not pools:
        return
    async with locked_pools(ctx.engine, ctx.cache, pools) as changes:
        by_pool = {change.pool.name: change for change in changes}
        for change in changes:
            await expire_offers(change, now)
        for sibling in await _offers(changes[0].conn, set_id):
            if sibling.phase == OFFERED:
                await move(by_pool[sibling.pool_name], sibling, REJECTED, now=now, by=by,
                           cause=f"offer {keep} of the set was accepted")


async def _check_preparation_left(conn, offer, now: datetime) -> None:
    """An offer's steps must still fit before its start when it is accepted (its first
    step due no earlier than now), else a 409. Offers with steps start after their hold
    plus their quotes, so an accept within the hold always passes: this is the guard that
    says so, should the search ever change."""
    first = (await conn.execute(select(orm.PreparationStep.due).where(
        orm.PreparationStep.booking_id == offer.id).order_by(orm.PreparationStep.position).limit(1))).scalar()
    if first is not None and first < now:
        raise Conflict(f"Offer {offer.offer_index} of set {offer.offer_set_id} starts at {format_time(offer.start)}, "
                       f"too soon for its preparation steps, which had to begin by {format_time(first)}; ask for "
                       f"new offers (POST /offersets).")
