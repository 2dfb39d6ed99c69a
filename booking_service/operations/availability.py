"""What a pool has free over a range, in calendar blocks: as JSON, or as the design
notes' text picture."""

from __future__ import annotations

from ..domain import Invalid, epoch, format_time, parse_range, parse_zone, resources_json
from ..engine import GRAINS, TooManyBlocks, block_boundaries, render
from . import Context, find_pool, footprint, latest_packages, package_named


async def availability(ctx: Context, pool_name: str, start, end, grain, package=None, *, tz=None, picture=False):
    """The pool's blocks of `grain` over [start, end); in the time zone `tz` (an IANA name)
    days, weeks and months start at its midnights and hours at its full hours."""
    if grain not in GRAINS:
        raise Invalid(f"'grain' must be one of {', '.join(GRAINS)}, not {grain!r}")
    start, end = parse_range(start, end, max_span=ctx.max_query_span)
    zone = parse_zone(tz)
    try:
        boundaries = block_boundaries(start, end, grain, ctx.max_blocks, zone)
    except TooManyBlocks as e:
        raise Invalid(str(e)) from None
    async with ctx.engine.connect() as conn:
        pool = await find_pool(conn, pool_name)
        if package is not None:
            templates = [await package_named(conn, package)]
        else:
            templates = await latest_packages(conn)
        # a package stored before sizes that round to nothing were refused holds nothing
        # and fits without end: it is left out rather than fail everyone's query
        templates = [t for t in templates if min(footprint(t)) > 0]
        timeline = await ctx.cache.current(conn, pool.id, pool.version)
        # No await from here on: the timeline is read whole, as of pool.version.
        blocks = timeline.blocks([epoch(b) for b in boundaries], {t.name: footprint(t) for t in templates})
    names = [t.name for t in sorted(templates, key=lambda t: footprint(t), reverse=True)]
    if picture:
        return render(pool.name, grain, blocks, names, zone)
    times = [format_time(b) for b in boundaries]  # once each: neighbouring blocks share them
    return {
        "pool": pool.name,
        "grain": grain,
        "tz": str(zone) if zone is not None else "UTC",
        "start": times[0],
        "end": times[-1],
        "blocks": [
            {
                "start": times[j],
                "end": times[j + 1],
                "free_min": resources_json(b.free_min),
                "free_max": resources_json(b.free_max),
                "packages": {name: {"min": b.packages[name][0], "max": b.packages[name][1]} for name in names},
            }
            for j, b in enumerate(blocks)
        ],
    }
