"""The offer search across platforms (seed 003): which platforms a request asks, asking the
remote ones at once (outside any lock: they hold their offers there), merging every
platform's offers in the one order (earliest, longest, largest; distinct; at most
`count`), what an offer set records of offers held elsewhere (orm.PlatformOffer), and
accepting, releasing and expiring those."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import datetime, timedelta

from sqlalchemy import insert, select, update

from .. import orm
from ..domain import (
    ACCEPTED,
    EXPIRED,
    OFFERED,
    REJECTED,
    BookingError,
    Conflict,
    Invalid,
    format_time,
    from_epoch,
    parse_time,
    resources_json,
    state_of,
)
from ..engine import Resources
from ..platforms import Platform, PlatformAnswer, PlatformError, PlatformOffer
from .offer_request import iso_duration

log = logging.getLogger("booking_service")
ACCEPTING = "ACCEPTING"  # a platform is being asked to book it; shown as OFFERED
CLAIMED = "accepting_since"  # in `remote` while ACCEPTING: when the accept claimed it


def platforms_json(ctx) -> dict:
    return {"platforms": [p.describe() for p in ctx.platforms]}


def choose(ctx, parsed) -> list[Platform]:
    """The platforms to ask: those named in `platforms` (400 for a name not configured),
    else all; a request naming `pools` and no platforms asks the local ones only (pool
    names are this service's)."""
    by_name = {p.name: p for p in ctx.platforms}
    if parsed.platforms is not None:
        unknown = [name for name in parsed.platforms if name not in by_name]
        if unknown:
            raise Invalid(f"There is no platform named '{unknown[0]}'; GET /platforms lists them "
                          f"({', '.join(sorted(by_name))}).")
        return [by_name[name] for name in parsed.platforms]
    if parsed.pools is not None:
        return [p for p in ctx.platforms if not p.remote]
    return list(ctx.platforms)


async def _ask(platform: Platform, parsed, now: datetime, user: str) -> PlatformAnswer:
    try:
        return await platform.can_i_do_this(parsed, now=now, user=user)
    except PlatformError as e:
        log.warning("%s", e)
        return PlatformAnswer(platform.name, messages=[str(e)])
    except Exception:  # a plugin's bug must not fail the search: that platform says NO
        log.exception("Platform %s failed to answer", platform.name)
        return PlatformAnswer(platform.name, messages=[
            f"Platform '{platform.name}' failed to answer; this is a bug, and it has been logged."])


async def ask(platforms: list[Platform], parsed, now: datetime, user: str) -> list[PlatformAnswer]:
    """Every remote platform at once; each failure is that platform's NO with a message."""
    return list(await asyncio.gather(*(_ask(p, parsed, now, user) for p in platforms)))


def merge(answers: list[PlatformAnswer], count: int) -> tuple[list[PlatformOffer], list[PlatformOffer]]:
    """(the best `count` distinct offers of all the platforms, best first; the held ones left out)."""
    offers = sorted((o for a in answers for o in a.offers), key=PlatformOffer.key)
    chosen, seen, left = [], set(), []
    for offer in offers:
        same = (offer.platform, offer.pool, offer.start, offer.duration, offer.resources)
        if same in seen or len(chosen) >= count:
            left.append(offer)
        else:
            seen.add(same)
            chosen.append(offer)
    return chosen, [o for o in left if o.ref is not None]


async def release(ctx, offers) -> None:
    """Give up held offers on their platforms (PlatformOffers or rows), best effort: each
    hold also lapses there by itself."""
    by_name = {p.name: p for p in ctx.platforms}

    async def one(offer):
        platform = by_name.get(offer.platform)
        ref = offer.ref if isinstance(offer.ref, dict) else json.loads(offer.ref)
        if platform is None or not platform.remote:
            return
        try:
            await platform.release(ref)
        except (PlatformError, BookingError) as e:
            log.warning("Could not release an offer on platform %s (%s): %s", offer.platform, ref, e)
    await asyncio.gather(*(one(o) for o in offers))


def _transition(before, after, now: datetime, cause: str, by: str) -> dict:
    return {"from": before, "to": after, "at": format_time(now), "cause": cause, "by": by}


async def keep_offer(conn, set_id: int, n: int, offer: PlatformOffer, *, user: str, package, now: datetime,
                     expires: datetime, cause: str) -> dict:
    """Write what the set knows of a remote offer; its JSON."""
    until = expires if offer.expires is None else min(expires, from_epoch(offer.expires))
    values = dict(offer_set_id=set_id, offer_index=n, platform=offer.platform, pool=offer.pool, user=user,
                  package=None if package is None else package.name, start=from_epoch(offer.start),
                  end=from_epoch(offer.start + offer.duration), millicores=offer.resources.millicores,
                  mib=offer.resources.mib, phase=OFFERED, created=now, expires=until, ref=json.dumps(offer.ref),
                  remote=None, history=json.dumps([_transition(None, OFFERED, now, cause, user)]))
    row_id = (await conn.execute(insert(orm.PlatformOffer).values(**values).returning(orm.PlatformOffer.id))
              ).scalar_one()
    return offer_json(orm.PlatformOffer(id=row_id, **values), now)


async def held_sets(conn, user: str, now: datetime) -> set:
    """The ids of the user's offer sets with an unexpired offer held on another platform."""
    return set((await conn.execute(select(orm.PlatformOffer.offer_set_id).distinct().where(
        orm.PlatformOffer.user == user, orm.PlatformOffer.phase == OFFERED, orm.PlatformOffer.expires > now)))
        .scalars())


def shown_phase(row, now: datetime) -> str:
    if row.phase == ACCEPTING:
        return OFFERED
    if row.phase == OFFERED and row.expires <= now:
        return EXPIRED  # the sweep has not come by yet; it can no longer be accepted
    return row.phase


def offer_json(row, now: datetime, *, history: bool = False) -> dict:
    phase = shown_phase(row, now)
    seconds = int((row.end - row.start).total_seconds())
    answer = {
        "id": None, "index": row.offer_index, "platform": row.platform, "pool": row.pool, "user": row.user,
        "package": None if row.package is None else {"name": row.package},
        "resources": resources_json(Resources(row.millicores, row.mib)),
        "start": format_time(row.start), "end": format_time(row.end), "duration": iso_duration(seconds),
        "phase": phase, "state": state_of(phase), "expires": None if phase != OFFERED else format_time(row.expires),
        "offer_set": {"id": row.offer_set_id, "index": row.offer_index},
        "remote": {**json.loads(row.ref), **{k: v for k, v in (json.loads(row.remote) if row.remote else {}).items()
                                             if k != CLAIMED}},
    }
    if history:
        answer["transitions"] = json.loads(row.history)
    return answer


async def rows_of(conn, set_id: int) -> list:
    return (await conn.execute(select(orm.PlatformOffer).where(orm.PlatformOffer.offer_set_id == set_id)
                               .order_by(orm.PlatformOffer.offer_index))).all()


async def lock_set(conn, set_id: int) -> None:
    """The set's own write lock (as store.lock_pool's: the first write of the transaction),
    so accepts of one set, local or remote, take turns across processes."""
    await conn.execute(update(orm.OfferSet).where(orm.OfferSet.id == set_id).values(expires=orm.OfferSet.expires))


async def move(conn, row, target: str, *, now: datetime, cause: str, by: str, **values) -> None:
    history = json.loads(row.history) + [_transition(shown_phase(row, now), target, now, cause, by)]
    await conn.execute(update(orm.PlatformOffer).where(orm.PlatformOffer.id == row.id).values(
        phase=target, history=json.dumps(history), **values))


def taken_text(row) -> str:
    return (f"Offer {row.offer_index} of set {row.offer_set_id} (platform '{row.platform}') "
            f"{'is being accepted' if row.phase == ACCEPTING else 'was accepted already'}; the others were rejected.")


async def reject_siblings(conn, set_id: int, keep: int | None, *, now: datetime, cause: str, by: str) -> list:
    """Every other held remote offer of the set becomes REJECTED; returns them, for `release`
    once the transaction committed."""
    gone = []
    for row in await rows_of(conn, set_id):
        if row.offer_index != keep and row.phase == OFFERED:
            await move(conn, row, REJECTED if row.expires > now else EXPIRED, now=now, cause=cause, by=by)
            gone.append(row)
    return gone


async def accept(ctx, caller, set_id: int, row, now: datetime, local_siblings) -> dict:
    """Accept remote offer `row`: claim it (ACCEPTING, under the set's lock), ask its platform
    to book it, then ACCEPTED and its siblings here rejected (`local_siblings(conn)` rejects
    the set's local offers under their pools' locks), and there released."""
    by_name = {p.name: p for p in ctx.platforms}
    platform = by_name.get(row.platform)
    async with ctx.engine.begin() as conn:
        await lock_set(conn, set_id)
        rows = {r.offer_index: r for r in await rows_of(conn, set_id)}
        taken = [r for r in rows.values() if r.phase in (ACCEPTING, ACCEPTED)]
        if taken:
            raise Conflict(taken_text(taken[0]))
        booked = (await conn.execute(select(orm.Booking.id, orm.Booking.offer_index).where(
            orm.Booking.offer_set_id == set_id, orm.Booking.state == "booked"))).first()
        if booked is not None:
            raise Conflict(f"Offer {booked.offer_index} of set {set_id} was accepted already (booking {booked.id}); "
                           f"the others were rejected.")
        row = rows[row.offer_index]
        if shown_phase(row, now) == EXPIRED:
            raise Conflict(f"Offer {row.offer_index} of set {set_id} expired at {format_time(row.expires)} and can "
                           f"no longer be accepted; ask for new offers (POST /offersets).")
        if row.phase != OFFERED:
            raise Conflict(f"Offer {row.offer_index} of set {set_id} is {row.phase} and cannot be accepted.")
        if platform is None:
            raise Conflict(f"Offer {row.offer_index} of set {set_id} is on platform '{row.platform}', which this "
                           f"service no longer has; ask for new offers.")
        # when it was claimed: an accept cut off midway (the process stopped) is repaired by
        # the lifecycle's sweep once the claim is older than its platform could take (repair)
        await conn.execute(update(orm.PlatformOffer).where(orm.PlatformOffer.id == row.id).values(
            phase=ACCEPTING, remote=json.dumps({CLAIMED: format_time(now)})))
    try:
        try:
            booking = await platform.accept(json.loads(row.ref), user=row.user)
        except BookingError:
            # refused there: perhaps because an earlier accept of ours booked it and its answer
            # was lost (a 502 here); then this accept is that one, finished
            booking = await _booked_there(platform, json.loads(row.ref))
            if booking is None:
                raise
    except (PlatformError, BookingError) as e:
        async with ctx.engine.begin() as conn:
            await lock_set(conn, set_id)
            refused = isinstance(e, BookingError)
            # refused there (expired, gone): the offer is over; not answered: it may be tried again
            await conn.execute(update(orm.PlatformOffer).where(orm.PlatformOffer.id == row.id).values(
                phase=EXPIRED if refused else OFFERED, remote=None,
                history=json.dumps(json.loads(row.history) + ([_transition(OFFERED, EXPIRED, now, str(e), "platform")]
                                                              if refused else []))))
        if isinstance(e, BookingError):
            raise
        raise BookingError(f"{e} The offer is still held there until {format_time(row.expires)}; try again.",
                           status=502) from None
    await local_siblings(now, row.offer_index)
    async with ctx.engine.begin() as conn:
        await lock_set(conn, set_id)
        fresh = (await conn.execute(select(orm.PlatformOffer).where(orm.PlatformOffer.id == row.id))).one()
        if fresh.phase != ACCEPTING:  # the sweep repaired it meanwhile (this accept took too long)
            raise Conflict(f"Offer {row.offer_index} of set {set_id} took too long to accept and is now "
                           f"{shown_phase(fresh, now)}; GET /offersets/{set_id} shows it.")
        await move(conn, fresh, ACCEPTED, now=now, cause=f"accepted by {caller.name}", by=caller.name,
                   remote=json.dumps(booking))
        gone = await reject_siblings(conn, set_id, row.offer_index, now=now, by=caller.name,
                                      cause=f"offer {row.offer_index} of the set was accepted")
        fresh = (await conn.execute(select(orm.PlatformOffer).where(orm.PlatformOffer.id == row.id))).one()
        answer = offer_json(fresh, now, history=True)
    await release(ctx, gone)
    return answer


async def decline(ctx, caller, set_id: int, row, now: datetime) -> dict:
    async with ctx.engine.begin() as conn:
        await lock_set(conn, set_id)
        row = (await conn.execute(select(orm.PlatformOffer).where(orm.PlatformOffer.id == row.id))).one()
        if row.phase != OFFERED or row.expires <= now:
            raise Conflict(f"Offer {row.offer_index} of set {set_id} is {shown_phase(row, now)} and cannot be "
                           f"rejected.")
        await move(conn, row, REJECTED, now=now, cause=f"declined by {caller.name}", by=caller.name)
        row = (await conn.execute(select(orm.PlatformOffer).where(orm.PlatformOffer.id == row.id))).one()
        answer = offer_json(row, now, history=True)
    await release(ctx, [row])
    return answer


async def sweep(ctx, now: datetime) -> int:
    """Remote offers not accepted in time become EXPIRED, and their platforms are told (a
    Blazar lease held as an offer is deleted: Blazar would keep it)."""
    async with ctx.engine.begin() as conn:
        due = (await conn.execute(select(orm.PlatformOffer).where(
            orm.PlatformOffer.phase == OFFERED, orm.PlatformOffer.expires <= now))).all()
        for row in due:
            await move(conn, row, EXPIRED, now=now, by="lifecycle", cause=f"not accepted by {format_time(row.expires)}")
    await release(ctx, due)
    return len(due)


# -- repairing accepts cut off midway -----------------------------------------------------

async def _booked_there(platform: Platform, ref: dict) -> dict | None:
    """What the platform says of the booking it made of `ref`, if it says it booked it."""
    try:
        said = await platform.status(ref)
    except (PlatformError, BookingError):
        return None
    return {k: v for k, v in said.items() if k != "phase"} if said.get("phase") == ACCEPTED else None


def accept_grace(platform: Platform | None) -> timedelta:
    """How long an accept may hold its claim: well beyond its platform's HTTP timeout, so a
    repair never races an accept still at work."""
    return timedelta(seconds=max(120.0, 3 * float(getattr(platform, "timeout", 10))))


def _claimed(row) -> datetime | None:
    try:
        return parse_time(json.loads(row.remote or "{}")[CLAIMED], CLAIMED)
    except (KeyError, TypeError, ValueError, BookingError):
        return None


async def repair(ctx, now: datetime, reject_local) -> int:
    """Offers left ACCEPTING by an accept that stopped midway (its process stopped after the
    claim): ask the platform what became of each. Booked there: finish the accept (ACCEPTED,
    siblings rejected here, `reject_local(set_id, keep, now)` for the local ones, and released
    there). Still offered there: OFFERED again (it may be accepted while held). Gone there:
    EXPIRED, with what the platform said. The platform cannot say: left for the next round,
    until its hold has lapsed, then EXPIRED saying so. Returns how many were repaired."""
    by_name = {p.name: p for p in ctx.platforms}
    async with ctx.engine.connect() as conn:
        stuck = (await conn.execute(select(orm.PlatformOffer).where(orm.PlatformOffer.phase == ACCEPTING))).all()
    repaired = 0
    for row in stuck:
        platform = by_name.get(row.platform)
        claimed = _claimed(row)
        if claimed is not None and now < claimed + accept_grace(platform):
            continue  # an accept may still be at work
        ref = json.loads(row.ref)
        try:
            if platform is None:
                raise PlatformError(f"this service no longer has platform '{row.platform}'")
            said = await platform.status(ref)
        except (PlatformError, BookingError) as e:
            if row.expires > now:
                log.warning("Offer %d of set %d is stuck accepting; asking again next round: %s",
                            row.offer_index, row.offer_set_id, e)
                continue
            said = {"phase": "UNKNOWN", "why": str(e)}
        repaired += await _repair_one(ctx, row, said, now, reject_local)
    return repaired


async def _repair_one(ctx, row, said: dict, now: datetime, reject_local) -> int:
    set_id, by = row.offer_set_id, "lifecycle"
    phase = said.get("phase")
    if phase == "ACCEPTED":
        await reject_local(set_id, row.offer_index, now)
    gone = []
    async with ctx.engine.begin() as conn:
        await lock_set(conn, set_id)
        fresh = (await conn.execute(select(orm.PlatformOffer).where(orm.PlatformOffer.id == row.id))).one()
        if fresh.phase != ACCEPTING or fresh.remote != row.remote:
            return 0  # finished or claimed again meanwhile
        if phase == ACCEPTED:
            booking = {k: v for k, v in said.items() if k != "phase"}
            await move(conn, fresh, ACCEPTED, now=now, by=by, remote=json.dumps(booking),
                       cause=f"its accept was cut off after platform '{row.platform}' had booked it "
                             f"({json.dumps(booking)}); finished by the lifecycle's sweep")
            gone = await reject_siblings(conn, set_id, row.offer_index, now=now, by=by,
                                         cause=f"offer {row.offer_index} of the set was accepted")
        elif phase == "OFFERED" and fresh.expires > now:
            # never booked there: as it was before the accept (shown OFFERED all along)
            await conn.execute(update(orm.PlatformOffer).where(orm.PlatformOffer.id == row.id).values(
                phase=OFFERED, remote=None))
        else:
            why = said.get("why") or f"platform '{row.platform}' still holds it unbooked"
            await move(conn, fresh, EXPIRED, now=now, by=by, remote=None,
                       cause=f"its accept was cut off and never finished ({why}); its hold lapsed at "
                             f"{format_time(row.expires)}" if phase != "GONE" else
                             f"its accept was cut off and never finished: {why}")
            gone = [fresh] if phase == "OFFERED" else []
    log.info("Repaired offer %d of set %d left accepting: %s", row.offer_index, set_id, phase)
    await release(ctx, gone)
    return 1


__all__ = ["ACCEPTED", "REJECTED", "accept", "ask", "choose", "decline", "merge", "offer_json", "platforms_json",
           "keep_offer", "release", "repair", "rows_of", "sweep"]
