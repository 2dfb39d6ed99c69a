"""How pages name what a package gives (pure): the hub's home page and the spawn page
say the same thing, from the booking service's package JSON (`Package` in its OpenAPI)."""

from __future__ import annotations


def cores(value) -> str:
    return f"{float(value):g} core" + ("" if float(value) == 1 else "s")


def size(resources: dict) -> str:
    """{"cores": 0.5, "memory_gib": 2} -> "0.5 cores and 2 GiB"."""
    return f"{cores(resources['cores'])} and {float(resources['memory_gib']):g} GiB"


def workers(package: dict | None) -> str:
    """"2 Spark workers of 0.5 cores and 2 GiB each", or "no Spark workers"."""
    spark = (package or {}).get("spark") or {}
    count = spark.get("workers", 0)
    if not count:
        return "no Spark workers"
    each = " each" if count > 1 else ""
    return f"{count} Spark worker{'s' if count > 1 else ''} of {size(spark['worker'])}{each}"


def contents(package: dict | None, resources: dict | None = None) -> str:
    """"a notebook of 1 core and 4 GiB, with 2 Spark workers of 0.5 cores and 2 GiB each";
    a booking of explicit resources (no package) is its resources."""
    if not package:
        return f"resources of your own, {size(resources)}" if resources else "nothing"
    return f"a notebook of {size(package['notebook'])}, with {workers(package)}"


def what(package: dict | None) -> str:
    """"the medium package", or "explicit resources"."""
    return f"the {package['name']} package" if package else "explicit resources"
