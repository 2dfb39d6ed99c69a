"""Property tests of the numpy timeline against the slow reference in engine_reference."""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from booking_service.engine import ZERO, Resources, Timeline

from . import engine_reference as ref

SETTINGS = settings(max_examples=200, deadline=None)
# Small times, so every moment and every whole-second start can be checked by brute force.
LOW, HIGH = 0, 200
# Few keys, so entries get replaced and removed; grants and usages as the service keys them.
keys = st.sampled_from([("grant", i) for i in range(3)] + [("booking", i) for i in range(6)])
times = st.integers(LOW, HIGH)
# Multiples of 250 millicores / 256 MiB make ties with package footprints common.
millicores = st.integers(-12, 24).map(lambda n: n * 250) | st.integers(-5000, 5000)
mibs = st.integers(-12, 24).map(lambda n: n * 256) | st.integers(-5000, 5000)
entries = st.tuples(keys, times, times, millicores, mibs)
entry_lists = st.lists(entries, max_size=12)
ops = st.lists(
    st.one_of(entries.map(lambda e: ("set", e)), keys.map(lambda k: ("remove", k))), max_size=20
)
footprints = st.builds(Resources, st.integers(1, 3000), st.integers(1, 5000))
package_names = st.sampled_from(["tiny", "small", "medium", "large"])
package_sets = st.dictionaries(package_names, footprints, max_size=4)
needs = st.builds(Resources, st.integers(-1000, 6000), st.integers(-1000, 6000))


@st.composite
def ranges(draw, low: int = LOW - 20, high: int = HIGH + 20) -> tuple[int, int]:
    start = draw(st.integers(low, high - 1))
    return start, draw(st.integers(start + 1, high))


# Boundaries reaching before and after all data, often with blocks between two breakpoints.
boundary_lists = st.lists(
    st.integers(LOW - 30, HIGH + 30), min_size=2, max_size=25, unique=True
).map(sorted)


def incremental(entry_list) -> Timeline:
    timeline = Timeline()
    for entry in entry_list:
        timeline.set(*entry)
    return timeline


def run(timeline: Timeline, op_list) -> None:
    for name, arg in op_list:
        if name == "set":
            timeline.set(*arg)
        else:
            timeline.remove(arg)


def assert_matches(timeline: Timeline, model: ref.Model) -> None:
    """Same entries, and the same free function at every moment around the data."""
    assert len(timeline) == len(model)
    for key, entry in model.items():
        assert key in timeline
        assert timeline.get(key) == entry
    for moment in range(LOW - 3, HIGH + 4):
        assert timeline.free_at(moment) == ref.free_at(model, moment), moment


@SETTINGS
@given(entry_lists)
def test_build_matches_reference(entry_list):
    assert_matches(Timeline.build(entry_list), ref.model_of(entry_list))


@SETTINGS
@given(entry_lists, st.randoms(use_true_random=False))
def test_incremental_set_in_any_order_matches_build(entry_list, rnd):
    # With repeated keys the last entry wins, so shuffle only entries with distinct keys.
    distinct = list(ref.model_of(entry_list).items())
    rnd.shuffle(distinct)
    shuffled = [(key, *entry) for key, entry in distinct]
    built = Timeline.build(shuffled)
    assert_matches(incremental(shuffled), ref.model_of(shuffled))
    assert_matches(incremental(entry_list), ref.model_of(entry_list))
    assert_matches(built, ref.model_of(entry_list))


@SETTINGS
@given(entry_lists, ops, st.lists(ranges(), min_size=1, max_size=5))
def test_set_remove_sequences_match_reference(entry_list, op_list, range_list):
    timeline = Timeline.build(entry_list)
    run(timeline, op_list)
    model = ref.apply(ref.model_of(entry_list), op_list)
    assert_matches(timeline, model)
    for start, end in range_list:
        assert timeline.min_free(start, end) == ref.min_free(model, start, end)
        assert timeline.max_free(start, end) == ref.max_free(model, start, end)


@SETTINGS
@given(entry_lists, entries)
def test_remove_restores_previous_answers(entry_list, extra):
    timeline = Timeline.build(entry_list)
    before = [timeline.free_at(t) for t in range(LOW - 3, HIGH + 4)]
    key = ("session", 0)  # a key the lists never use
    timeline.set(key, *extra[1:])
    timeline.remove(key)
    timeline.remove(key)  # removing an absent key is no error
    assert [timeline.free_at(t) for t in range(LOW - 3, HIGH + 4)] == before
    assert key not in timeline


@SETTINGS
@given(entry_lists, ops, st.lists(ranges(), min_size=1, max_size=5))
def test_min_and_max_free_match_reference(entry_list, op_list, range_list):
    timeline = incremental(entry_list)
    run(timeline, op_list)
    model = ref.apply(ref.model_of(entry_list), op_list)
    for start, end in range_list:
        assert timeline.min_free(start, end) == ref.min_free(model, start, end)
        assert timeline.max_free(start, end) == ref.max_free(model, start, end)


@SETTINGS
@given(entry_lists, ops, boundary_lists, package_sets)
def test_blocks_match_reference(entry_list, op_list, boundaries, packages):
    timeline = Timeline.build(entry_list)
    run(timeline, op_list)
    model = ref.apply(ref.model_of(entry_list), op_list)
    assert timeline.blocks(boundaries, packages) == ref.blocks(model, boundaries, packages)


@SETTINGS
@given(entry_lists, ops)
def test_compact_keeps_the_free_function(entry_list, op_list):
    timeline = Timeline.build(entry_list)
    run(timeline, op_list)
    count = len(timeline.breakpoints)
    timeline.compact()
    assert len(timeline.breakpoints) <= count
    assert_matches(timeline, ref.apply(ref.model_of(entry_list), op_list))
    # Changes after compacting still land right.
    run(timeline, op_list[::-1])
    assert_matches(timeline, ref.apply(ref.apply(ref.model_of(entry_list), op_list), op_list[::-1]))


@SETTINGS
@given(entry_lists, ops, needs, st.integers(1, 80), ranges(LOW - 20, HIGH + 40), st.integers(1, 4))
def test_earliest_fits_matches_brute_force(entry_list, op_list, need, duration, window, limit):
    timeline = Timeline.build(entry_list)
    run(timeline, op_list)
    model = ref.apply(ref.model_of(entry_list), op_list)
    after, until = window
    expected = ref.earliest_fits(model, need, duration, after, until, limit)
    assert timeline.earliest_fits(need, duration, after, until, limit) == expected


def test_empty_timeline_is_zero_everywhere():
    timeline = Timeline()
    assert len(timeline) == 0
    assert timeline.min_free(-5, 5) == ZERO == timeline.max_free(-5, 5)
    [block] = timeline.blocks([0, 10], {"tiny": Resources(1, 1)})
    assert (block.free_min, block.free_max, block.packages) == (ZERO, ZERO, {"tiny": (0, 0)})
    assert timeline.earliest_fits(ZERO, 5, 0, 12) == [0, 5]
    assert timeline.earliest_fits(Resources(1, 0), 5, 0, 12) == []


def test_empty_entries_are_ignored_and_remove_the_key():
    timeline = Timeline.build([("a", 5, 5, 100, 100), ("b", 7, 3, 100, 100)])
    assert len(timeline) == 0 and timeline.get("a") is None
    timeline.set("c", 0, 10, 100, 100)
    timeline.set("c", 4, 4, 100, 100)
    assert "c" not in timeline
    assert timeline.max_free(0, 10) == ZERO


def test_block_inside_one_segment_takes_that_segments_value():
    timeline = Timeline.build([("grant", 0, 100, 4000, 8192), ("use", 40, 60, -1000, -1024)])
    blocks = timeline.blocks([10, 20, 45, 50, 55, 150, 200], {"p": Resources(1000, 1024)})
    assert [(b.free_min, b.free_max, b.packages["p"]) for b in blocks] == [
        (Resources(4000, 8192), Resources(4000, 8192), (4, 4)),
        (Resources(3000, 7168), Resources(4000, 8192), (3, 4)),
        (Resources(3000, 7168), Resources(3000, 7168), (3, 3)),
        (Resources(3000, 7168), Resources(3000, 7168), (3, 3)),
        (ZERO, Resources(4000, 8192), (0, 4)),
        (ZERO, ZERO, (0, 0)),
    ]


def test_most_copies_come_from_one_moment_not_from_free_max():
    # The most CPU and the most memory are free at different moments: never both at once.
    timeline = Timeline.build([("cpu", 0, 10, 2000, 1024), ("mem", 10, 20, 1000, 2048)])
    [block] = timeline.blocks([0, 20], {"big": Resources(2000, 2048)})
    assert block.free_max == Resources(2000, 2048)
    assert block.packages["big"] == (0, 0)


def test_negative_free_counts_as_no_copies():
    timeline = Timeline.build([("booking", 0, 10, -1000, -1024)])
    assert timeline.min_free(0, 10) == Resources(-1000, -1024)
    [block] = timeline.blocks([0, 10], {"tiny": Resources(1, 1)})
    assert block.packages["tiny"] == (0, 0)


def test_bad_arguments_are_refused():
    timeline = Timeline.build([("grant", 0, 10, 1000, 1024)])
    with pytest.raises(ValueError):
        timeline.min_free(5, 5)
    with pytest.raises(ValueError):
        timeline.blocks([0, 5, 5], {})
    with pytest.raises(ValueError):
        timeline.blocks([0, 5], {"free": Resources(0, 1024)})
    with pytest.raises(TypeError):
        timeline.blocks([0.0, 5.5], {})
    with pytest.raises(ValueError):
        timeline.earliest_fits(ZERO, 0, 0, 10)
    with pytest.raises(TypeError):
        timeline.set("x", 0.5, 10, 1, 1)
    with pytest.raises(TypeError):
        Timeline.build([("x", 0.5, 10, 1, 1)])
    assert timeline.blocks([0], {}) == []


def test_resources_arithmetic():
    a, b = Resources(1000, 2048), Resources(250, 512)
    assert a + b == Resources(1250, 2560)
    assert a - b == Resources(750, 1536)
    assert b.scale(4) == a
    assert b.fits_in(a) and a.fits_in(a) and not a.fits_in(b)
    assert not Resources(1, 0).fits_in(Resources(0, 100))


def test_many_entries_build_matches_incremental():
    rnd = random.Random(7)
    entry_list = []
    for i in range(2000):
        start = rnd.randrange(0, 100_000)
        entry_list.append(((rnd.choice("gb"), i % 1500), start, start + rnd.randrange(1, 5000),
                           rnd.randrange(-4000, 8000), rnd.randrange(-8192, 16384)))
    built, stepwise = Timeline.build(entry_list), incremental(entry_list)
    assert np.array_equal(built.breakpoints, np.unique(built.breakpoints))
    probes = sorted({t + d for t in built.breakpoints.tolist() for d in (-1, 0)})
    assert [built.free_at(t) for t in probes] == [stepwise.free_at(t) for t in probes]
    boundaries = sorted(rnd.sample(range(-1000, 110_000), 300))
    packages = {"small": Resources(1000, 2048), "large": Resources(4000, 16384)}
    assert built.blocks(boundaries, packages) == stepwise.blocks(boundaries, packages)
    need = Resources(3000, 8192)
    found = built.earliest_fits(need, 600, 0, 110_000, 5)
    assert found == stepwise.earliest_fits(need, 600, 0, 110_000, 5)
