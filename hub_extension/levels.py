"""Account levels are hub groups; what a level grants is in the group's properties.

A user is in exactly one level group (set_level keeps it so). Other groups may carry
the same properties to add resources: a member gets the most generous value of all
their groups (effective, in aglais_common.quota, as the spawner uses it too). The booking
service reads the groups from the hub's user model (booking_service/policy.py maps the
same names to its booking rules).

Group properties, as the hub stores them (JupyterHub group properties):

    {"quota": {"notebooks": 20, "notebook_mb": 50, "saved_mb": 2048, "temp_mb": 4096},
     "retention": {"temp_days": 7, "saved_months": 6, "warn_days": 14}}

`saved_months: null` keeps saved data and notebooks permanently.
"""

from __future__ import annotations

import copy

from jupyterhub import orm
from traitlets import Dict, List, Unicode, validate
from traitlets.config import Configurable

from aglais_common.facts import LEVEL_GROUPS
from aglais_common.quota import effective  # noqa: F401  (here too: the hub side's name for it)

TRY, REGISTERED = 0, 1

DEFAULT_PROPERTIES = {
    "level-0": {"quota": {"notebooks": 5, "notebook_mb": 10, "saved_mb": 256, "temp_mb": 1024},
                "retention": {"temp_days": 1, "saved_months": 0, "warn_days": 0}},
    "level-1": {"quota": {"notebooks": 50, "notebook_mb": 50, "saved_mb": 5120, "temp_mb": 10240},
                "retention": {"temp_days": 7, "saved_months": 6, "warn_days": 14}},
    "level-n": {"quota": {"notebooks": 500, "notebook_mb": 200, "saved_mb": 102400, "temp_mb": 102400},
                "retention": {"temp_days": 30, "saved_months": None, "warn_days": 30}},
}


class Levels(Configurable):
    groups = List(
        Unicode(),
        default_value=list(LEVEL_GROUPS),
        help="""The hub groups that are account levels, lowest first.

        The first is the level of "give it a try" accounts, which are deleted with their
        files on logout or when culled; the second is the level a registered account
        starts at. `configure_booking_service` hands this list to a hub-managed booking
        service as its `LevelPolicy.group_levels`; an external one needs the same list.
        """,
    ).tag(config=True)

    properties = Dict(
        default_value=DEFAULT_PROPERTIES,
        help="""Group properties to give each level group at start-up (quota and retention;
        see docs/accounts.md). A group listed here has its properties replaced by these
        at every start, as JupyterHub's `load_groups` does; leave a group out to manage
        its properties through the hub's API instead.
        """,
    ).tag(config=True)

    @validate("groups")
    def _two_levels(self, proposal):
        groups = proposal["value"]
        if len(groups) < 2 or len(set(groups)) != len(groups):
            raise ValueError("Levels.groups needs at least two distinct group names: the trial level and the registered level")
        return groups

    @property
    def trial(self) -> str:
        return self.groups[TRY]

    @property
    def registered(self) -> str:
        return self.groups[REGISTERED]

    def load_groups(self) -> dict:
        """The `JupyterHub.load_groups` entries that create the level groups."""
        return {g: ({"properties": copy.deepcopy(self.properties[g])} if g in self.properties else {})
                for g in self.groups}

    def level_of(self, orm_user) -> str | None:
        names = {g.name for g in orm_user.groups}
        return next((g for g in reversed(self.groups) if g in names), None)

    def set_level(self, db, orm_user, level: str) -> None:
        """Put the user in `level` and out of every other level group, in one commit."""
        if level not in self.groups:
            raise ValueError(f"{level!r} is not a level: choose one of {', '.join(self.groups)}")
        group = orm.Group.find(db, level)
        if group is None:
            group = orm.Group(name=level)
            db.add(group)
        orm_user.groups = [g for g in orm_user.groups if g.name not in self.groups] + [group]
        db.commit()
