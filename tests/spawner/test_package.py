"""A grant of zero is never "no limit" (issue 9, item 4): the pure sizing and the local
spawner's confinement refuse it, so no server starts with everything."""

from __future__ import annotations

import math

import pytest

from spawner import package
from spawner.local import confine


def grant(cores, memory_gib, *, in_package=True):
    sizes = {"cores": cores, "memory_gib": memory_gib}
    session = {"id": 7, "kind": "booking", "pool": "p", "resources": sizes}
    if in_package:
        session["package"] = {"name": "x", "version": 1, "notebook": sizes, "spark": {"workers": 0}}
    return session


@pytest.mark.parametrize("cores, memory", [(0, 1), (1, 0), (0, 0), (-1, 1), (math.nan, 1), (1, 1e-12)],
                         ids=["no-cores", "no-memory", "nothing", "negative", "nan", "memory-rounds-to-0-bytes"])
@pytest.mark.parametrize("in_package", [True, False], ids=["package", "resources"])
def test_a_grant_of_nothing_is_refused(cores, memory, in_package):
    with pytest.raises(ValueError, match="session 7 grants"):
        package.limits(grant(cores, memory, in_package=in_package))


def test_a_grant_is_its_limits():
    assert package.limits(grant(0.25, 1)) == {"cpu_guarantee": 0.25, "cpu_limit": 0.25,
                                               "mem_guarantee": 1024**3, "mem_limit": 1024**3}


@pytest.mark.parametrize("cores, memory, name", [(0, None, "cpu_limit"), (None, 0, "mem_limit"),
                                                  (-0.5, 2**30, "cpu_limit"), (1, -1, "mem_limit")])
def test_confine_refuses_zero_rather_than_leaving_the_server_unlimited(cores, memory, name):
    with pytest.raises(ValueError, match=name):
        confine(cores, memory)


def test_confine_without_limits_changes_nothing():
    confine(None, None)


def test_times_for_people_are_minutes_in_utc():
    assert package.time_for_people("2030-03-04T12:00:59Z") == "2030-03-04 12:00 UTC"
    assert package.time_for_people(None) == "further notice"


@pytest.mark.parametrize("cores, gib, expected", [
    (0.5, 2, ("1", "1664m", "384m")),  # the seeded small: Spark's overhead minimum
    (2.5, 8, ("2", "7372m", "820m")),  # 10% overhead; cores rounded down
])
def test_an_executor_is_one_worker_heap_and_overhead_together(cores, gib, expected):
    grant = {"package": {"spark": {"workers": 3, "worker": {"cores": cores, "memory_gib": gib}}}}
    settings = package.spark(grant)
    got = (settings["spark.executor.cores"], settings["spark.executor.memory"], settings["spark.executor.memoryOverhead"])
    assert got == expected
    assert int(got[1][:-1]) + int(got[2][:-1]) == gib * 1024  # a Kubernetes executor pod's memory is the package's
    assert settings["spark.executor.instances"] == "3" and settings["spark.cores.max"] == str(3 * int(got[0]))
