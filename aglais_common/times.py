"""How aglais-hub writes a time: one formatter for programs (the REST APIs), one for
people (pages and mail). Both write UTC: the APIs' day and week boundaries are UTC."""

from __future__ import annotations

from datetime import datetime, timezone


def utc(moment: datetime, what: str = "time") -> datetime:
    """`moment` in UTC; a naive time is an error, never a guess."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{what} {moment.isoformat()} has no time zone; give it in UTC")
    return moment.astimezone(timezone.utc)


def format_time(moment: datetime) -> str:
    """For programs: UTC, whole seconds, with Z (2030-03-04T09:00:00Z). isoformat, as it
    is several times faster than strftime on the availability path, and the same on
    whole-second UTC times of years 1000 on."""
    return utc(moment).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def for_people(moment: datetime, *, date_only: bool = False) -> str:
    """For people: 2030-03-04 09:00 UTC, or 2030-03-04 with `date_only`."""
    moment = utc(moment)
    return f"{moment:%Y-%m-%d}" if date_only else f"{moment:%Y-%m-%d %H:%M} UTC"


def parse_api_time(text: str) -> datetime:
    """A time as format_time writes it (or any ISO 8601 time with an offset), aware."""
    return utc(datetime.fromisoformat(text.replace("Z", "+00:00")))
