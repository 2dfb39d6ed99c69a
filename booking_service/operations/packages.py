"""Package templates: immutable, versioned resource bundles (notebook plus Spark workers)."""

from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace

from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError

from .. import orm
from ..domain import (
    MAX_CORES,
    MAX_MEMORY_GIB,
    MIB_PER_GIB,
    MILLICORES_PER_CORE,
    Conflict,
    Invalid,
    parse_cores,
    parse_memory,
    parse_name,
    require_fields,
)
from ..engine import Resources
from . import Context, footprint, latest_packages, package_json

MAX_SPARK_WORKERS = 1000
PACKAGE_FIELDS = {"notebook_cores", "notebook_memory_gib"}
OPTIONAL_FIELDS = {"description", "spark_workers", "worker_cores", "worker_memory_gib"}


async def list_packages(ctx: Context, history: bool = False) -> dict:
    async with ctx.engine.connect() as conn:
        if history:
            rows = (
                await conn.execute(
                    select(orm.PackageTemplate).order_by(orm.PackageTemplate.name, orm.PackageTemplate.version)
                )
            ).all()
        else:
            rows = await latest_packages(conn)
    return {"packages": [package_json(p) for p in rows]}


def parse_package(body, maximum: Resources | None = None) -> dict:
    """The columns of a package from its fields; `maximum` bounds its footprint (the
    notebook and all its workers), in millicores and MiB."""
    body = require_fields(body, {"name"} | PACKAGE_FIELDS, OPTIONAL_FIELDS)
    most = maximum or Resources(MAX_CORES * MILLICORES_PER_CORE, MAX_MEMORY_GIB * MIB_PER_GIB)
    cores, memory = most.millicores / MILLICORES_PER_CORE, most.mib / MIB_PER_GIB
    workers = body.get("spark_workers", 0)
    if isinstance(workers, bool) or not isinstance(workers, int) or not 0 <= workers <= MAX_SPARK_WORKERS:
        raise Invalid(f"'spark_workers' must be a whole number from 0 to {MAX_SPARK_WORKERS}")
    if workers and not {"worker_cores", "worker_memory_gib"} <= set(body):
        raise Invalid("A package with Spark workers needs 'worker_cores' and 'worker_memory_gib'")
    description = body.get("description", "")
    if not isinstance(description, str) or len(description) > 2000:
        raise Invalid("'description' must be text of at most 2000 characters")
    values = dict(
        name=parse_name(body["name"], "name"),
        description=description,
        notebook_millicores=parse_cores(body["notebook_cores"], "notebook_cores", maximum=cores),
        notebook_mib=parse_memory(body["notebook_memory_gib"], "notebook_memory_gib", maximum=memory),
        spark_workers=workers,
        worker_millicores=parse_cores(body.get("worker_cores", 0), "worker_cores", allow_zero=not workers,
                                      maximum=cores),
        worker_mib=parse_memory(body.get("worker_memory_gib", 0), "worker_memory_gib", allow_zero=not workers,
                                maximum=memory),
    )
    total = footprint(SimpleNamespace(**values))
    if not total.fits_in(most):
        raise Invalid(f"The package's footprint (its notebook and all its workers) is "
                      f"{total.millicores / MILLICORES_PER_CORE:g} cores and {total.mib / MIB_PER_GIB:g} GiB; "
                      f"a package may have at most {cores:g} cores and {memory:g} GiB")
    return values


async def create_package(ctx: Context, body, now: datetime) -> dict:
    """Add a new version of the named package (version 1 if the name is new)."""
    values = parse_package(body, ctx.max_package)
    # Two admins saving the same package at once race for the same version number;
    # the unique (name, version) constraint settles it and the loser retries.
    for _attempt in range(5):
        try:
            async with ctx.engine.begin() as conn:
                latest = (
                    await conn.execute(
                        select(func.max(orm.PackageTemplate.version)).where(orm.PackageTemplate.name == values["name"])
                    )
                ).scalar()
                row = dict(values, version=(latest or 0) + 1, created=now)
                await conn.execute(insert(orm.PackageTemplate).values(**row))
            template = orm.PackageTemplate(**row)
            return package_json(template)
        except IntegrityError:
            continue
    raise Conflict(f"Package '{values['name']}' is being changed by someone else; try again.")
