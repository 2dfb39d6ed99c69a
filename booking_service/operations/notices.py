"""Notices: telling users what happens to their bookings (issue 12, "Telling people").

A notice is made once per event: its `key` names the event (kind, what, and the moment
it is about), and the table holds keys unique, so two service processes, or two rounds of
the lifecycle loop, that see one event make one notice. Transitions (phases.record) make
the ones a move causes (a booking FAILED, or ended by someone else); the lifecycle loop
makes the ones time causes (`emit_due`: about to start, about to end, offers about to
expire) and mails them (`mail_pending`); the walk-in queue makes one when it offers a place.
Users read them (the notebook's status item, the calendar) and mark them read.
"""

from __future__ import annotations

import logging
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from .. import orm
from ..domain import (ACCEPTED, CANCELLED, EXPIRED, FAILED, LIVE, OFFERED, PREPARING, WAITING, Caller, Forbidden,
                      Invalid, NotFound, format_time, require_fields)
from . import Context

log = logging.getLogger("booking_service.notices")

KINDS = ("starting", "ending", "offer_expiring", "failed", "reclaimed", "cancelled", "queue_place")
SUBJECTS = {
    "starting": "Your booking starts soon",
    "ending": "Your booking ends soon",
    "offer_expiring": "Your offers expire soon",
    "failed": "Your booking failed",
    "reclaimed": "Your booking was released",
    "cancelled": "Your booking was cancelled",
    "queue_place": "A walk-in place is free for you",
}
MAX_TEXT = 1000  # characters of a notice's text
MAX_LISTED = 100  # the newest notices a list answers (unread first)
MAIL_TRIES = 5  # mail attempts (one per lifecycle round) before a notice's mail is given up
MAIL_BATCH = 50  # notices mailed per round at most
MAIL_MAX_AGE = timedelta(hours=6)  # older unmailed notices are stale: not mailed (e.g. mail came on later)
NOT_YET = (ACCEPTED, PREPARING, WAITING)  # booked phases before the start


@dataclass(frozen=True)
class Leads:
    """How long before an event its user is told (None: not told)."""

    before_start: timedelta | None = timedelta(minutes=60)
    before_end: timedelta | None = timedelta(minutes=30)
    before_offer_expiry: timedelta | None = timedelta(minutes=2)


async def add(conn, *, user: str, kind: str, key: str, text: str, now: datetime, booking_id: int | None = None) -> bool:
    """Make the notice unless its event has one already (the unique key decides, in the
    database, so concurrent writers make one); whether this call made it."""
    if kind not in KINDS:
        raise ValueError(f"no such kind of notice: {kind!r}")  # a bug, not a request
    # one line of at most MAX_TEXT characters: a cause may come from elsewhere (a worker's
    # message), and the hub mails only text without control characters
    text = " ".join("".join(" " if unicodedata.category(c) == "Cc" else c for c in text).split())
    if len(text) > MAX_TEXT:
        text = text[:MAX_TEXT - 1] + "…"
    values = dict(user=user, kind=kind, key=key[:255], booking_id=booking_id, text=text, created=now,
                  read=None, mail_state="pending", mail_tries=0)
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    made = await conn.execute(dialect.insert(orm.Notice).values(**values)
                              .on_conflict_do_nothing(index_elements=["key"]).returning(orm.Notice.id))
    return made.first() is not None


def _minutes(delta: timedelta) -> str:
    minutes = max(1, round(delta.total_seconds() / 60))
    return "1 minute" if minutes == 1 else f"{minutes} minutes"


def _booking_query():
    return (select(orm.Booking.id, orm.Booking.user, orm.Booking.start, orm.Booking.end, orm.Booking.phase,
                   orm.Pool.name.label("pool_name"), orm.PackageTemplate.name.label("package_name"))
            .join(orm.Pool, orm.Pool.id == orm.Booking.pool_id)
            .outerjoin(orm.PackageTemplate, orm.PackageTemplate.id == orm.Booking.package_id))


def describe(row) -> str:
    """A booking as its user knows it: what, where and when (UTC)."""
    what = f"'{row.package_name}'" if row.package_name else "resources"
    return f"{row.id} ({what} on {row.pool_name}, {format_time(row.start)} to {format_time(row.end)})"


async def on_transition(conn, booking_id: int, before: str | None, after: str, now: datetime, cause: str,
                        by: str) -> None:
    """The notice a move makes, if its user cares: a booking FAILED, or one that held
    capacity ended by the lifecycle (reclaimed) or by someone else (cancelled). Offers that
    lapse, and the user's own cancellations, tell nobody anything new."""
    if after == FAILED:
        kind = "failed"
    elif after in (CANCELLED, EXPIRED) and before not in (None, OFFERED):
        kind = "reclaimed" if by == "lifecycle" else "cancelled"
    else:
        return
    row = (await conn.execute(_booking_query().where(orm.Booking.id == booking_id))).first()
    if row is None or (kind == "cancelled" and by in (row.user, "hub")):  # "hub": their account is going
        return
    text = {
        "failed": f"Booking {describe(row)} failed: {cause}.",
        "reclaimed": f"Booking {describe(row)} was released: {cause}.",
        "cancelled": f"Booking {describe(row)} was cancelled by {by}: {cause}.",
    }[kind]
    await add(conn, user=row.user, kind=kind, key=f"{kind}:{booking_id}", text=text, now=now, booking_id=booking_id)


async def queue_place(conn, user: str, entry_id: int, pool_name: str, until: datetime, now: datetime) -> None:
    """A walk-in place offered to `user` (sessions.offer_places), kept until `until`."""
    await add(conn, user=user, kind="queue_place", key=f"queue_place:{entry_id}", now=now,
              text=f"A walk-in place on {pool_name} is free for you until {format_time(until)}: "
                   f"start your server before then, or it goes to the next in the queue.")


async def emit_due(ctx: Context, leads: Leads, now: datetime) -> int:
    """Make the notices whose lead time has come: bookings about to start, bookings under
    way about to end, offer sets about to expire. The key carries the moment, so a booking
    whose end moves is told again of its new end. Returns how many were made."""
    due = []  # (key, the rest of the notice)
    async with ctx.engine.begin() as conn:
        if leads.before_start:
            rows = (await conn.execute(_booking_query().add_columns(orm.Booking.created, orm.Booking.created_by).where(
                orm.Booking.state == "booked", orm.Booking.phase.in_(NOT_YET),
                orm.Booking.start > now, orm.Booking.start <= now + leads.before_start))).all()
            # not those the user made themselves once the lead time had begun: they know
            due += [(f"starting:{row.id}:{format_time(row.start)}",
                     dict(user=row.user, kind="starting", booking_id=row.id,
                          text=f"Booking {describe(row)} starts in {_minutes(row.start - now)}.")) for row in rows
                    if row.created_by != row.user or row.created <= row.start - leads.before_start]
        if leads.before_end:
            rows = (await conn.execute(_booking_query().where(
                orm.Booking.state == "booked", orm.Booking.phase.in_(LIVE), orm.Booking.start <= now,
                orm.Booking.end > now, orm.Booking.end <= now + leads.before_end))).all()
            due += [(f"ending:{row.id}:{format_time(row.end)}",
                     dict(user=row.user, kind="ending", booking_id=row.id,
                          text=f"Booking {describe(row)} ends in {_minutes(row.end - now)}: "
                               f"save your work; its servers stop at its end.")) for row in rows]
        if leads.before_offer_expiry:
            held = (select(func.count()).where(orm.Booking.offer_set_id == orm.OfferSet.id,
                                               orm.Booking.state == "offered").scalar_subquery())
            rows = (await conn.execute(select(orm.OfferSet.id, orm.OfferSet.user, orm.OfferSet.expires,
                                              held.label("held")).where(
                orm.OfferSet.expires > now, orm.OfferSet.expires <= now + leads.before_offer_expiry,
                held > 0))).all()
            due += [(f"offer_expiring:{row.id}:{format_time(row.expires)}",
                     dict(user=row.user, kind="offer_expiring",
                          text=f"Offer set {row.id} holds {'1 offer' if row.held == 1 else f'{row.held} offers'} "
                               f"for you until {format_time(row.expires)} (in {_minutes(row.expires - now)}); "
                               f"accept one before then, or they go back to everyone.")) for row in rows]
        # Each round sees the same events again until they pass: one look for the keys made
        # already, so a round that makes nothing new costs a query, not an insert per event.
        known = set()
        for i in range(0, len(due), 500):
            keys = [key for key, _ in due[i:i + 500]]
            known |= set((await conn.execute(select(orm.Notice.key).where(orm.Notice.key.in_(keys)))).scalars())
        made = 0
        for key, notice in due:
            if key not in known:
                made += await add(conn, key=key, now=now, **notice)
    return made


# -- the API ---------------------------------------------------------------------------------


def notice_json(row) -> dict:
    return {"id": row.id, "kind": row.kind, "booking_id": row.booking_id, "text": row.text,
            "created": format_time(row.created), "read": None if row.read is None else format_time(row.read),
            "mail": row.mail_state}


def _may_see(caller: Caller, user: str, *, write: bool) -> None:
    if caller.name == user and caller.kind == "user" or caller.admin:
        return
    verb = "mark" if write else "read"
    raise Forbidden(f"You can only {verb} your own notices ('{caller.name}'), unless you are a booking admin.")


async def list_notices(ctx: Context, caller: Caller, user: str, now: datetime) -> dict:
    """The user's newest notices, unread first, with how many are unread."""
    _may_see(caller, user, write=False)
    unread_first = case((orm.Notice.read.is_(None), 0), else_=1)
    async with ctx.engine.connect() as conn:
        rows = (await conn.execute(select(orm.Notice).where(orm.Notice.user == user)
                                   .order_by(unread_first, orm.Notice.id.desc()).limit(MAX_LISTED))).all()
        unread = (await conn.execute(select(func.count()).select_from(orm.Notice).where(
            orm.Notice.user == user, orm.Notice.read.is_(None)))).scalar_one()
    return {"user": user, "unread": unread, "notices": [notice_json(r) for r in rows]}


async def mark_notice(ctx: Context, caller: Caller, user: str, notice_id: int, body, now: datetime) -> dict:
    """`{"read": true}` marks the notice read (once: the first time stays), `false` unread."""
    _may_see(caller, user, write=True)
    require_fields(body, {"read"})
    if not isinstance(body["read"], bool):
        raise Invalid("'read' must be true or false")
    async with ctx.engine.begin() as conn:
        row = (await conn.execute(select(orm.Notice).where(orm.Notice.id == notice_id, orm.Notice.user == user))
               ).first()
        if row is None:
            raise NotFound(f"'{user}' has no notice {notice_id}; GET /users/{user}/notices lists them.")
        if body["read"] != (row.read is not None):
            await conn.execute(update(orm.Notice).where(orm.Notice.id == notice_id)
                               .values(read=now if body["read"] else None))
            row = (await conn.execute(select(orm.Notice).where(orm.Notice.id == notice_id))).one()
    return notice_json(row)


# -- mail ------------------------------------------------------------------------------------


async def mail_pending(ctx: Context, send, now: datetime) -> dict:
    """Mail the notices not mailed yet, oldest first, through `send(user, subject, text)`,
    which answers whether the user has an address ('sent' or 'no-address') or raises. A
    failure is counted and tried again next round, up to MAIL_TRIES; each notice's state is
    written as soon as it is known, so a crash mails nothing twice but the one under way.
    With `send` None (no mail), pending notices are marked 'off'."""
    counts = {"sent": 0, "no-address": 0, "failed": 0, "retry": 0, "off": 0}
    async with ctx.engine.begin() as conn:
        stale = [orm.Notice.mail_state == "pending"]
        if send is not None:
            stale.append(orm.Notice.created < now - MAIL_MAX_AGE)
        counts["off"] = (await conn.execute(update(orm.Notice).where(*stale).values(mail_state="off"))).rowcount
        rows = (await conn.execute(select(orm.Notice.id, orm.Notice.user, orm.Notice.kind, orm.Notice.text,
                                          orm.Notice.mail_tries)
                                   .where(orm.Notice.mail_state == "pending").order_by(orm.Notice.id)
                                   .limit(MAIL_BATCH))).all()
    for row in rows:
        try:
            state = await send(row.user, SUBJECTS.get(row.kind, "About your booking"), row.text)
            tries = row.mail_tries + 1
        except Exception as e:
            tries = row.mail_tries + 1
            state = "failed" if tries >= MAIL_TRIES else "pending"
            log.warning("Could not mail notice %d to %s (try %d of %d): %s", row.id, row.user, tries, MAIL_TRIES,
                        str(e)[:300] or type(e).__name__)
        counts["retry" if state == "pending" else state] += 1
        async with ctx.engine.begin() as conn:
            await conn.execute(update(orm.Notice).where(orm.Notice.id == row.id)
                               .values(mail_state=state, mail_tries=tries))
    return counts

