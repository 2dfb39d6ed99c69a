"""What a user's home holds, measured against their level's quota (levels.py):
notebooks (how many, and the largest), saved data, and temp data (under tmp/, as the
retention rules count it); and UsageFigures, which measures each home at most once at a
time, on threads of its own, and keeps the figures for a while."""

from __future__ import annotations

import asyncio
import os
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor

from aglais_common import layout
from aglais_common.layout import TEMP

from ..retention.files import scan_home
from ..retention.rules import Entry

MB = 1024 * 1024


def usage(entries: list[Entry]) -> dict:
    """The quota keys' current values, from a listing of the home (retention_files.scan_home)."""
    files = [e for e in entries if not e.is_dir]
    temp = [e for e in files if e.path.startswith(TEMP + "/")]
    notebooks = [e for e in files if e.path.endswith(".ipynb") and not e.path.startswith(TEMP + "/")
                 and "/.ipynb_checkpoints/" not in f"/{e.path}"]
    return {
        "notebooks": len(notebooks),
        "notebook_mb": round(max((e.size for e in notebooks), default=0) / MB, 1),
        "saved_mb": round(sum(e.size for e in files if not e.path.startswith(TEMP + "/")) / MB, 1),
        "temp_mb": round(sum(e.size for e in temp) / MB, 1),
    }


# What each area of the layout uses, in the usage figures' terms (saved_mb counts the notebooks)
_USED = {layout.NOTEBOOKS: ("notebooks", "{} notebooks"), layout.SAVED: ("saved_mb", "{} MB, notebooks included"),
         layout.TEMP: ("temp_mb", "{} MB")}


def layout_rows(files: layout.Layout | None, retention: dict | None, used: dict | None) -> list[dict]:
    """The account page's "Where your files are": each area the user's server has, where
    it is, how a notebook finds it, the retention rule of the user's level that acts on it,
    and what it uses (where the figures were measured)."""
    rows = []
    for area, where in files.areas() if files else []:
        key, text = _USED.get(area.key, (None, ""))
        rows.append({"key": area.key, "title": area.title, "where": where, "variable": area.variable,
                     "rule": layout.retention_text(area, retention),
                     "used": text.format(used[key]) if used and key in used else ""})
    return rows


def layout_of(user) -> layout.Layout | None:
    """The user's file layout by their spawner (spawner/local.py, spawner/kube.py
    `file_layout`); None for a spawner that has none."""
    files = getattr(user.spawner, "file_layout", None)
    return files() if callable(files) else None


def home_of(user) -> str | None:
    """The user's home when the hub can see it: the local spawner's (spawner/local.py
    `user_home`: a shared-user home, or the system account's); None for other spawners."""
    home = getattr(user.spawner, "user_home", None)
    return home() if callable(home) else None


class UsageFigures:
    """usage() of users' homes for the account page, bounded three ways.

    A home of 200k files takes seconds to walk. Every request for the same user while
    one walk runs waits for that walk (a user reloading their page eight times costs one
    walk); the figures are kept `seconds` for at most `entries` users (the least recently
    asked for go first); and the walks run on `threads` threads of their own, so they
    never hold up logins (argon2 has its own: executors.py) or the default executor.
    `clock` and `scan` are for tests.
    """

    def __init__(self, *, seconds: float, entries: int, threads: int = 1, clock=time.monotonic, scan=scan_home):
        self.seconds, self.entries, self.clock, self.scan = seconds, entries, clock, scan
        self._threads = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="home-scan")
        self._kept: OrderedDict[tuple[str, str], tuple[float, dict | None]] = OrderedDict()
        self._running: dict[tuple[str, str], asyncio.Future] = {}

    async def of(self, name: str, home: str) -> dict | None:
        """The figures of `name`'s `home`; None if it is not a directory (yet)."""
        key = (name, home)
        kept = self._kept.get(key)
        if kept is not None and self.clock() - kept[0] < self.seconds:
            self._kept.move_to_end(key)
            return kept[1]
        running = self._running.get(key)
        if running is None:
            running = self._running[key] = asyncio.ensure_future(self._measure(key))
        # shielded: a page load that goes away does not cancel the walk others wait for
        return await asyncio.shield(running)

    async def _measure(self, key: tuple[str, str]) -> dict | None:
        try:
            figures = await asyncio.get_running_loop().run_in_executor(self._threads, self._walk, key[1])
            self._kept[key] = (self.clock(), figures)
            self._kept.move_to_end(key)
            while len(self._kept) > self.entries:
                self._kept.popitem(last=False)
            return figures
        finally:
            del self._running[key]

    def _walk(self, home: str) -> dict | None:
        try:
            return usage(self.scan(home)) if os.path.isdir(home) else None
        except OSError:  # removed or made unreadable while we looked: no figures this time
            return None
