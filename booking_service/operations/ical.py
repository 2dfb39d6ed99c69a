"""Private calendar feeds: each user's secret feed token (made, renewed and revoked by
the user) and the feed it opens, their bookings as iCalendar (calendar_feed.render).

The token is derived, never stored: HMAC-SHA256(feed secret, "<user>\\0<nonce>"), the
nonce random per feed and kept in the feed's row with the sha256 of the token (the
feed's lookup: a hash lookup, whose time says nothing of how close a guess came). So
the service can show a user their address again whenever they ask, while the database
alone opens no feed (it lacks the secret) and the secret alone opens none (it lacks
the nonces); a new secret turns every feed off (docs/security.md)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import base64
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from .. import orm
from ..calendar_feed import CALLED_OFF, FeedEvent, render
from ..domain import Caller, Conflict, Forbidden, format_time
from . import Context
from .bookings import NEVER_BOOKED

NONCE_BYTES = 32  # the nonce's randomness: as much as the token's, so no two feeds share one
TOKEN_PATTERN = r"[A-Za-z0-9_-]{43}"  # an HMAC-SHA256 in unpadded base64url, which the feed's route matches
MIN_SECRET_BYTES = 32  # the HMAC key's least length: 256 bits, the hash's own strength


@dataclass(frozen=True)
class FeedSettings:
    """The feed's options (BookingService.ical_* and public_url)."""

    public_url: str = ""  # the service's public address with its prefix; "" for the request's
    past: timedelta = timedelta(days=60)  # how long ended bookings stay in the feed
    keep_cancelled: timedelta = timedelta(days=14)  # how long cancelled ones stay, as CANCELLED
    max_events: int = 500
    refresh: timedelta = timedelta(minutes=15)  # how often clients are asked to poll
    # the key that turns a feed's nonce into its token (BookingService.feed_secret); out of
    # repr, so no log line or traceback that prints the settings shows it
    secret: bytes = field(default=b"", repr=False)


def derive_token(secret: bytes, user: str, nonce: str) -> str:
    """The feed token of `user`'s feed with `nonce`: HMAC-SHA256 keyed with the feed
    secret, in unpadded base64url (43 characters, TOKEN_PATTERN). The NUL between the
    two parts keeps ("ab", "c") and ("a", "bc") apart (a hub name holds no NUL)."""
    if len(secret) < MIN_SECRET_BYTES:
        # a service started without BookingService.feed_secret (a unit test's context)
        raise ValueError(f"The calendar feed's secret must be at least {MIN_SECRET_BYTES} bytes")
    digest = hmac.new(secret, f"{user}\0{nonce}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def status_json(row) -> dict:
    if row is None:
        return {"active": False, "created": None}
    return {"active": True, "created": format_time(row.created)}


def live_token(row, secret: bytes) -> str | None:
    """The token of the feed `row` (user, nonce, token_hash), or None when the row opens
    no feed: none, or made under another feed secret (rotated: its stored hash is not
    the hash of what this secret derives, so its address would not work)."""
    if row is None:
        return None
    token = derive_token(secret, row.user, row.nonce)
    return token if hmac.compare_digest(hash_token(token), row.token_hash) else None


def _check_user(caller: Caller) -> None:
    if caller.kind != "user":
        raise Forbidden("Only hub users have a calendar feed; a service's token has no bookings of its own to show.")


async def feed_status(ctx: Context, caller: Caller, secret: bytes) -> tuple[str | None, dict]:
    """The caller's own feed: its token (None if they have none, or it died with an old
    feed secret) and its status. Only ever the caller's: no one, admin or not, reads
    another's token."""
    if caller.kind != "user":
        return None, status_json(None)
    async with ctx.engine.connect() as conn:
        row = (await conn.execute(select(orm.CalendarFeed.user, orm.CalendarFeed.nonce, orm.CalendarFeed.token_hash,
                                         orm.CalendarFeed.created)
                                  .where(orm.CalendarFeed.user == caller.name))).first()
    token = live_token(row, secret)
    return token, status_json(row if token else None)


async def renew_feed(ctx: Context, caller: Caller, now: datetime, secret: bytes) -> tuple[str, dict]:
    """A new feed for the caller (a new nonce, so a new token), replacing any they had
    (whose address stops working at once); returns the token and the feed's status."""
    _check_user(caller)
    nonce = secrets.token_urlsafe(NONCE_BYTES)
    token = derive_token(secret, caller.name, nonce)
    values = dict(nonce=nonce, token_hash=hash_token(token), created=now, created_by=caller.name)
    for _attempt in range(3):
        try:
            async with ctx.engine.begin() as conn:
                changed = await conn.execute(
                    update(orm.CalendarFeed).where(orm.CalendarFeed.user == caller.name).values(**values))
                if changed.rowcount == 0:
                    await conn.execute(insert(orm.CalendarFeed).values(user=caller.name, **values))
            return token, status_json(orm.CalendarFeed(created=now))
        except IntegrityError:  # another request made this user's first feed meanwhile: update that one
            continue
    raise Conflict("Your calendar feed is being changed by another request; try again.")


async def revoke_feed(ctx: Context, caller: Caller) -> dict:
    """The caller's feed address stops working; revoking none is no error."""
    _check_user(caller)
    await forget_feed(ctx, caller.name)
    return status_json(None)


async def forget_feed(ctx: Context, user: str) -> None:
    """Drop `user`'s feed (revoked, or the user deleted: whoever gets the name next must
    not find their bookings at the old address)."""
    async with ctx.engine.begin() as conn:
        await conn.execute(delete(orm.CalendarFeed).where(orm.CalendarFeed.user == user))


async def feed_owner(ctx: Context, token: str, secret: bytes) -> str | None:
    """Whose feed `token` opens, or None. Looked up by the token's hash, so how long the
    lookup takes says nothing about how close a guess came; the compares are
    constant-time besides. The token must also be what the row's nonce derives under
    `secret`: one made under an older feed secret still matches its row's hash, and
    must stop all the same."""
    wanted = hash_token(token)
    async with ctx.engine.connect() as conn:
        row = (await conn.execute(select(orm.CalendarFeed.user, orm.CalendarFeed.nonce, orm.CalendarFeed.token_hash)
                                  .where(orm.CalendarFeed.token_hash == wanted))).first()
    if row is None or not hmac.compare_digest(row.token_hash, wanted):
        return None
    live = live_token(row, secret)
    if live is None or not hmac.compare_digest(live, token):
        return None
    return row.user


async def feed_events(ctx: Context, user: str, settings: FeedSettings, now: datetime) -> list[FeedEvent]:
    """`user`'s bookings for the feed: every booking (never an offer) that has not ended,
    or ended within `settings.past`; a cancelled or failed one only until
    `settings.keep_cancelled` after it was called off. At most `settings.max_events`, the
    latest starts first kept."""
    last_move = (select(func.max(orm.BookingTransition.at))
                 .where(orm.BookingTransition.booking_id == orm.Booking.id).scalar_subquery())
    query = (
        select(orm.Booking, orm.Pool.name.label("pool_name"), orm.PackageTemplate.name.label("package_name"),
               orm.PackageTemplate.version.label("package_version"), last_move.label("last_move"))
        .join(orm.Pool, orm.Pool.id == orm.Booking.pool_id)
        .outerjoin(orm.PackageTemplate, orm.PackageTemplate.id == orm.Booking.package_id)
        .where(orm.Booking.user == user, orm.Booking.end > now - settings.past,
               orm.Booking.phase.not_in(NEVER_BOOKED))
        .order_by(orm.Booking.start.desc(), orm.Booking.id.desc())
        .limit(settings.max_events)
    )
    async with ctx.engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    events = []
    for r in reversed(rows):
        modified = max(t for t in (r.created, r.cancelled, r.last_move) if t is not None)
        if r.phase in CALLED_OFF and modified < now - settings.keep_cancelled:
            continue
        events.append(FeedEvent(
            id=r.id, pool=r.pool_name, package=r.package_name, package_version=r.package_version,
            millicores=r.millicores, mib=r.mib, start=r.start, end=r.end, phase=r.phase, created=r.created,
            modified=modified, sequence=r.changed_version, cancel_reason=r.cancel_reason,
        ))
    return events


async def feed(ctx: Context, token: str, settings: FeedSettings, now: datetime, *, public_url: str,
               domain: str) -> bytes | None:
    """The iCalendar document `token` opens, or None if it opens none (never was, revoked,
    renewed, made under another feed secret, or its user forgotten). `public_url` is the service's address with its prefix."""
    user = await feed_owner(ctx, token, settings.secret)
    if user is None:
        return None
    events = await feed_events(ctx, user, settings, now)
    # icalendar takes about 0.3 ms an event: in a thread, so a long feed (hundreds of
    # bookings: over 100 ms) lets the event loop, and everyone's requests, go on meanwhile
    return await asyncio.to_thread(render, user, events, domain=domain, calendar_url=public_url,
                                   refresh=settings.refresh)


def feed_url(public_url: str, token: str) -> str:
    return f"{public_url}ical/{token}.ics"
