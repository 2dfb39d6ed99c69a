"""Tests of the text picture, on small timelines built by hand so each cell is known."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from booking_service.engine import Resources, Timeline, block_boundaries, render, to_epoch

HOUR = 3600
DAY = 24 * HOUR
GIB = 1024
MONDAY = to_epoch(datetime(2026, 11, 23, tzinfo=timezone.utc))
PACKAGES = {
    "large": Resources(4000, 16 * GIB),
    "medium": Resources(2000, 8 * GIB),
    "small": Resources(1000, 4 * GIB),
    "tiny": Resources(500, 1 * GIB),
}


def day(n: int, hour: int = 0) -> int:
    return MONDAY + n * DAY + hour * HOUR


def week_blocks(timeline: Timeline, grain: str = "day", max_blocks: int = 7) -> list:
    start = datetime(2026, 11, 23, tzinfo=timezone.utc)
    end = datetime(2026, 11, 30, tzinfo=timezone.utc)
    boundaries = [to_epoch(b) for b in block_boundaries(start, end, grain, max_blocks)]
    return timeline.blocks(boundaries, PACKAGES)


def test_week_of_days():
    timeline = Timeline.build([
        (("grant", 1), day(0), day(7), 4000, 16 * GIB),
        # Monday and Friday: 2 cores used all day.
        (("booking", 1), day(0), day(1), -2000, 0),
        (("booking", 2), day(4), day(5), -2000, 0),
        # Tuesday: 2.5 cores used.
        (("booking", 3), day(1), day(2), -2500, 0),
        # Wednesday, and Thursday morning: all but 3384 MiB of memory used.
        (("booking", 4), day(2), day(3, 12), 0, -13000),
        # Thursday afternoon: 3 cores used, so one small package fits then.
        (("booking", 5), day(3, 12), day(4), -3000, 0),
    ])
    picture = render("local", "day", week_blocks(timeline), list(PACKAGES))
    assert picture == (
        "pool local, day blocks from 2026-11-23T00:00:00Z to 2026-11-30T00:00:00Z\n"
        "large  --- --- --- --- --- === ===\n"
        "medium === --- --- --- === === ===\n"
        "small  === === --- ~~~ === === ===\n"
        "tiny   === === === === === === ===\n"
        "       Mon Tue Wed Thu Fri Sat Sun\n"
    )


def test_two_cores_free_throughout_and_more_at_some_moments():
    # 4 cores granted; 2 used all day, and 1 or 2 more at some hours, leaving 2 to 4 free.
    timeline = Timeline.build([
        ("grant", day(0), day(1), 4000, 64 * GIB),
        ("a", day(0, 0), day(0, 6), -2000, -4 * GIB),
        ("b", day(0, 6), day(0, 9), -1000, -4 * GIB),
        ("c", day(0, 12), day(0, 24), -2000, -4 * GIB),
    ])
    packages = {
        "two": Resources(2000, 8 * GIB),
        "three": Resources(3000, 8 * GIB),
        "four": Resources(4000, 8 * GIB),
        "five": Resources(5000, 8 * GIB),
    }
    [block] = timeline.blocks([day(0), day(1)], packages)
    assert block.free_min == Resources(2000, 60 * GIB)
    assert block.free_max == Resources(4000, 64 * GIB)
    assert block.packages == {"two": (1, 2), "three": (0, 1), "four": (0, 1), "five": (0, 0)}
    assert render("local", "day", [block], list(packages)) == (
        "pool local, day blocks from 2026-11-23T00:00:00Z to 2026-11-24T00:00:00Z\n"
        "two   ===\n"
        "three ~~~\n"
        "four  ~~~\n"
        "five  ---\n"
        "      Mon\n"
    )


def test_hour_labels_line_up_under_the_cells():
    timeline = Timeline.build([("grant", day(0, 9), day(0, 11), 500, GIB)])
    blocks = timeline.blocks([day(0, 8) + 1800, day(0, 9), day(0, 10), day(0, 11)], PACKAGES)
    assert render("gpu-a", "hour", blocks, ["tiny"]) == (
        "pool gpu-a, hour blocks from 2026-11-23T08:30:00Z to 2026-11-23T11:00:00Z\n"
        "tiny --- === ===\n"
        "     08  09  10\n"
    )


def test_rows_follow_the_given_order():
    picture = render("local", "week", week_blocks(Timeline(), "week", 1), ["tiny", "large"])
    lines = picture.splitlines()
    assert lines[1:] == ["tiny  ---", "large ---", "      W48"]


def test_missing_blocks_or_packages_are_refused():
    with pytest.raises(ValueError, match="no blocks"):
        render("local", "day", [], ["tiny"])
    with pytest.raises(ValueError, match="'huge'"):
        render("local", "day", week_blocks(Timeline()), ["huge"])
