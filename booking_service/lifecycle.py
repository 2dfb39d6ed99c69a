"""The lifecycle loop: lets held offers expire, moves bookings through their phases as
time passes (WAITING at their start, RELEASING and COMPLETED at their end), stops servers
whose booking has ended (through the hub's API), moves the walk-in queues on (holds
that ran out, places that freed), and tells users what is about to happen (notices, mailed
through the hub beside the loop, never in its way).

With several service processes, one runs it: a lease row in the database says who,
and lapses if that process dies, so another takes over.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from datetime import datetime, timedelta

from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from . import orm
from .domain import ACCEPTED, COMPLETED, LIVE, RELEASING, WAITING, Caller
from .operations import Context
from .operations import notices, offers, platform_offers
from .operations.phases import advance, expire_offers
from .operations.preparation import prepare
from .operations.reclaim import reclaim_unstarted
from .operations.sessions import offer_places, stop_session
from .store import locked_pool

log = logging.getLogger("booking_service.lifecycle")
LEASE = "lifecycle"
SYSTEM = Caller(name="lifecycle", kind="service", level=-1, admin=True, can_read=True, can_write=True, sessions=True)


class Lifecycle:
    def __init__(self, ctx: Context, *, interval: float, clock, orphan_grace: float = 120,
                 holder: str | None = None):
        self.ctx = ctx
        self.interval = interval
        self.orphan_grace = timedelta(seconds=orphan_grace)
        self.clock = clock
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}"

    async def run(self) -> None:
        while True:
            try:
                await self.tick(self.clock())
            except Exception:
                log.exception("The lifecycle loop failed; trying again in %ss", self.interval)
            await asyncio.sleep(self.interval)

    async def lead(self, now: datetime) -> bool:
        """Take or keep the lease; True if this process runs the loop now."""
        expires = now + timedelta(seconds=3 * self.interval)
        async with self.ctx.engine.begin() as conn:
            taken = await conn.execute(
                update(orm.Lease)
                .where(orm.Lease.name == LEASE, or_(orm.Lease.holder == self.holder, orm.Lease.expires < now))
                .values(holder=self.holder, expires=expires)
            )
            if taken.rowcount:
                return True
        try:
            async with self.ctx.engine.begin() as conn:
                await conn.execute(insert(orm.Lease).values(name=LEASE, holder=self.holder, expires=expires))
            return True
        except IntegrityError:
            return False  # someone else holds it

    async def release(self) -> None:
        """Give the lease up if this process holds it (it is stopping): another process
        takes the loop over at its next round rather than when the lease lapses."""
        if self._mailing is not None:
            self._mailing.cancel()  # a notice cut off mid-mail is tried again by the next holder
        async with self.ctx.engine.begin() as conn:
            await conn.execute(delete(orm.Lease).where(orm.Lease.name == LEASE, orm.Lease.holder == self.holder))

    async def tick(self, now: datetime) -> None:
        if not await self.lead(now):
            return
        await self.sweep_offers(now)
        # before move_phases: a booking with steps is PREPARING (or FAILED) by its start,
        # never moved on to WAITING without them
        await prepare(self.ctx, now)
        await reclaim_unstarted(self.ctx, now)
        await self.move_phases(now)
        await self.end_sessions(now)
        await self.move_phases(now)  # COMPLETED once their servers stopped
        await self.end_orphans(now)
        await self.move_queues(now)
        await self.tell(now)

    async def _in_pools(self, where, work) -> None:
        """`work(change)` under the lock of each pool that has bookings matching `where`."""
        async with self.ctx.engine.connect() as conn:
            names = (await conn.execute(
                select(orm.Pool.name).distinct().join(orm.Booking, orm.Booking.pool_id == orm.Pool.id).where(*where)
            )).scalars().all()
        for name in names:
            async with locked_pool(self.ctx.engine, self.ctx.cache, name) as change:
                if not await work(change):
                    change.unchanged()

    async def sweep_offers(self, now: datetime) -> None:
        """Offers not accepted in time become EXPIRED and free what they held (admission does
        the same for its own pool, so this is for everyone else's view of the calendar)."""
        async def work(change):
            expired = await expire_offers(change, now)
            if expired:
                log.info("%d offer(s) in pool %s expired", expired, change.pool.name)
            return expired
        await self._in_pools((orm.Booking.state == "offered", orm.Booking.expires <= now), work)
        # offers held on other platforms: told there too (a Blazar lease held as one goes)
        expired = await platform_offers.sweep(self.ctx, now)
        if expired:
            log.info("%d offer(s) on other platforms expired", expired)
        # accepts of offers held elsewhere that stopped midway (their process stopped)
        await platform_offers.repair(self.ctx, now, lambda set_id, keep, moment: offers.reject_local_offers(
            self.ctx, set_id, keep, moment, by=SYSTEM.name))

    async def move_phases(self, now: datetime) -> None:
        """WAITING from its start (no preparation steps yet, so nothing to prepare); at its
        end RELEASING while a server of it runs, COMPLETED when none does."""
        running = select(orm.Session.id).where(orm.Session.booking_id == orm.Booking.id,
                                               orm.Session.state == "running").exists()
        due = (orm.Booking.state == "booked", or_(
            (orm.Booking.phase == ACCEPTED) & (orm.Booking.start <= now),
            orm.Booking.phase.in_(LIVE) & (orm.Booking.end <= now)))

        async def work(change):
            rows = (await change.conn.execute(
                select(orm.Booking.id, orm.Booking.phase, orm.Booking.end, running.label("running"))
                .where(orm.Booking.pool_id == change.pool.id, *due))).all()
            moved = 0
            for row in rows:
                if row.end > now:
                    target, cause = WAITING, "its start came"
                elif row.running:
                    target, cause = RELEASING, "its end came: stopping its servers"
                else:
                    target, cause = COMPLETED, "its end came" if row.phase != RELEASING else "its servers stopped"
                moved += await advance(change, row, target, now=now, cause=cause, by=SYSTEM.name)
            return moved
        await self._in_pools(due, work)

    async def end_sessions(self, now: datetime) -> None:
        async with self.ctx.engine.connect() as conn:
            due = (await conn.execute(
                select(orm.Session.id, orm.Session.user, orm.Session.server_name)
                .join(orm.Booking, orm.Booking.id == orm.Session.booking_id)
                .where(orm.Session.state == "running",
                       or_(orm.Booking.end <= now, orm.Booking.state == "cancelled"))
            )).all()
        for session in due:
            log.info("Booking ended: stopping %s's server %r (session %d)", session.user, session.server_name, session.id)
            try:
                if self.ctx.hub is not None:
                    await self.ctx.hub.stop_server(session.user, session.server_name)
            except Exception:
                log.exception("The hub did not stop %s's server; trying again next round", session.user)
                continue
            await stop_session(self.ctx, SYSTEM, session.id, now, "booking ended")

    async def end_orphans(self, now: datetime) -> None:
        """End sessions whose server the hub no longer runs: the spawner releases its
        session when the server stops, but not if this service was down just then."""
        if self.ctx.hub is None:
            return
        async with self.ctx.engine.connect() as conn:
            sessions = (await conn.execute(
                select(orm.Session.id, orm.Session.user, orm.Session.server_name)
                .where(orm.Session.state == "running", orm.Session.started < now - self.orphan_grace)
            )).all()
        if not sessions:
            return
        running = await self.ctx.hub.running_servers()
        for session in sessions:
            if (session.user, session.server_name) not in running:
                log.info("%s's server %r is gone: ending session %d", session.user, session.server_name, session.id)
                await stop_session(self.ctx, SYSTEM, session.id, now, "server gone")

    async def move_queues(self, now: datetime) -> None:
        async with self.ctx.engine.connect() as conn:
            pools = (await conn.execute(
                select(orm.Pool.name).distinct().join(orm.QueueEntry, orm.QueueEntry.pool_id == orm.Pool.id)
                .where(orm.QueueEntry.state.in_(("waiting", "offered")))
            )).scalars().all()
        for name in pools:
            async with locked_pool(self.ctx.engine, self.ctx.cache, name) as change:
                offered = await offer_places(self.ctx, change, now)
            if offered:
                log.info("Offered %d place(s) in pool %s", offered, name)

    # -- notices: made each round, mailed beside the loop ----------------------------------

    _mailing: asyncio.Task | None = None

    async def tell(self, now: datetime) -> None:
        """Make the notices whose time has come, then mail what is unmailed in a task of its
        own: a slow or failing mail server never holds the loop up, and a round that finds
        the last one still at work leaves it be."""
        ctx = self.ctx
        leads = notices.Leads(ctx.notify_before_start, ctx.notify_before_end, ctx.notify_before_offer_expiry)
        made = await notices.emit_due(ctx, leads, now)
        if made:
            log.info("Made %d notice(s)", made)
        if not (ctx.mail_notices and ctx.hub is not None):
            await notices.mail_pending(ctx, None, now)  # no mail: marks them so, at once
        elif self._mailing is None or self._mailing.done():
            self._mailing = asyncio.ensure_future(self.mail_notices(now))

    async def mail_notices(self, now: datetime) -> dict:
        try:
            counts = await notices.mail_pending(self.ctx, self.ctx.hub.send_notice, now)
        except Exception:
            log.exception("Mailing notices failed; trying again next round")
            return {}
        if counts.get("sent") or counts.get("failed"):
            log.info("Notices mailed: %s", counts)
        return counts
