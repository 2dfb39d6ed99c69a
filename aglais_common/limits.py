"""Rate limits written "N per window" ("5/15m", "20/h"), shared by the hub's throttles
(counted in its database: hub_extension/accounts/throttle.py) and the booking service's
limits on anonymous requests (counted in memory: `WindowCounter`)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import timedelta

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_LIMIT = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([smhd])\s*$")


@dataclass(frozen=True)
class Limit:
    count: int
    window: timedelta

    @classmethod
    def parse(cls, text: str) -> Limit:
        """'5/15m' -> 5 per 15 minutes; '20/h' -> 20 per hour; '0/h' forbids."""
        match = _LIMIT.match(text or "")
        if not match:
            raise ValueError(f"{text!r} is not a limit such as '5/15m' (N per window, in s, m, h or d)")
        count, size, unit = match.groups()
        return cls(int(count), timedelta(seconds=int(size or 1) * _UNITS[unit]))


def say(delay: timedelta) -> str:
    """A wait as a person reads it: 'in 3 minutes', 'in 40 seconds'."""
    seconds = max(1, math.ceil(delay.total_seconds()))
    if seconds < 90:
        return f"in {seconds} seconds"
    if seconds < 90 * 60:
        return f"in {math.ceil(seconds / 60)} minutes"
    return f"in {math.ceil(seconds / 3600)} hours"


class WindowCounter:
    """Hits per key in fixed windows of `limit.window`, in one process's memory: for cheap
    anonymous requests, where a database write per request would cost more than the
    answer. A key may make `limit.count` hits per window (up to twice that across a
    window's edge). At most `max_keys` keys are counted per window; past that, new keys
    pass uncounted, so a flood of addresses costs memory no one else pays for with a
    refusal.
    """

    def __init__(self, limit: Limit, *, max_keys: int = 100_000):
        self.limit = limit
        self.max_keys = max_keys
        self._window = -1
        self._counts: dict[str, int] = {}

    def hit(self, key: str, now: float) -> float | None:
        """Count a hit of `key` at `now` (seconds since the epoch): None if it is allowed,
        else the seconds until the key's window ends (its Retry-After)."""
        size = self.limit.window.total_seconds()
        window = int(now // size)
        if window != self._window:
            self._window, self._counts = window, {}
        count = self._counts.get(key, 0)
        if count >= self.limit.count:
            return max(1.0, (window + 1) * size - now)
        if count or len(self._counts) < self.max_keys:
            self._counts[key] = count + 1
        return None
