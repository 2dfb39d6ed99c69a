"""Names that the hub side, the spawner and the booking service must agree on."""

from __future__ import annotations

# The hub groups that are account levels, lowest first: the trial level, the level a
# registered account starts at, and the top level. Their defaults on both sides
# (hub_extension.levels.Levels.groups, booking_service.policy.LevelPolicy.group_levels)
# come from here; configure_booking_service passes a hub's own list to its service.
LEVEL_GROUPS = ("level-0", "level-1", "level-n")

# The kinds of server a session may start, and how pages name them.
FLAVOURS = ("jupyter", "zeppelin")
FLAVOUR_LABELS = {"jupyter": "JupyterLab", "zeppelin": "Apache Zeppelin"}
assert set(FLAVOUR_LABELS) == set(FLAVOURS)

# A start's choice of the walk-in, where a booking's id would be (user_options' and the
# booking service's `booking`).
WALK_IN = "walk-in"


def group_levels(groups) -> dict[str, int]:
    """Hub group -> level number, for groups listed lowest first."""
    return {group: number for number, group in enumerate(groups)}
