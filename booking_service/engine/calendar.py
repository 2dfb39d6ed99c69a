"""Calendar grains in UTC (hour, day, week from Monday, month): where periods start, how a
requested range is cut into display blocks, and the short label of each block."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from aglais_common.times import format_time, utc as _utc  # noqa: F401 (format_time: the engine's name for it)

GRAINS = ("hour", "day", "week", "month")
_PERIOD = {"hour": timedelta(hours=1), "day": timedelta(days=1), "week": timedelta(weeks=1)}
# Fixed English names: strftime("%a") and ("%b") would follow the process locale.
_DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_SECOND = timedelta(seconds=1)


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


def grain_floor(moment: datetime, grain: str) -> datetime:
    """The start of the grain period containing `moment`, in UTC."""
    _check_grain(grain)
    moment = _utc(moment)
    if grain == "hour":
        return moment.replace(minute=0, second=0, microsecond=0)
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if grain == "day":
        return day
    if grain == "week":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def grain_next(moment: datetime, grain: str) -> datetime:
    """The start of the grain period after the one containing `moment`, in UTC."""
    start = grain_floor(moment, grain)
    if grain == "month":
        return start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)
    return start + _PERIOD[grain]


def _month_number(moment: datetime) -> int:
    return moment.year * 12 + moment.month - 1


def _count_blocks(start: datetime, end: datetime, grain: str) -> int:
    """How many grain periods intersect [start, end), by arithmetic rather than by listing."""
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


def block_boundaries(start: datetime, end: datetime, grain: str, max_blocks: int) -> list[datetime]:
    """[start, p1, ..., end]: the grain period starts strictly inside (start, end), with the
    range's own ends, so the blocks are the grain periods clipped to [start, end)."""
    _check_grain(grain)
    start = _utc(start, "start")
    end = _utc(end, "end")
    if start >= end:
        raise ValueError(f"start {format_time(start)} must be before end {format_time(end)}")
    if max_blocks < 1:
        raise ValueError(f"max_blocks must be at least 1, not {max_blocks}")
    count = _count_blocks(start, end, grain)
    if count > max_blocks:
        raise TooManyBlocks(
            f"{format_time(start)} to {format_time(end)} is {count} {grain} blocks, more than the maximum of "
            f"{max_blocks}; ask for a shorter range or a coarser grain"
        )
    boundaries = [start]
    period_start = grain_next(start, grain)
    while period_start < end:
        boundaries.append(period_start)
        period_start = grain_next(period_start, grain)
    boundaries.append(end)
    return boundaries


def block_label(start: datetime, grain: str) -> str:
    """At most three characters naming the grain period containing `start`: the hour "00".."23",
    the weekday "Mon".."Sun", the ISO week "W01".."W53" or the month "Jan".."Dec"."""
    _check_grain(grain)
    start = _utc(start)
    if grain == "hour":
        return f"{start.hour:02d}"
    if grain == "day":
        return _DAY_NAMES[start.weekday()]
    if grain == "week":
        return f"W{start.isocalendar().week:02d}"
    return _MONTH_NAMES[start.month - 1]
