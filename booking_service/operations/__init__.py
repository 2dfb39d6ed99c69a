"""The booking service's operations: each reads or changes pools, capacity, packages
and bookings in one transaction, and returns plain JSON-ready data.

Handlers call exactly one of these; the availability engine does the arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from .. import orm
from ..domain import NotFound, format_time, no_such_pool, resources_json
from ..engine import Resources
from ..policy import LevelPolicy
from ..store import TimelineCache


@dataclass
class Context:
    """What every operation needs: the database, the timelines and the rules."""

    engine: AsyncEngine
    policy: LevelPolicy
    cache: TimelineCache = field(default_factory=TimelineCache)
    max_blocks: int = 10_000
    max_query_span: timedelta = timedelta(days=3 * 366)
    alternatives: int = 3
    alternatives_horizon: timedelta = timedelta(days=90)
    walk_in_pool: str | None = None  # the shared pool for servers without a booking
    hold: timedelta = timedelta(minutes=5)  # how long a freed place is kept for the queue's head
    offers: int = 4  # how many offers an offer set makes at most, by default
    offer_hold: timedelta = timedelta(minutes=5)  # how long offers are held for their user
    max_offer_windows: int = 16  # start windows in one offer request
    max_held_offer_sets: int = 3  # offer sets with unexpired offers one (non-admin) user may hold
    warn_before_minutes: list = field(default_factory=lambda: [15, 5])
    hub: object = None  # HubClient: users' levels, stopping servers
    # the largest booking by resources, and the largest package footprint (millicores, MiB)
    max_booking: Resources = Resources(10_000_000, 100_000 * 1024)
    max_package: Resources = Resources(10_000_000, 100_000 * 1024)
    # notices (operations.notices): how long before a start, an end or an offer's expiry
    # its user is told (None: not told), and whether notices are mailed through the hub
    notify_before_start: timedelta | None = timedelta(minutes=60)
    notify_before_end: timedelta | None = timedelta(minutes=30)
    notify_before_offer_expiry: timedelta | None = timedelta(minutes=2)
    mail_notices: bool = True
    # where offers come from (booking_service.platforms): by default the local platform
    # "local", this service's reserved pools
    platforms: list = field(default_factory=lambda: _default_platforms())
    # preparation steps (operations.preparation): kind -> steps.WorkerKind, the client that
    # starts them, the URL prefix workers call back to (ends with '/'; the step id follows)
    workers: dict = field(default_factory=dict)
    worker_client: object = None
    callback_url: str = ""
    # level -> minutes after its start at which a booking nobody started is released
    reclaim_unstarted: dict = field(default_factory=dict)
    max_series_occurrences: int = 100  # occurrences in one recurring booking
    max_series_days: int = 180  # how far after its first start a series may reach


def _default_platforms() -> list:
    from ..platforms import build_platforms  # the plugins use operations' request model: import when needed

    return build_platforms([])


async def find_pool(conn: AsyncConnection, name: str):
    row = (
        await conn.execute(
            select(orm.Pool.id, orm.Pool.name, orm.Pool.kind, orm.Pool.version).where(orm.Pool.name == name)
        )
    ).first()
    if row is None:
        raise no_such_pool(name)
    return row


def footprint(template) -> Resources:
    return Resources(
        template.notebook_millicores + template.spark_workers * template.worker_millicores,
        template.notebook_mib + template.spark_workers * template.worker_mib,
    )


def package_json(template) -> dict:
    return {
        "name": template.name,
        "version": template.version,
        "description": template.description,
        "notebook": resources_json(Resources(template.notebook_millicores, template.notebook_mib)),
        "spark": {
            "workers": template.spark_workers,
            "worker": resources_json(Resources(template.worker_millicores, template.worker_mib)),
        },
        "footprint": resources_json(footprint(template)),
        "created": format_time(template.created),
    }


async def latest_packages(conn: AsyncConnection) -> list:
    """The newest version of every package, by name."""
    newest = (
        select(orm.PackageTemplate.name, func.max(orm.PackageTemplate.version).label("version"))
        .group_by(orm.PackageTemplate.name)
        .subquery()
    )
    rows = await conn.execute(
        select(orm.PackageTemplate)
        .join(
            newest,
            (orm.PackageTemplate.name == newest.c.name) & (orm.PackageTemplate.version == newest.c.version),
        )
        .order_by(orm.PackageTemplate.name)
    )
    return list(rows.all())


async def package_named(conn: AsyncConnection, name: str):
    """The newest version of the named package (one indexed row)."""
    row = (
        await conn.execute(
            select(orm.PackageTemplate).where(orm.PackageTemplate.name == name)
            .order_by(orm.PackageTemplate.version.desc()).limit(1)
        )
    ).first()
    if row is not None:
        return row
    raise NotFound(f"There is no package named '{name}'; GET /packages lists them.")
