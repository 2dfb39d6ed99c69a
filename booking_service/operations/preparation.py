"""Preparation steps (seed 004, issue 12): storing a booking's steps, starting each on its
worker when due, the workers' callbacks, and what they do to the booking: PREPARING when the
first step is due, WAITING when all are done, FAILED (its capacity freed, the step's message
as the cause) when one fails or preparation has not finished by the start.

Steps run one after another. Starting a step is claimed in the database (a conditional
update), so two service processes never start one step twice; the worker is called outside
any lock; booking phases move under the pool's lock, as every move does.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import secrets
import unicodedata
from datetime import datetime, timedelta

from sqlalchemy import and_, insert, select, update
from sqlalchemy.orm import aliased

from .. import orm
from ..domain import (
    ACCEPTED,
    FAILED,
    PREPARING,
    WAITING,
    BookingError,
    Conflict,
    Invalid,
    NotFound,
    format_time,
    require_fields,
)
from ..steps import (
    CANCELLED,
    COMPLETED,
    MAX_MESSAGE,
    PENDING,
    REPORTED,
    RUNNING,
    STEP_FINAL,
    Step,
    due_times,
    preparation_time,
)
from ..store import locked_pool
from ..workers import WorkerClient
from . import Context
from .phases import move

log = logging.getLogger("booking_service.preparation")
# A claimed start whose worker did not take it is tried again after this long.
RETRY = timedelta(seconds=60)
# What a callback that comes before its step is RUNNING is told to wait (Retry-After).
TRY_AGAIN_SECONDS = 1


class TooEarly(BookingError):
    """425: the step is not RUNNING yet (its worker called back before the service recorded
    that the worker took it); the worker tries again after Retry-After."""

    status = 425


def hash_secret(secret: str) -> str:
    # The secrets are 256 random bits: a plain SHA-256 cannot be searched back, unlike a password's.
    return hashlib.sha256(secret.encode()).hexdigest()


async def add_steps(conn, booking_id: int, steps: list[Step], start: datetime) -> None:
    for position, (step, due) in enumerate(zip(steps, due_times(steps, start))):
        await conn.execute(insert(orm.PreparationStep).values(
            booking_id=booking_id, position=position, kind=step.kind, params=json.dumps(step.params),
            quote_seconds=step.quote, due=due, state=PENDING, secret_hash=None, message="", started=None,
            finished=None, attempts=0))


def check_preparation_time(steps: list[Step], start: datetime, now: datetime) -> None:
    """A booking's preparation must fit between now and its start."""
    need = preparation_time(steps)
    if steps and start - need < now:
        raise Invalid(f"Its preparation steps are quoted {int(need.total_seconds())} s, so the earliest start is "
                      f"{format_time(now + need)}, not {format_time(start)}.")


def step_json(row) -> dict:
    return {"id": row.id, "position": row.position, "kind": row.kind, "params": json.loads(row.params),
            "quote_seconds": row.quote_seconds, "due": format_time(row.due), "state": row.state,
            "message": row.message, "started": None if row.started is None else format_time(row.started),
            "finished": None if row.finished is None else format_time(row.finished)}


async def booking_steps(conn, booking_id: int) -> list[dict]:
    rows = (await conn.execute(select(orm.PreparationStep).where(orm.PreparationStep.booking_id == booking_id)
                               .order_by(orm.PreparationStep.position))).all()
    return [step_json(row) for row in rows]


async def steps_of(conn, booking_ids: list[int]) -> dict[int, list[dict]]:
    """Each booking's steps, for a list of bookings: one query (in chunks the databases'
    parameter limits allow), not one per booking."""
    found: dict[int, list[dict]] = {i: [] for i in booking_ids}
    for i in range(0, len(booking_ids), 500):
        rows = (await conn.execute(select(orm.PreparationStep)
                                   .where(orm.PreparationStep.booking_id.in_(booking_ids[i:i + 500]))
                                   .order_by(orm.PreparationStep.booking_id, orm.PreparationStep.position))).all()
        for row in rows:
            found[row.booking_id].append(step_json(row))
    return found


# -- the worker's callback --------------------------------------------------------------------

def parse_report(body) -> tuple[str, str]:
    body = require_fields(body, {"status"}, {"message"})
    status = body["status"]
    if status not in REPORTED:
        raise Invalid(f"'status' must be one of {', '.join(REPORTED)}, not {str(status)[:40]!r}")
    message = body.get("message", "")
    if not isinstance(message, str):
        raise Invalid("'message' must be a string: what a person should read about the step")
    # one line: a worker's message may carry other servers' words (a file server's reason
    # phrase); a NUL is a 500 on PostgreSQL, a lone surrogate on both databases, and any
    # control character goes on into causes, the calendar feed and the UI
    message = " ".join("".join(" " if unicodedata.category(c) in ("Cc", "Cs") else c for c in message).split())
    return status, message[:MAX_MESSAGE]


async def _step_and_pool(conn, step_id: int):
    return (await conn.execute(
        select(orm.PreparationStep, orm.Booking.pool_id, orm.Pool.name.label("pool_name"))
        .join(orm.Booking, orm.Booking.id == orm.PreparationStep.booking_id)
        .join(orm.Pool, orm.Pool.id == orm.Booking.pool_id)
        .where(orm.PreparationStep.id == step_id))).first()


def _authentic(row, secret: str | None) -> bool:
    if row is None or row.secret_hash is None or not secret:
        return False
    return hmac.compare_digest(row.secret_hash, hash_secret(secret))


async def report_step(ctx: Context, step_id: int, secret: str | None, body, now: datetime) -> dict:
    """A worker's callback: {"status": COMPLETED|FAILED|CANCELLED, "message"}, with the step's
    secret. An unknown step and a wrong secret get the same 404, so ids cannot be probed."""
    status, message = parse_report(body)
    async with ctx.engine.connect() as conn:
        row = await _step_and_pool(conn, step_id)
    if not _authentic(row, secret):
        raise NotFound(f"There is no step {step_id} with that secret.")
    async with locked_pool(ctx.engine, ctx.cache, row.pool_name) as change:
        row = await _step_and_pool(change.conn, step_id)  # as of the lock
        if not _authentic(row, secret):  # started again meanwhile, with a new secret
            raise NotFound(f"There is no step {step_id} with that secret.")
        if row.state == PENDING:
            raise TooEarly(f"Step {step_id} is not RUNNING yet; try again in {TRY_AGAIN_SECONDS} s.",
                           retry_after=TRY_AGAIN_SECONDS)
        if row.state in STEP_FINAL:
            raise Conflict(f"Step {step_id} is {row.state} already (since {format_time(row.finished)}); "
                           f"a step reports once.")
        await change.conn.execute(update(orm.PreparationStep).where(orm.PreparationStep.id == step_id)
                                  .values(state=status, message=message, finished=now))
        await _settle(change, row.booking_id, now)
        if not change.recorded:
            change.unchanged()
        steps = await booking_steps(change.conn, row.booking_id)
    return next(s for s in steps if s["id"] == step_id)


async def _booking(conn, booking_id: int):
    return (await conn.execute(select(orm.Booking.id, orm.Booking.phase, orm.Booking.start)
                               .where(orm.Booking.id == booking_id))).first()


async def _settle(change, booking_id: int, now: datetime) -> None:
    """Under the pool's lock, after a step changed: a failed or cancelled step fails the
    booking (the rest are cancelled); all completed makes it WAITING."""
    booking = await _booking(change.conn, booking_id)
    if booking.phase != PREPARING:
        return
    steps = (await change.conn.execute(select(orm.PreparationStep).where(
        orm.PreparationStep.booking_id == booking_id).order_by(orm.PreparationStep.position))).all()
    broken = next((s for s in steps if s.state in (FAILED, CANCELLED)), None)
    if broken is not None:
        verb = "failed" if broken.state == FAILED else "was cancelled by its worker"
        cause = f"preparation step {broken.position + 1} ({broken.kind}) {verb}: {broken.message or 'no reason given'}"
        await fail(change, booking, cause, now)
    elif all(s.state == COMPLETED for s in steps):
        await move(change, booking, WAITING, now=now, by="lifecycle",
                   cause=f"preparation done ({len(steps)} step{'s' if len(steps) != 1 else ''})")


async def fail(change, booking, cause: str, now: datetime) -> list:
    """The booking FAILED (it holds nothing from now on) and its unfinished steps CANCELLED;
    returns the ones that were RUNNING, whose workers are to be told (tell_cancelled) once
    the transaction is committed."""
    await move(change, booking, FAILED, now=now, by="lifecycle", cause=cause, cancelled=now, cancel_reason=cause)
    return await _cancel_steps(change.conn, (orm.PreparationStep.booking_id == booking.id,), now,
                               "the booking failed")


async def _cancel_steps(conn, where, now: datetime, message: str) -> list:
    """PENDING and RUNNING steps matching `where` become CANCELLED; the RUNNING ones (id, kind)."""
    running = (await conn.execute(update(orm.PreparationStep).where(*where, orm.PreparationStep.state == RUNNING)
                                  .values(state=CANCELLED, finished=now, message=message)
                                  .returning(orm.PreparationStep.id, orm.PreparationStep.kind))).all()
    await conn.execute(update(orm.PreparationStep).where(*where, orm.PreparationStep.state == PENDING)
                       .values(state=CANCELLED, finished=now, message=message))
    return running


async def tell_cancelled(ctx: Context, steps) -> None:
    """Tell the workers of cancelled RUNNING steps (`DELETE <worker url>/<step>`), all at once,
    best effort (docs/preparation.md, the worker protocol)."""
    async def one(step):
        worker = ctx.workers.get(step.kind)
        if worker is None:
            return
        error = await (ctx.worker_client or WorkerClient()).cancel(worker.url, step.id, worker.token)
        if error:
            log.warning("Step %d (%s) was cancelled but its worker was not told: %s", step.id, step.kind, error)
        else:
            log.info("Step %d (%s) cancelled; its worker was told", step.id, step.kind)
    await asyncio.gather(*(one(step) for step in steps))


# -- the lifecycle's part ---------------------------------------------------------------------

async def _pools_of(ctx: Context, query) -> list[str]:
    async with ctx.engine.connect() as conn:
        return sorted(set((await conn.execute(query)).scalars().all()))


async def begin_due(ctx: Context, now: datetime) -> int:
    """ACCEPTED bookings whose first step is due become PREPARING."""
    first = (orm.PreparationStep.booking_id == orm.Booking.id) & (orm.PreparationStep.position == 0)
    where = (orm.Booking.phase == ACCEPTED, orm.PreparationStep.due <= now)
    moved = 0
    for name in await _pools_of(ctx, select(orm.Pool.name).join(orm.Booking, orm.Booking.pool_id == orm.Pool.id)
                                .join(orm.PreparationStep, first).where(*where)):
        async with locked_pool(ctx.engine, ctx.cache, name) as change:
            rows = (await change.conn.execute(
                select(orm.Booking.id, orm.Booking.phase, orm.Booking.start).join(orm.PreparationStep, first)
                .where(orm.Booking.pool_id == change.pool.id, *where))).all()
            for row in rows:
                quotes = (await change.conn.execute(select(orm.PreparationStep.quote_seconds)
                                                    .where(orm.PreparationStep.booking_id == row.id))).scalars().all()
                await move(change, row, PREPARING, now=now, by="lifecycle",
                           cause=f"preparation began: {len(quotes)} step(s), quoted {sum(quotes)} s before its start")
                moved += 1
            if not rows:
                change.unchanged()
    return moved


async def fail_late(ctx: Context, now: datetime) -> int:
    """PREPARING bookings whose start came fail: their preparation did not finish in time."""
    where = (orm.Booking.phase == PREPARING, orm.Booking.start <= now)
    failed, stopped = 0, []
    for name in await _pools_of(ctx, select(orm.Pool.name).join(orm.Booking, orm.Booking.pool_id == orm.Pool.id)
                                .where(*where)):
        async with locked_pool(ctx.engine, ctx.cache, name) as change:
            rows = (await change.conn.execute(select(orm.Booking.id, orm.Booking.phase, orm.Booking.start)
                                              .where(orm.Booking.pool_id == change.pool.id, *where))).all()
            for row in rows:
                late = (await change.conn.execute(select(orm.PreparationStep).where(
                    orm.PreparationStep.booking_id == row.id, orm.PreparationStep.state != COMPLETED)
                    .order_by(orm.PreparationStep.position))).first()
                what = f"step {late.position + 1} ({late.kind}) was {late.state}" if late else "it was not done"
                stopped += await fail(change, row, f"preparation did not finish by its start "
                                                   f"({format_time(row.start)}): {what}", now)
                failed += 1
            if not rows:
                change.unchanged()
    await tell_cancelled(ctx, stopped)
    return failed


async def cancel_orphaned(ctx: Context, now: datetime) -> None:
    """Steps of bookings that hold nothing (cancelled, expired or rejected offers) never run."""
    open_steps = (orm.PreparationStep.state.in_((PENDING, RUNNING)),
                  orm.PreparationStep.booking_id.in_(select(orm.Booking.id).where(orm.Booking.state == "cancelled")))
    async with ctx.engine.connect() as conn:  # a read first: most rounds find none, and write nothing
        if (await conn.execute(select(orm.PreparationStep.id).where(*open_steps).limit(1))).first() is None:
            return
    async with ctx.engine.begin() as conn:
        stopped = await _cancel_steps(conn, open_steps[1:], now, "the booking ended before its preparation did")
    await tell_cancelled(ctx, stopped)  # a cancelled booking's running step stops at its worker


async def start_ready(ctx: Context, now: datetime) -> int:
    """Start every step that may run now: PENDING, of a PREPARING booking, every step before
    it COMPLETED, not claimed in the last RETRY. Returns how many workers took theirs."""
    earlier = aliased(orm.PreparationStep)
    blocked = select(earlier.id).where(earlier.booking_id == orm.PreparationStep.booking_id,
                                       earlier.position < orm.PreparationStep.position,
                                       earlier.state != COMPLETED).exists()
    async with ctx.engine.connect() as conn:
        ready = (await conn.execute(
            select(orm.PreparationStep, orm.Booking.user, orm.Booking.start.label("booking_start"))
            .join(orm.Booking, orm.Booking.id == orm.PreparationStep.booking_id)
            .where(orm.Booking.phase == PREPARING, orm.PreparationStep.state == PENDING, ~blocked)
            .order_by(orm.PreparationStep.id))).all()
    started = 0
    for step in ready:
        started += await _start(ctx, step, now)
    return started


async def _start(ctx: Context, step, now: datetime) -> bool:
    worker = ctx.workers.get(step.kind)
    secret = secrets.token_urlsafe(32)
    claim = and_(orm.PreparationStep.id == step.id, orm.PreparationStep.state == PENDING,
                 (orm.PreparationStep.started.is_(None)) | (orm.PreparationStep.started <= now - RETRY))
    async with ctx.engine.begin() as conn:
        claimed = await conn.execute(update(orm.PreparationStep).where(claim).values(
            secret_hash=hash_secret(secret), started=now, attempts=orm.PreparationStep.attempts + 1))
    if not claimed.rowcount:
        return False  # another process has it, or tried it a moment ago
    if worker is None:
        await _refused(ctx, step, f"no worker does '{step.kind}' any more (BookingService.preparation_workers)", now)
        return False
    payload = {"step": step.id, "booking": step.booking_id, "user": step.user, "kind": step.kind,
               "params": json.loads(step.params), "deadline": format_time(step.booking_start),
               "callback": {"url": f"{ctx.callback_url}{step.id}", "secret": secret}}
    outcome = await (ctx.worker_client or WorkerClient()).start(worker.url, payload, worker.token)
    if outcome.ok:
        async with ctx.engine.begin() as conn:
            await conn.execute(update(orm.PreparationStep).where(
                orm.PreparationStep.id == step.id, orm.PreparationStep.state == PENDING,
                orm.PreparationStep.secret_hash == hash_secret(secret)).values(state=RUNNING))
        log.info("Step %d (%s) of booking %d started", step.id, step.kind, step.booking_id)
        return True
    if outcome.refused is not None:
        await _refused(ctx, step, f"its worker refused it: {outcome.refused}", now)
    else:
        log.warning("Step %d (%s): %s; trying again in %s", step.id, step.kind, outcome.error, RETRY)
    return False


async def _refused(ctx: Context, step, message: str, now: datetime) -> None:
    async with ctx.engine.connect() as conn:
        pool = (await conn.execute(select(orm.Pool.name).join(orm.Booking, orm.Booking.pool_id == orm.Pool.id)
                                   .where(orm.Booking.id == step.booking_id))).scalar_one()
    async with locked_pool(ctx.engine, ctx.cache, pool) as change:
        updated = await change.conn.execute(update(orm.PreparationStep).where(
            orm.PreparationStep.id == step.id, orm.PreparationStep.state == PENDING)
            .values(state=FAILED, message=message, finished=now))
        if updated.rowcount:
            await _settle(change, step.booking_id, now)
        if not change.recorded:
            change.unchanged()


async def prepare(ctx: Context, now: datetime) -> None:
    """One round: begin what is due, fail what is late, start what is ready."""
    await cancel_orphaned(ctx, now)
    await begin_due(ctx, now)
    await fail_late(ctx, now)
    await start_ready(ctx, now)
