"""Level policy (pure): levels from groups, what each level may book, and configuration
mistakes caught at start-up with the option's name."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from traitlets import TraitError

from booking_service.domain import Forbidden
from booking_service.policy import LevelPolicy, allowance, check_booking

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=timezone.utc)


def check(policy, level, package="small", hours=2, ahead=timedelta(0), admin=False):
    start = NOW + ahead
    check_booking(policy.rules(level), package=package, start=start, end=start + timedelta(hours=hours),
                  now=NOW, admin=admin)


@pytest.mark.parametrize("groups, level", [
    ([], 1), (["level-0"], 0), (["level-1"], 1), (["level-n"], 2), (["level-0", "level-n"], 2),
    (["physics", "level-0"], 0), (["physics"], 1),
])
def test_level_of_groups(groups, level):
    assert LevelPolicy().level_of(groups) == level


@pytest.mark.parametrize("level, kwargs, reason", [
    (0, {}, "cannot book ahead"),
    (1, {"package": None}, "custom resources"),
    (1, {"package": "tiny"}, "cannot book the package 'tiny'"),
    (1, {"hours": 73}, "at most 72 hours"),
    (1, {"ahead": timedelta(days=31)}, "30 days ahead"),
    (2, {"hours": 24 * 15}, "at most 336 hours"),
    (7, {}, "no booking rules"),
], ids=lambda v: str(v)[:30])
def test_refusals_name_the_reason(level, kwargs, reason):
    with pytest.raises(Forbidden, match=reason):
        check(LevelPolicy(), level, **kwargs)


@pytest.mark.parametrize("level, kwargs", [
    (1, {}), (1, {"hours": 72}), (1, {"ahead": timedelta(days=30)}), (2, {"package": None}),
    (0, {"admin": True, "hours": 1000, "ahead": timedelta(days=400)}),
])
def test_allowed(level, kwargs):
    check(LevelPolicy(), level, **kwargs)


@pytest.mark.parametrize("level, admin", [(0, False), (1, False), (2, False), (7, False), (0, True)])
def test_allowance_offers_what_check_booking_allows(level, admin):
    """What GET /me says a caller may book is exactly what booking checks."""
    policy = LevelPolicy()
    may = allowance(policy.rules(level), admin=admin)
    for package in ["tiny", "small", "medium", "large", None]:
        offered = may["custom"] if package is None else may["packages"] is None or package in may["packages"]
        hours = may["max_hours"] if may["max_hours"] is not None else 1000
        ahead = timedelta(days=may["max_advance_days"] if may["max_advance_days"] is not None else 400)
        if offered and hours > 0:
            check(policy, level, package=package, hours=hours, ahead=ahead, admin=admin)
        else:
            with pytest.raises(Forbidden):
                check(policy, level, package=package, hours=max(hours, 1), ahead=ahead, admin=admin)
    if not admin and policy.rules(level) is not None:
        with pytest.raises(Forbidden):  # one hour more, or one day further ahead, is refused
            check(policy, level, package="small", hours=may["max_hours"] + 1)
        with pytest.raises(Forbidden):
            check(policy, level, package="small", ahead=timedelta(days=may["max_advance_days"] + 1))


def test_configuration_from_json_style_keys():
    policy = LevelPolicy(levels={"1": {"name": "basic", "packages": ["small"], "max_hours": 1, "max_advance_days": 1}})
    assert policy.rules(1).packages == {"small"}
    assert policy.rules(0) is None


@pytest.mark.parametrize("levels, message", [
    ({1: {"packages": "small"}}, "packages"),
    ({1: {"max_hours": -1}}, "max_hours"),
    ({1: {"colour": "red"}}, "unknown keys"),
    ({"one": {}}, "level numbers"),
    ({1: ["small"]}, "must be a dict"),
])
def test_bad_configuration_fails_at_start_up_naming_the_option(levels, message):
    with pytest.raises((ValueError, TraitError), match=message) as info:
        LevelPolicy(levels=levels)
    assert "LevelPolicy.levels" in str(info.value)
