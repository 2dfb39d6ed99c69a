"""What a user may run at a moment (pure): their active booking, else their level's
walk-in package on the shared pool if it has room and nobody queues ahead of them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from .policy import Level


@dataclass(frozen=True)
class Decision:
    """`kind` is "booking", "walk-in", "queue" (wait: the shared pool is full) or "none"."""

    kind: str
    reason: str
    package: str | None = None
    position: int | None = None  # in the queue, 1 = next


def decide(
    level: Level | None,
    *,
    has_booking: bool,
    walk_in_pool: str | None,
    room_now: bool,
    waiting_ahead: int,
    holds_offer: bool,
) -> Decision:
    if has_booking:
        return Decision("booking", "You have a booking for now.")
    if level is None or level.walk_in is None:
        name = "your account level" if level is None else f"your account level ({level.name})"
        return Decision("none", f"Without a booking, {name} cannot start a server; book a package on the calendar.")
    if walk_in_pool is None:
        return Decision("none", "There is no shared pool for servers without a booking; book a package on the calendar.")
    if holds_offer or (room_now and waiting_ahead == 0):
        return Decision("walk-in", f"The shared pool has room for your level's {level.walk_in} package.",
                        package=level.walk_in)
    position = waiting_ahead + 1
    return Decision("queue", f"The shared pool is full. You are number {position} in the queue; "
                             f"you will be offered a place when one frees.", package=level.walk_in, position=position)


def warning(end: datetime | None, now: datetime, warn_before: list[int]) -> str | None:
    """The most urgent warning due before `end` ("15m", "5m"), or None."""
    if end is None:
        return None
    left = end - now
    due = [m for m in sorted(warn_before) if left <= timedelta(minutes=m)]
    return f"{due[0]}m" if due else None
