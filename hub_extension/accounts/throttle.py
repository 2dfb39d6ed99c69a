"""Throttles and rate limits counted in the database, so they hold across hub restarts.

A limit is "N per window", written like "5/15m" in the configuration. A key such as
"login-fail:account:alice" collects attempts (accounts.AccountStore.record_attempt);
a key is over its limit while it holds N attempts younger than the window, and stays
so until the oldest of them ages out.
"""

from __future__ import annotations

from datetime import timedelta

from aglais_common.limits import Limit, say  # noqa: F401 (the throttles' names for them)

from .store import AccountError, AccountStore, now


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
