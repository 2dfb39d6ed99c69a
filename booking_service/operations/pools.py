"""Pools and their capacity grants."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from .. import orm
from ..domain import (
    Conflict,
    Invalid,
    no_such_pool,
    format_time,
    parse_cores,
    parse_memory,
    parse_name,
    parse_range,
    require_fields,
    resources_json,
)
from ..engine import Resources
from ..store import locked_pool
from . import Context, find_pool

POOL_KINDS = ("reserved", "shared")


def pool_json(pool) -> dict:
    return {
        "name": pool.name,
        "description": pool.description,
        "kind": pool.kind,
        "created": format_time(pool.created),
    }


async def list_pools(ctx: Context) -> dict:
    async with ctx.engine.connect() as conn:
        rows = (await conn.execute(select(orm.Pool).order_by(orm.Pool.name))).all()
    return {"pools": [pool_json(p) for p in rows]}


async def create_pool(ctx: Context, body, now: datetime) -> dict:
    body = require_fields(body, {"name", "kind"}, {"description"})
    name = parse_name(body["name"], "name")
    kind = body["kind"]
    if kind not in POOL_KINDS:
        raise Invalid(f"'kind' must be 'reserved' (booked ahead) or 'shared' (walk-in), not {kind!r}")
    description = body.get("description", "")
    if not isinstance(description, str) or len(description) > 2000:
        raise Invalid("'description' must be text of at most 2000 characters")
    values = {"name": name, "kind": kind, "description": description, "version": 0, "created": now}
    try:
        async with ctx.engine.begin() as conn:
            await conn.execute(insert(orm.Pool).values(**values))
    except IntegrityError:
        raise Conflict(f"A pool named '{name}' exists already; pick another name.") from None
    return pool_json(orm.Pool(**values))


def grant_json(grant) -> dict:
    return {
        "id": grant.id,
        "start": format_time(grant.start),
        "end": format_time(grant.end),
        **resources_json(Resources(grant.millicores, grant.mib)),
        "created": format_time(grant.created),
        "created_by": grant.created_by,
    }


async def add_capacity(ctx: Context, pool_name: str, body, who: str, now: datetime) -> dict:
    body = require_fields(body, {"start", "end", "cores", "memory_gib"})
    start, end = parse_range(body["start"], body["end"])
    millicores = parse_cores(body["cores"], allow_zero=True)
    mib = parse_memory(body["memory_gib"], allow_zero=True)
    if millicores == 0 and mib == 0:
        raise Invalid("A capacity grant needs some cores or some memory")
    async with locked_pool(ctx.engine, ctx.cache, pool_name) as change:
        pool = change.pool
        if pool is None:
            raise no_such_pool(pool_name)
        values = dict(start=start, end=end, millicores=millicores, mib=mib, created=now, created_by=who)
        grant = await change.insert(orm.CapacityGrant, **values)
    return {"pool": pool.name, **grant_json(orm.CapacityGrant(id=grant.id, **values))}


async def list_capacity(ctx: Context, pool_name: str, start, end) -> dict:
    start, end = parse_range(start, end, max_span=ctx.max_query_span)
    async with ctx.engine.connect() as conn:
        pool = await find_pool(conn, pool_name)
        rows = (
            await conn.execute(
                select(orm.CapacityGrant)
                .where(orm.CapacityGrant.pool_id == pool.id,
                       orm.CapacityGrant.start < end, orm.CapacityGrant.end > start)
                .order_by(orm.CapacityGrant.start, orm.CapacityGrant.id)
            )
        ).all()
    return {"pool": pool.name, "start": format_time(start), "end": format_time(end),
            "grants": [grant_json(g) for g in rows]}
