"""What a granted session means for a server (pure): its CPU and memory limits, its
environment, and the Spark settings for its workers."""

from __future__ import annotations

import math

from aglais_common.times import for_people, parse_api_time

GIB = 1024**3


def limits(grant: dict) -> dict:
    """Spawner traits for the notebook itself: guarantees equal limits, as a booking
    reserved exactly this much (Spark workers are counted separately, for Spark)."""
    notebook = (grant.get("package") or {}).get("notebook") or grant["resources"]
    cores, memory = float(notebook["cores"]), int(notebook["memory_gib"] * GIB)
    # zero would read as "no limit" to the spawners: a grant of nothing must not start
    # a server with everything (not cores > 0 refuses NaN too)
    if not cores > 0 or not memory > 0:
        raise ValueError(f"session {grant.get('id')} grants {notebook['cores']} cores and "
                         f"{notebook['memory_gib']} GiB: a server needs some of each")
    return {"cpu_guarantee": cores, "cpu_limit": cores, "mem_guarantee": memory, "mem_limit": memory}


def time_for_people(stamp: str | None) -> str:
    """The booking service's 2030-03-04T12:00:00Z as people read it on the spawn page:
    2030-03-04 12:00 UTC (what the hub's mails write)."""
    if not stamp:
        return "further notice"
    return for_people(parse_api_time(stamp))


# Spark's own default overhead (spark.executor.memoryOverhead): 10% of the heap, at least 384 MiB
OVERHEAD_MIN_MIB, OVERHEAD_FACTOR = 384, 0.10


def spark_workers(grant: dict) -> tuple[int, float, int]:
    """(workers, cores per worker, MiB per worker) of the package; (0, 0, 0) without workers
    (and for explicit resources)."""
    package = grant.get("package") or {}
    workers = (package.get("spark") or {}).get("workers", 0)
    if not workers:
        return 0, 0.0, 0
    worker = package["spark"]["worker"]
    return int(workers), float(worker["cores"]), int(worker["memory_gib"] * 1024)


def executor_sizes(cores: float, memory_mib: int) -> tuple[int, int, int]:
    """(cores, heap MiB, overhead MiB) of the one executor a worker of `cores` and
    `memory_mib` holds. Spark's cores are whole: at least 1, else rounded down (what is left
    of a fraction is enforced, where it can be, by the platform: docs/spawner.md). The
    package's memory is the executor's whole footprint, heap and overhead together, so a
    Kubernetes executor pod (heap + overhead) and a local worker's cap are the package's."""
    overhead = max(OVERHEAD_MIN_MIB, math.ceil(memory_mib * OVERHEAD_FACTOR))
    return max(1, math.floor(cores)), memory_mib - overhead, overhead


def spark(grant: dict) -> dict:
    """Spark executor settings from the package's workers (none for explicit resources):
    one executor per worker, `spark.cores.max` so that a standalone master gives no more."""
    workers, cores, memory_mib = spark_workers(grant)
    if not workers:
        return {}
    executor_cores, heap, overhead = executor_sizes(cores, memory_mib)
    return {
        "spark.executor.instances": str(workers),
        "spark.executor.cores": str(executor_cores),
        "spark.executor.memory": f"{heap}m",
        "spark.executor.memoryOverhead": f"{overhead}m",
        "spark.cores.max": str(workers * executor_cores),
        "spark.dynamicAllocation.enabled": "false",
    }


def spark_defaults(grant: dict, extra: dict | None = None) -> str:
    """The spark-defaults.conf a server reads (SPARK_CONF_DIR); `extra` adds the settings of
    the platform's cluster (the local one's master, secret and addresses)."""
    settings = {**spark(grant), **(extra or {})}
    return "".join(f"{key} {value}\n" for key, value in sorted(settings.items()))


def environment(grant: dict) -> dict:
    """What the server learns about its session: package, end, and Spark sizing."""
    package = grant.get("package") or {}
    env = {
        "AGLAIS_SESSION_ID": str(grant["id"]),
        "AGLAIS_SESSION_KIND": grant["kind"],
        "AGLAIS_PACKAGE": package.get("name", "custom"),
        "AGLAIS_PACKAGE_VERSION": str(package.get("version", "")),
        "AGLAIS_POOL": grant["pool"],
        "AGLAIS_BOOKING_ID": "" if grant.get("booking_id") is None else str(grant["booking_id"]),
        "AGLAIS_BOOKING_END": grant.get("until") or "",
        "AGLAIS_FLAVOUR": grant.get("flavour", "jupyter"),
    }
    settings = spark(grant)
    if settings:
        env.update({
            "SPARK_EXECUTOR_INSTANCES": settings["spark.executor.instances"],
            "SPARK_EXECUTOR_CORES": settings["spark.executor.cores"],
            "SPARK_EXECUTOR_MEMORY": settings["spark.executor.memory"],
        })
    return env
