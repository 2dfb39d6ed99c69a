"""Throttles and rate limits counted in the database, so they hold across hub restarts.

A limit is "N per window", written like "5/15m" in the configuration. A key such as
"login-fail:account:alice" collects attempts (accounts.AccountStore.record_attempt);
a key is over its limit while it holds N attempts younger than the window, and stays
so until the oldest of them ages out.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import timedelta

from .store import AccountError, AccountStore, now

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


class TooMany(AccountError):
    status = 429

    def __init__(self, message: str, retry_after: timedelta):
        super().__init__(message)
        self.retry_after = retry_after


class Throttle:
    def __init__(self, store: AccountStore):
        self.store = store

    def wait(self, key: str, limit: Limit) -> timedelta | None:
        """None if `key` is under `limit`, else how long until it is."""
        if limit.count <= 0:
            return limit.window
        current = now()
        count, oldest = self.store.count_attempts(key, current - limit.window)
        if count < limit.count:
            return None
        return max(oldest + limit.window - current, timedelta(seconds=1))

    def check(self, checks: list[tuple[str, Limit]], message: str) -> None:
        """Raise TooMany (with the longest wait, in `message`'s {wait}) if any key is over."""
        waits = [w for key, limit in checks if (w := self.wait(key, limit)) is not None]
        if waits:
            longest = max(waits)
            raise TooMany(message.format(wait=say(longest)), longest)

    def hit(self, *keys: str) -> None:
        for key in keys:
            self.store.record_attempt(key)

    def clear(self, key: str) -> None:
        self.store.clear_attempts(key)
