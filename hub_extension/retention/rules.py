"""The data-retention rules as a pure function: given a user's level rules, activity, files
and the warnings already sent, plan what to delete and which warning to send (no I/O,
no clock; the retention service in retention.py does the reading, mailing and deleting).

A home holds temp data under ``tmp/`` (deleted when older than ``temp_days``) and saved
data and notebooks everywhere else (deleted, the whole home's contents, ``saved_months``
after the user's last activity, and only after a warning mailed ``warn_days`` ahead): the
areas of aglais_common.layout. A path is kept for good when marked: ``.aglais-keep``
inside a directory, or ``<name>.aglais-keep`` next to a file or directory. The links to
the read-only areas (``examples``, ``data`` in the home, which the spawner makes at every
start) are not the user's data and are left alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from aglais_common import layout

MARK = ".aglais-keep"
TEMP = layout.TEMP
MONTH = timedelta(days=30)  # saved_months are counted in 30-day months


@dataclass(frozen=True)
class Retention:
    """How long a user's data is kept; None keeps it permanently."""

    temp_days: int | None
    saved_months: int | None
    warn_days: int


@dataclass(frozen=True)
class Entry:
    """One path in a home: relative, '/'-separated, never '' (the home itself)."""

    path: str
    size: int
    mtime: datetime
    is_dir: bool = False
    marked: bool = False  # kept for a reason other than a mark file (an admin's keep list, say)


@dataclass(frozen=True)
class WarningSent:
    """A warning mailed to a user: for the activity it was computed from, when, and the
    date it announced."""

    last_activity: datetime
    sent: datetime
    due: datetime


@dataclass(frozen=True)
class Deletion:
    path: str
    reason: str  # "temp" or "saved"
    size: int
    is_dir: bool
    mtime: datetime


@dataclass(frozen=True)
class Notice:
    """A warning to send: saved data `paths` (the topmost of what goes, with the total
    size under each) will be deleted on `due`."""

    due: datetime
    paths: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class Plan:
    deletions: tuple[Deletion, ...] = ()  # deepest first: a directory after its contents
    notice: Notice | None = None
    warning: WarningSent | None = None  # the warning record to keep for the user
    skipped: str = ""  # why nothing was considered at all

    @property
    def saved_due(self) -> bool:
        return any(d.reason == "saved" for d in self.deletions)


class RuleError(ValueError):
    """A group's retention rule is malformed."""


def _count(rule: dict, key: str, nullable: bool) -> int | None:
    value = rule.get(key)
    if value is None and nullable:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise RuleError(f"retention.{key} must be a whole number >= 0{' or null' if nullable else ''}, not {value!r}")
    return value


def parse_retention(properties: dict) -> Retention | None:
    """The retention rule in one group's properties; None if it has none (not a level
    group); RuleError if it has a malformed one."""
    if not isinstance(properties, dict) or "retention" not in properties:
        return None
    rule = properties["retention"]
    if not isinstance(rule, dict):
        raise RuleError(f"retention must be an object, not {rule!r}")
    return Retention(temp_days=_count(rule, "temp_days", True), saved_months=_count(rule, "saved_months", True),
                     warn_days=_count(rule, "warn_days", False))


def _most(a: int | None, b: int | None) -> int | None:
    return None if a is None or b is None else max(a, b)


def most_generous(rules: list[Retention]) -> Retention | None:
    """The most generous of several groups' rules: the larger number wins, None (keep
    permanently) beats any number. None when there are no rules."""
    if not rules:
        return None
    result = rules[0]
    for rule in rules[1:]:
        result = Retention(_most(result.temp_days, rule.temp_days), _most(result.saved_months, rule.saved_months),
                           max(result.warn_days, rule.warn_days))
    return result


def _ancestors(path: str):
    parts = path.split("/")
    for i in range(1, len(parts)):
        yield "/".join(parts[:i])


def _protected(entries: dict[str, Entry]) -> set[str]:
    """Paths never to delete: marked ones, marks themselves, whatever lies under either,
    and the directories holding any of those (a directory goes only when emptied)."""
    if MARK in entries:  # the home itself is marked
        return set(entries)
    kept = {p for p, e in entries.items()
            if e.marked or p.endswith(MARK) or p + MARK in entries or p + "/" + MARK in entries
            or (p in layout.READ_ONLY and not e.is_dir)}  # the spawner's links, not the user's data
    under = {p for p in entries if any(a in kept for a in _ancestors(p))}
    keep = kept | under
    return keep | {a for p in keep for a in _ancestors(p)}


def _temp_candidates(entries: dict[str, Entry], protected: set[str], temp_days: int | None,
                     now: datetime) -> set[str]:
    if temp_days is None:
        return set()
    limit = now - timedelta(days=temp_days)
    old = {p for p, e in entries.items()
           if p.startswith(TEMP + "/") and p not in protected and e.mtime < limit}
    return _whole_dirs(entries, old)


def _whole_dirs(entries: dict[str, Entry], chosen: set[str]) -> set[str]:
    """`chosen` less the directories that would not be emptied (something under them stays)."""
    staying = set(entries) - chosen
    blocked = {a for p in staying for a in _ancestors(p)}
    return {p for p in chosen if not (entries[p].is_dir and p in blocked)}


def plan(*, rules: list[Retention], running: bool, last_activity: datetime | None, now: datetime,
         entries: list[Entry], warning: WarningSent | None) -> Plan:
    """What to do for one user now.

    `rules` are the retention rules of the user's groups (the most generous applies; none:
    nothing is touched); `running`: the user has a server, so nothing is touched;
    `last_activity` None: saved data is not considered; `warning`: the last warning sent.
    """
    rule = most_generous(rules)
    if rule is None:
        return Plan(warning=warning, skipped="no retention rule")
    if running:
        return Plan(warning=warning, skipped="server running")
    by_path = {e.path: e for e in entries}
    protected = _protected(by_path)
    temp = _temp_candidates(by_path, protected, rule.temp_days, now)
    saved: set[str] = set()
    notice = None
    if rule.saved_months is None:
        warning = None  # kept permanently now: nothing to warn about
    elif last_activity is not None:
        if warning is not None and warning.last_activity != last_activity:
            warning = None  # the user was active since: that warning is void
        expiry = last_activity + rule.saved_months * MONTH
        everything = _whole_dirs(by_path, set(by_path) - protected)
        if not everything:
            warning = None  # nothing left to warn about
        elif now > expiry and warning is not None and now >= warning.due \
                and now >= warning.sent + timedelta(days=rule.warn_days):
            saved = everything - temp
            warning = None  # done with
        elif now >= expiry - timedelta(days=rule.warn_days) and (warning is None or warning.due < expiry):
            notice = Notice(due=max(expiry, now + timedelta(days=rule.warn_days)),
                            paths=_tops(by_path, everything))
    deletions = [Deletion(p, "temp", by_path[p].size, by_path[p].is_dir, by_path[p].mtime) for p in temp]
    deletions += [Deletion(p, "saved", by_path[p].size, by_path[p].is_dir, by_path[p].mtime) for p in saved]
    # deepest first, so that a directory comes after everything in it
    deletions.sort(key=lambda d: (-d.path.count("/"), d.path))
    return Plan(deletions=tuple(deletions), notice=notice, warning=warning)


def _tops(entries: dict[str, Entry], chosen: set[str]) -> tuple[tuple[str, int], ...]:
    """The topmost of `chosen` (those whose directory stays), each with the size of
    everything chosen under it."""
    tops = sorted(p for p in chosen if not any(a in chosen for a in _ancestors(p)))
    sizes = dict.fromkeys(tops, 0)
    for p in chosen:
        top = next((a for a in _ancestors(p) if a in sizes), p)
        if not entries[p].is_dir:
            sizes[top] += entries[p].size
    return tuple((p, sizes[p]) for p in tops)
