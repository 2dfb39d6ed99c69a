"""Calendar grains (hour, day, week from Monday, month) in UTC or in any IANA time zone:
where periods start, how a requested range is cut into display blocks, and the short label
of each block.

In a time zone a period is the stretch of time during which the zone's wall clock shows the
same hour, day, week or month, so a day has 23 or 25 hours across a daylight-saving change,
and a period whose first wall-clock times do not exist (a change at midnight, Samoa's
skipped 30 December 2011) starts at the first instant that does. Every answer is an instant
in UTC. UTC keeps its plain arithmetic (the availability query's hot path); other zones find
each period start from its wall-clock time and the zone's two readings of it (fold), and
bisect only where that time falls in a gap."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone, tzinfo

from aglais_common.times import format_time, utc as _utc  # noqa: F401 (format_time: the engine's name for it)

GRAINS = ("hour", "day", "week", "month")
_PERIOD = {"hour": timedelta(hours=1), "day": timedelta(days=1), "week": timedelta(weeks=1)}
# Fixed English names: strftime("%a") and ("%b") would follow the process locale.
_DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_SECOND = timedelta(seconds=1)
_TICK = timedelta(microseconds=1)
# No zone is more than 14 hours from UTC and no change of offset skips more than a day, so
# the first instant of a period lies within this of its wall-clock start read as UTC.
_REACH = timedelta(hours=40)


class TooManyBlocks(ValueError):
    """The requested range holds more blocks of the grain than may be answered at once."""


def _check_grain(grain: str) -> None:
    if grain not in GRAINS:
        raise ValueError(f"unknown grain {grain!r}; use one of {', '.join(GRAINS)}")


def to_epoch(moment: datetime) -> int:
    """Whole seconds since the Unix epoch (rounded down) of an aware datetime."""
    return (_utc(moment) - _EPOCH) // _SECOND


def from_epoch(seconds: int) -> datetime:
    """The aware UTC datetime of `seconds` since the Unix epoch."""
    return _EPOCH + timedelta(seconds=seconds)


def _is_utc(zone: tzinfo | None) -> bool:
    return zone is None or zone == timezone.utc or getattr(zone, "key", None) in ("UTC", "Etc/UTC")


def _utc_floor(moment: datetime, grain: str) -> datetime:
    if grain == "hour":
        return moment.replace(minute=0, second=0, microsecond=0)
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if grain == "day":
        return day
    if grain == "week":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def _next_start(start: datetime, grain: str) -> datetime:
    """The start of the period after the one starting at `start` (naive or UTC arithmetic)."""
    if grain == "month":
        return start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)
    return start + _PERIOD[grain]


def _key(moment: datetime, grain: str, zone: tzinfo) -> datetime:
    """What names the period `zone`'s clock shows at `moment`, ordered as time goes: the
    wall-clock start (naive) of its day, week or month; for hours, the instant (UTC) the
    hour began: when the clock last showed a full hour, or changed if it did since, so a
    repeated hour is two periods, as a clock shows it."""
    local = moment.astimezone(zone)
    if grain != "hour":
        return _utc_floor(local.replace(tzinfo=None, fold=0), grain)
    offset = local.utcoffset()
    start = moment - timedelta(minutes=local.minute, seconds=local.second, microseconds=local.microsecond)
    if start.astimezone(zone).utcoffset() != offset:  # the clock changed within this hour
        start = _first_instant(start, moment, lambda instant: instant.astimezone(zone).utcoffset() == offset)
    return start


def _as_instant(key: datetime) -> datetime:
    """A key read as UTC: within _REACH of the period's first instant."""
    return key if key.tzinfo is not None else key.replace(tzinfo=timezone.utc)


def _following(key: datetime, grain: str) -> datetime:
    """Where to look for the period after the one named `key`: its wall-clock start, or for
    hours the instant an hour later."""
    return key + _PERIOD["hour"] if key.tzinfo is not None else _next_start(key, grain)


def _wall_instants(key: datetime, zone: tzinfo) -> list[datetime]:
    """The instants at which the period named `key` may start: for a wall-clock time, the
    zone's two readings of it (fold 0 and 1), equal except in a repeated or skipped hour."""
    if key.tzinfo is not None:
        return [key]
    return sorted({key.replace(tzinfo=zone, fold=fold).astimezone(timezone.utc) for fold in (0, 1)})


def _first_instant(low: datetime, high: datetime, reached) -> datetime:
    """The first whole second in (low, high] at which `reached` holds, where it holds at
    `high`, not at `low`, and from its first second on (zone changes fall on whole seconds)."""
    lo, hi = to_epoch(low), -((_EPOCH - high) // _SECOND)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if reached(from_epoch(mid)):
            hi = mid
        else:
            lo = mid
    return from_epoch(hi)


def _zone_start(key: datetime, zone: tzinfo, before: datetime, after: datetime, reached) -> datetime:
    """The first instant in (before, after] at which `reached` holds, looked for first where
    the period named `key` should start, then, where that wall-clock time falls in a gap of
    the zone, by bisection."""
    for candidate in _wall_instants(key, zone):
        if before < candidate <= after and reached(candidate) and not reached(candidate - _TICK):
            return candidate
    return _first_instant(max(before, _as_instant(key) - _REACH), min(after, _as_instant(key) + _REACH), reached)


def grain_floor(moment: datetime, grain: str, zone: tzinfo | None = None) -> datetime:
    """The start of the grain period containing `moment` in `zone` (default UTC), in UTC."""
    _check_grain(grain)
    moment = _utc(moment)
    if _is_utc(zone):
        return _utc_floor(moment, grain)
    key = _key(moment, grain, zone)
    return _zone_start(key, zone, _as_instant(key) - _REACH - _SECOND, moment,
                       lambda instant: _key(instant, grain, zone) >= key)


def grain_next(moment: datetime, grain: str, zone: tzinfo | None = None) -> datetime:
    """The start of the grain period after the one containing `moment`, in UTC."""
    _check_grain(grain)
    moment = _utc(moment)
    if _is_utc(zone):
        return _next_start(_utc_floor(moment, grain), grain)
    key = _key(moment, grain, zone)
    following = _following(key, grain)
    return _zone_start(following, zone, moment, _as_instant(following) + _REACH,
                       lambda instant: _key(instant, grain, zone) > key)


def _month_number(moment: datetime) -> int:
    return moment.year * 12 + moment.month - 1


def _count_blocks(start: datetime, end: datetime, grain: str) -> int:
    """How many UTC grain periods intersect [start, end), by arithmetic rather than by listing."""
    first = grain_next(start, grain)
    if first >= end:
        return 1
    if grain == "month":
        last = grain_floor(end, grain)
        inside = _month_number(last) - _month_number(first) + (1 if last < end else 0)
    else:
        # The period starts first + k * period that lie before end: ceil((end - first) / period).
        inside = -((first - end) // _PERIOD[grain])
    return inside + 1


def _too_many(start: datetime, end: datetime, grain: str, count: int, max_blocks: int, about: str = "") -> TooManyBlocks:
    return TooManyBlocks(
        f"{format_time(start)} to {format_time(end)} is {about}{count} {grain} blocks, more than the maximum of "
        f"{max_blocks}; ask for a shorter range or a coarser grain"
    )


def block_boundaries(start: datetime, end: datetime, grain: str, max_blocks: int,
                     zone: tzinfo | None = None) -> list[datetime]:
    """[start, p1, ..., end]: the grain period starts (in `zone`, default UTC) strictly
    inside (start, end), with the range's own ends, so the blocks are the grain periods
    clipped to [start, end)."""
    _check_grain(grain)
    start = _utc(start, "start")
    end = _utc(end, "end")
    if start >= end:
        raise ValueError(f"start {format_time(start)} must be before end {format_time(end)}")
    if max_blocks < 1:
        raise ValueError(f"max_blocks must be at least 1, not {max_blocks}")
    count = _count_blocks(start, end, grain)
    local = not _is_utc(zone)
    # A zone's periods are its UTC ones shifted by its offset, and a daylight-saving change
    # adds or drops one hour: within two of the UTC count. Beyond that, refuse unlisted.
    if count > max_blocks + (2 if local else 0):
        raise _too_many(start, end, grain, count, max_blocks, "about " if local else "")
    boundaries = [start]
    period_start = grain_next(start, grain, zone)
    while period_start < end:
        boundaries.append(period_start)
        period_start = grain_next(period_start, grain, zone)
    boundaries.append(end)
    if len(boundaries) - 1 > max_blocks:
        raise _too_many(start, end, grain, len(boundaries) - 1, max_blocks)
    return boundaries


def block_label(start: datetime, grain: str, zone: tzinfo | None = None) -> str:
    """At most three characters naming the grain period containing `start` in `zone`: the
    hour "00".."23", the weekday "Mon".."Sun", the ISO week "W01".."W53" or the month
    "Jan".."Dec"."""
    _check_grain(grain)
    start = _utc(start)
    if not _is_utc(zone):
        start = start.astimezone(zone)
    if grain == "hour":
        return f"{start.hour:02d}"
    if grain == "day":
        return _DAY_NAMES[start.weekday()]
    if grain == "week":
        return f"W{start.isocalendar().week:02d}"
    return _MONTH_NAMES[start.month - 1]
