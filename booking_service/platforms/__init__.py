"""Platforms (seed 003): where offers come from. Each is a plugin with one call,
`can_i_do_this(request) -> PlatformAnswer`, over one data model (model.py): the local
platform (this service's pools), a remote one (another aglais booking service) and
OpenStack Blazar. `build_platforms` makes them from `BookingService.platforms`, checking
every entry at start-up with a message that names the option."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlparse

from ..domain import BookingError, parse_name
from .blazar import FLAVOR, HOST, BlazarPlatform
from .local import LocalPlatform
from .model import OfferRequest, Platform, PlatformAnswer, PlatformError, PlatformOffer
from .remote import RemotePlatform
from .secret import KEYS, check_secret

__all__ = ["BlazarPlatform", "LocalPlatform", "OfferRequest", "Platform", "PlatformAnswer", "PlatformError",
           "PlatformOffer", "RemotePlatform", "build_platforms"]

OPTION = "BookingService.platforms"
COMMON = {"name", "kind", "description"}
FIELDS = {
    "local": COMMON | {"pools"},
    "remote": COMMON | {"url", "pools", "timeout", *KEYS},
    "blazar": COMMON | {"url", "pool", "resource_type", "flavor_id", "flavor_cores", "flavor_memory_gib",
                        "hypervisor_properties", "resource_properties", "max_probes", "max_amount", "timeout", *KEYS},
}


def _number(spec: dict, key: str, where: str, *, low: float, high: float) -> None:
    value = spec.get(key)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise ValueError(f"{where}.{key} must be a number from {low:g} to {high:g}, not {value!r}")


def _names(spec: dict, key: str, where: str) -> list[str] | None:
    value = spec.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not value:
        raise ValueError(f"{where}.{key} must be a list of pool names")
    try:
        return [parse_name(name, f"{where}.{key}[]") for name in value]
    except BookingError as e:
        raise ValueError(e.message) from None


def _url(spec: dict, where: str) -> None:
    url = spec.get("url")
    parts = urlparse(url) if isinstance(url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{where}.url must be an http(s) URL, not {url!r}")
    if parts.username or parts.password:  # GET /platforms shows the URL: no secret in it
        raise ValueError(f"{where}.url must not hold a user or password; give the credential as 'token', "
                         f"'token_env' or 'token_file'")


def _one(i: int, spec, horizon: timedelta) -> Platform:
    where = f"{OPTION}[{i}]"
    if not isinstance(spec, dict):
        raise ValueError(f"{where} must be a dict like {{'name': 'local', 'kind': 'local'}}")
    kind = spec.get("kind")
    if kind not in FIELDS:
        raise ValueError(f"{where}.kind must be one of {', '.join(sorted(FIELDS))}, not {kind!r}")
    unknown = set(spec) - FIELDS[kind]
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {', '.join(sorted(unknown))} for a {kind} platform; "
                         f"it takes {', '.join(sorted(FIELDS[kind]))}")
    try:
        name = parse_name(spec.get("name"), f"{where}.name")
    except BookingError as e:
        raise ValueError(e.message) from None
    if kind == "local":
        return LocalPlatform(name, _names(spec, "pools", where), horizon=horizon)
    _url(spec, where)
    check_secret(spec, where)
    _number(spec, "timeout", where, low=0.1, high=300)
    if kind == "remote":
        _names(spec, "pools", where)
        return RemotePlatform(name, spec)
    if spec.get("resource_type", HOST) not in (HOST, FLAVOR):
        raise ValueError(f"{where}.resource_type must be {HOST!r} or {FLAVOR!r}, not {spec['resource_type']!r}")
    if spec.get("resource_type") == FLAVOR:
        missing = [k for k in ("flavor_id", "flavor_cores", "flavor_memory_gib") if k not in spec]
        if missing:
            raise ValueError(f"{where}: a {FLAVOR} platform needs {', '.join(missing)} (the flavor's id and size)")
        _number(spec, "flavor_cores", where, low=0.001, high=10_000)
        _number(spec, "flavor_memory_gib", where, low=0.001, high=100_000)
    _number(spec, "max_probes", where, low=1, high=100)
    _number(spec, "max_amount", where, low=1, high=10_000)
    if "pool" in spec:
        try:
            parse_name(spec["pool"], f"{where}.pool")
        except BookingError as e:
            raise ValueError(e.message) from None
    return BlazarPlatform(name, spec)


def build_platforms(specs: list, *, horizon: timedelta = timedelta(days=90)) -> list[Platform]:
    """The platforms of `BookingService.platforms` (empty: the one local platform "local"
    with every reserved pool); ValueError naming the entry and key for anything wrong."""
    if not specs:
        specs = [{"name": "local", "kind": "local"}]
    platforms = [_one(i, spec, horizon) for i, spec in enumerate(specs)]
    names = [p.name for p in platforms]
    for name in names:
        if names.count(name) > 1:
            raise ValueError(f"{OPTION}: two platforms are named {name!r}; names must be distinct")
    local = [p for p in platforms if isinstance(p, LocalPlatform)]
    if sum(p.pools is None for p in local) > 1:
        raise ValueError(f"{OPTION}: only one local platform may leave out 'pools' (it has every pool no other "
                         f"local platform names)")
    named: dict[str, str] = {}
    for p in local:
        for pool in p.pools or []:
            if pool in named:
                raise ValueError(f"{OPTION}: the pool {pool!r} is in the local platforms {named[pool]!r} and "
                                 f"{p.name!r}; a pool belongs to one platform")
            named[pool] = p.name
    for p in local:
        p.others = set(named) - set(p.pools or [])
    return platforms
