"""Where a user's files are, for both spawners (pure): one definition that the spawners
(which make it), the retention rules (which act on it), the account page (which shows
it), the JupyterLab extension (which copies examples into it) and docs/layout.md share.

Everything is in the server's home, so the file browser shows it all:

    ~/notebooks/  the user's notebooks                       retention: saved
    ~/saved/      the user's saved data                      retention: saved
    ~/tmp/        temp data: retention's temp rule acts on   retention: temp
                  exactly this (hub_extension/retention/rules.py); on Kubernetes the
                  same emptyDir as /tmp, which goes with the pod
    ~/data        the shared data, read-only (where configured): locally a link to the
                  admin's directory, on Kubernetes the `data_volume`, also at /data
    ~/examples    the example notebooks, read-only: locally a link to the directory the
                  hub publishes, on Kubernetes a read-only volume

The names are not ``data/`` for the user's own data: ``~/data`` and ``/data`` are the
shared, read-only data that the seeds call ``/data``; the user's own is ``~/saved``.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

NOTEBOOKS, SAVED, TEMP, DATA, EXAMPLES = "notebooks", "saved", "tmp", "data", "examples"
# What a home's own directories are (made at every start) and what are read-only views
# of something shared (a link, or a mount point, never the user's data).
OWN = (NOTEBOOKS, SAVED, TEMP)
READ_ONLY = (DATA, EXAMPLES)
SHARED_DATA = "/data"  # where the seeds put the shared data; Kubernetes mounts it there

SAVED_RULE, TEMP_RULE = "saved", "temp"  # which retention rule acts on an area (rules.py)


@dataclass(frozen=True)
class Area:
    key: str  # its name in the home
    variable: str  # how a notebook finds it
    title: str  # for people
    retention: str | None  # SAVED_RULE, TEMP_RULE, or None (read-only: nothing of the user's)


AREAS = (
    Area(NOTEBOOKS, "AGLAIS_NOTEBOOKS", "Your notebooks", SAVED_RULE),
    Area(SAVED, "AGLAIS_SAVED", "Your saved data", SAVED_RULE),
    Area(TEMP, "AGLAIS_TEMP", "Temp data", TEMP_RULE),
    Area(DATA, "AGLAIS_DATA", "Shared data (read-only)", None),
    Area(EXAMPLES, "AGLAIS_EXAMPLES", "Example notebooks (read-only)", None),
)
VARIABLES = tuple(area.variable for area in AREAS)


@dataclass(frozen=True)
class Layout:
    """One server's layout, as its processes see it: `home`, and where the read-only
    areas are (None: not configured): ~/data and ~/examples as links locally, on
    Kubernetes /data (also at ~/data) and ~/examples."""

    home: str
    data: str | None = None
    examples: str | None = None

    def in_home(self, key: str) -> str:
        return posixpath.join(self.home, key)

    def path(self, key: str) -> str | None:
        """Where a notebook finds the area (AGLAIS_<KEY>); None when it is not there."""
        if key == DATA:
            return self.data
        if key == EXAMPLES:
            return self.examples
        return self.in_home(key)

    def environment(self) -> dict[str, str]:
        """AGLAIS_NOTEBOOKS, AGLAIS_SAVED, AGLAIS_TEMP, and AGLAIS_DATA, AGLAIS_EXAMPLES
        where configured: how a notebook finds the areas wherever the spawner put them."""
        return {area.variable: path for area in AREAS if (path := self.path(area.key))}

    def areas(self) -> list[tuple[Area, str]]:
        """(area, where the user sees it) of the areas this server has."""
        return [(area, "~/" + area.key) for area in AREAS if self.path(area.key)]


def _count(n: int, unit: str) -> str:
    return f"{n} {unit}" + ("" if n == 1 else "s")


def retention_text(area: Area, rule: dict | None) -> str:
    """How long the level's retention rule (group properties' "retention") keeps `area`."""
    if area.retention is None:
        return "read-only, shared: nothing of yours is kept here"
    if not rule:
        return "kept (your level has no retention rule)"
    if area.retention == TEMP_RULE:
        days = rule.get("temp_days")
        return "kept" if days is None else f"deleted {_count(days, 'day')} after a file's last change"
    months = rule.get("saved_months")
    if months is None:
        return "kept permanently"
    warn = rule.get("warn_days")
    when = "as soon as you are inactive" if months == 0 else f"{_count(months, 'month')} after your last activity"
    return f"deleted {when}" + (f", with a mail {_count(warn, 'day')} before" if warn else "")
