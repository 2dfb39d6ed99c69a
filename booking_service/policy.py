"""Account levels and what each may book: the configurable rules (traitlets) and the
pure decision of whether a booking request is allowed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from traitlets import Dict, Int, default, validate
from traitlets.config import Configurable

from aglais_common.facts import FLAVOURS, LEVEL_GROUPS, group_levels

from .domain import Forbidden, format_time

# "Book now" works: a start up to this long ago counts as now.
NOW_GRACE = timedelta(minutes=1)


@dataclass(frozen=True)
class Level:
    """What one account level may do."""

    number: int
    name: str
    packages: frozenset[str]  # package names bookable ahead
    custom: bool  # may book explicit resources
    walk_in: str | None  # package used without a booking (on a shared pool)
    max_hours: float  # longest booking
    max_advance_days: float  # how far ahead a booking may start
    flavours: tuple[str, ...] = ("jupyter", "zeppelin")  # servers this level may start


LEVEL_KEYS = {"name", "packages", "custom", "walk_in", "max_hours", "max_advance_days", "flavours"}


def _level(number: int, spec) -> Level:
    where = f"LevelPolicy.levels[{number}]"
    if not isinstance(spec, dict):
        raise ValueError(f"{where} must be a dict with keys {sorted(LEVEL_KEYS)}")
    unknown = set(spec) - LEVEL_KEYS
    if unknown:
        raise ValueError(f"{where} has unknown keys {sorted(unknown)}; known: {sorted(LEVEL_KEYS)}")
    packages = spec.get("packages", [])
    if not isinstance(packages, (list, tuple, set, frozenset)) or not all(
        isinstance(p, str) for p in packages
    ):
        raise ValueError(f"{where}['packages'] must be a list of package names")
    for key in ("max_hours", "max_advance_days"):
        value = spec.get(key, 0)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ValueError(f"{where}[{key!r}] must be a number >= 0")
    flavours = spec.get("flavours", FLAVOURS)
    if not isinstance(flavours, (list, tuple)) or not set(flavours) <= set(FLAVOURS):
        raise ValueError(f"{where}['flavours'] must be a list of {', '.join(FLAVOURS)}")
    walk_in = spec.get("walk_in")
    if walk_in is not None and not isinstance(walk_in, str):
        raise ValueError(f"{where}['walk_in'] must be a package name or None")
    return Level(
        number=number,
        name=str(spec.get("name", f"level-{number}")),
        packages=frozenset(packages),
        custom=bool(spec.get("custom", False)),
        walk_in=walk_in,
        max_hours=float(spec.get("max_hours", 0)),
        max_advance_days=float(spec.get("max_advance_days", 0)),
        flavours=tuple(flavours),
    )


class LevelPolicy(Configurable):
    """Maps hub groups to account levels and says what each level may book."""

    group_levels = Dict(
        key_trait=None,
        value_trait=Int(),
        config=True,
        help="""Hub group name -> account level.

        A user's level is the highest level among their groups that appear here;
        users in none of them get `default_level`. Admins set a user's level by
        putting them in a group (hub admin page or REST API).
        """,
    )

    @default("group_levels")
    def _default_group_levels(self):
        return group_levels(LEVEL_GROUPS)

    default_level = Int(
        1,
        config=True,
        help="""Level of a user who is in none of the groups in `group_levels`.

        1 (basic) by default, so a hub with its own login (and no level groups yet)
        lets its users book the standard packages.
        """,
    )

    levels = Dict(
        config=True,
        help="""Level number -> rules for that level, a dict with the keys:

        - ``name``: shown to people (e.g. "basic").
        - ``packages``: names of packages this level may book ahead.
        - ``custom``: True if this level may book explicit resources
          (``{"cores", "memory_gib"}``) instead of a package.
        - ``walk_in``: the package used without a booking, on a shared pool
          (None: nothing without a booking).
        - ``max_hours``: the longest booking, in hours.
        - ``max_advance_days``: how far ahead a booking may start, in days.
        - ``flavours``: the servers this level may start, of "jupyter" and "zeppelin"
          (default both).

        Admins are exempt from ``max_hours`` and ``max_advance_days`` and may book
        any package or resources. A user whose level is missing here can book nothing.
        """,
    )

    @default("levels")
    def _default_levels(self):
        return {
            0: {"name": "anonymous", "packages": [], "custom": False, "walk_in": "tiny",
                "max_hours": 0, "max_advance_days": 0, "flavours": ["jupyter"]},
            1: {"name": "basic", "packages": ["small", "medium", "large"], "custom": False,
                "walk_in": "small", "max_hours": 72, "max_advance_days": 30},
            2: {"name": "custom", "packages": ["small", "medium", "large"], "custom": True,
                "walk_in": "small", "max_hours": 24 * 14, "max_advance_days": 180},
        }

    @validate("levels")
    def _validate_levels(self, proposal):
        levels = {}
        for number, spec in proposal.value.items():
            try:
                number = int(number)  # JSON/YAML config gives string keys
            except (TypeError, ValueError):
                raise ValueError(f"LevelPolicy.levels keys must be level numbers, not {number!r}")
            _level(number, spec)  # raises with the option's name on bad input
            levels[number] = spec
        return levels

    def level_of(self, groups) -> int:
        found = [self.group_levels[g] for g in groups if g in self.group_levels]
        return max(found) if found else self.default_level

    def rules(self, number: int) -> Level | None:
        spec = self.levels.get(number)
        return None if spec is None else _level(number, spec)


def check_booking(
    level: Level | None,
    *,
    package: str | None,
    start: datetime,
    end: datetime,
    now: datetime,
    admin: bool,
) -> None:
    """Raise Forbidden with the reason if this level may not make this booking.

    `package` is None for explicit resources. Time limits do not bind admins; whether
    the start is in the past is checked for everyone, elsewhere.
    """
    if admin:
        return
    if level is None:
        raise Forbidden("Your account level has no booking rules; ask an admin for a level.")
    if package is None:
        if not level.custom:
            raise Forbidden(
                f"Your account level ({level.name}) cannot book custom resources; "
                f"book one of the packages {_listing(level.packages)} instead."
            )
    elif package not in level.packages:
        if not level.packages:
            raise Forbidden(
                f"Your account level ({level.name}) cannot book ahead; register for an "
                f"account level that can."
            )
        raise Forbidden(
            f"Your account level ({level.name}) cannot book the package '{package}'; "
            f"it may book {_listing(level.packages)}."
        )
    check_length(level, start, end, admin=False)
    latest_start = now + timedelta(days=level.max_advance_days)
    if start > latest_start:
        raise Forbidden(
            f"At your level ({level.name}) a booking may start at most "
            f"{level.max_advance_days:g} days ahead, by {format_time(latest_start)}."
        )


def allowance(level: Level | None, *, admin: bool) -> dict:
    """What a caller may book, for clients that offer only that (the calendar): the
    package names (None: any), explicit resources or not, and the limits (None: none).

    Mirrors `check_booking`: admins are exempt, a level without rules books nothing.
    """
    if admin:
        return {"packages": None, "custom": True, "max_hours": None, "max_advance_days": None}
    if level is None:
        return {"packages": [], "custom": False, "max_hours": 0.0, "max_advance_days": 0.0}
    return {"packages": sorted(level.packages), "custom": level.custom,
            "max_hours": level.max_hours, "max_advance_days": level.max_advance_days}


def check_length(level: Level | None, start: datetime, end: datetime, *, admin: bool) -> None:
    """Raise Forbidden if [start, end) is longer than the level allows (extensions too)."""
    if admin:
        return
    if level is None:
        raise Forbidden("Your account level has no booking rules; ask an admin for a level.")
    length = end - start
    if length > timedelta(hours=level.max_hours):
        raise Forbidden(
            f"Bookings at your level ({level.name}) last at most {level.max_hours:g} hours; "
            f"this one would last {length.total_seconds() / 3600:g} hours."
        )


def _listing(names) -> str:
    return ", ".join(sorted(names)) if names else "(none)"
