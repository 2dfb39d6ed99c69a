"""Preparation steps (seed 004): what a booking asks to have done before it starts, each
done by a worker of its kind, and how long each is quoted to take (pure: no I/O, no clock).

Steps run one after another, in the order given: the booking enters PREPARING at its
start minus the sum of the quotes, and each step is due when the ones before it would
have finished on their quotes.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from .domain import Invalid

PENDING, RUNNING, COMPLETED, FAILED, CANCELLED = "PENDING", "RUNNING", "COMPLETED", "FAILED", "CANCELLED"
STEP_FINAL = frozenset({COMPLETED, FAILED, CANCELLED})
# the states a worker may report in its callback
REPORTED = (COMPLETED, FAILED, CANCELLED)
MAX_STEPS = 16
MAX_PARAMS = 8 * 1024  # bytes of JSON, per step
MAX_MESSAGE = 2000  # characters of a callback's message kept
KIND = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
STAGE_FILE = "stage_file"
# A relative path below the user's data area: plain names, no '..', no hidden tricks.
_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$")
SHA256 = re.compile(r"^[0-9a-f]{64}$")
MAX_FILE = 2**50  # a PiB: a larger size is a typo
# Every step is quoted at least this: a booking enters PREPARING before its start, never at it.
MIN_QUOTE = 60
# ... and at most this: a PiB at a slow worker's bandwidth was a quote of millennia, past
# what a datetime holds (a 500); no booking waits a month for its preparation
MAX_QUOTE = 30 * 24 * 3600


@dataclass(frozen=True)
class WorkerKind:
    """A kind of step and the worker that does it (BookingService.preparation_workers)."""

    kind: str
    url: str  # the worker's single endpoint
    quote_seconds: float  # the fixed part of every step's quote
    bytes_per_second: float | None = None  # if set, a step's `size` adds size / this
    token: str = ""  # sent as 'Authorization: Bearer <token>', if set


@dataclass(frozen=True)
class Step:
    kind: str
    params: dict
    quote: int  # seconds


def parse_workers(config: dict) -> dict[str, WorkerKind]:
    """BookingService.preparation_workers checked: a ValueError names what is wrong."""
    kinds = {}
    for kind, spec in config.items():
        where = f"BookingService.preparation_workers[{kind!r}]"
        if not isinstance(kind, str) or not KIND.match(kind):
            raise ValueError(f"{where}: a kind is lower-case letters, digits and '_', starting with a letter")
        if not isinstance(spec, dict) or not set(spec) <= {"url", "quote_seconds", "bytes_per_second", "token"} \
                or "url" not in spec:
            raise ValueError(f"{where} must be a dict with 'url' and optionally 'quote_seconds', "
                             f"'bytes_per_second', 'token'")
        if not isinstance(spec.get("token", ""), str):
            raise ValueError(f"{where}['token'] must be a string")
        url = urlsplit(str(spec["url"]))
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"{where}['url'] must be an http(s) URL, not {spec['url']!r}")
        numbers = {}
        for key in ("quote_seconds", "bytes_per_second"):
            value = spec.get(key, 0 if key == "quote_seconds" else None)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                    or value < 0 or (key == "bytes_per_second" and value == 0):
                raise ValueError(f"{where}[{key!r}] must be a number {'> 0' if key == 'bytes_per_second' else '>= 0'}")
            numbers[key] = float(value)
        kinds[kind] = WorkerKind(kind, str(spec["url"]), numbers.get("quote_seconds", 0.0),
                                 numbers.get("bytes_per_second"), spec.get("token", ""))
    return kinds


def stage_file_params(params: dict, where: str) -> dict:
    """{"url", "path", "size", "sha256"}: what to fetch, where under the user's data area
    (~/saved) it goes, and the checks it must pass."""
    unknown = set(params) - {"url", "path", "size", "sha256"}
    missing = {"url", "path", "size", "sha256"} - set(params)
    if unknown or missing:
        raise Invalid(f"'{where}' (stage_file) needs exactly 'url', 'path', 'size' and 'sha256'"
                      + (f"; unknown: {', '.join(sorted(unknown))}" if unknown else "")
                      + (f"; missing: {', '.join(sorted(missing))}" if missing else ""))
    url = params["url"]
    # no spaces or control characters: urlsplit drops CR, LF and tab silently, and what is
    # kept is shown in causes and sent to the worker
    if not isinstance(url, str) or len(url) > 2000 or any(c <= " " or c == "\x7f" for c in url):
        raise Invalid(f"'{where}.url' must be an http or https URL, without spaces or control characters")
    try:
        parts = urlsplit(url)
        port_ok = parts.port is None or parts.port > 0  # .port raises for one out of range or not a number
    except ValueError:  # "Invalid IPv6 URL" and the like
        parts, port_ok = None, False
    if not port_ok or parts.scheme not in ("http", "https") or not parts.hostname or parts.username \
            or parts.password:
        raise Invalid(f"'{where}.url' must be an http or https URL with a host, a port (if any) from 1 to 65535 "
                      f"and no user or password, not {url[:100]!r}")
    path = params["path"]
    if not isinstance(path, str) or not path or len(path) > 1000 or \
            not all(_PART.match(part) for part in path.split("/")):
        raise Invalid(f"'{where}.path' must be a relative path of plain names (letters, digits, '._+-', not "
                      f"starting with '.'), such as 'inputs/table.parquet'")
    size = params["size"]
    if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= MAX_FILE:
        raise Invalid(f"'{where}.size' must be the file's size in bytes, a whole number from 0 to {MAX_FILE}")
    digest = params["sha256"]
    if not isinstance(digest, str) or not SHA256.match(digest.lower()):
        raise Invalid(f"'{where}.sha256' must be the file's SHA-256, 64 hexadecimal digits")
    return {"url": url, "path": path, "size": size, "sha256": digest.lower()}


def quote(worker: WorkerKind, params: dict) -> int:
    """Seconds the step is expected to take: the worker's fixed quote, plus its size at the
    worker's bandwidth if it has one; whole seconds, rounded up, and at least MIN_QUOTE."""
    seconds = worker.quote_seconds
    size = params.get("size")
    if worker.bytes_per_second and isinstance(size, int) and not isinstance(size, bool):
        seconds += size / worker.bytes_per_second
    return max(MIN_QUOTE, int(math.ceil(seconds)))


def parse_steps(value, workers: dict[str, WorkerKind], field: str = "steps") -> list[Step]:
    """The `steps` of a booking or an offer request: a list of {"kind": ..., params}."""
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > MAX_STEPS:
        raise Invalid(f"'{field}' must be a list of at most {MAX_STEPS} steps, each {{\"kind\": ..., ...}}")
    steps = []
    for i, item in enumerate(value):
        where = f"{field}[{i}]"
        if not isinstance(item, dict) or not isinstance(item.get("kind"), str):
            raise Invalid(f"'{where}' must be an object with a 'kind', such as "
                          f"{{\"kind\": \"stage_file\", \"url\": ..., \"path\": ..., \"size\": ..., \"sha256\": ...}}")
        kind = item["kind"]
        if kind not in workers:
            known = ", ".join(sorted(workers)) or "none are configured"
            raise Invalid(f"'{where}.kind' is {kind[:64]!r}, which no worker here does (kinds: {known})")
        params = {k: v for k, v in item.items() if k != "kind"}
        if len(json.dumps(params)) > MAX_PARAMS:
            raise Invalid(f"'{where}' is larger than {MAX_PARAMS // 1024} KiB")
        if kind == STAGE_FILE:
            params = stage_file_params(params, where)
        quoted = quote(workers[kind], params)
        if quoted > MAX_QUOTE:
            raise Invalid(f"'{where}' is quoted {quoted} s (its size at the worker's bandwidth), more than the "
                          f"{MAX_QUOTE // 86400} days a step may take; stage a smaller file")
        steps.append(Step(kind, params, quoted))
    return steps


def preparation_time(steps: list[Step]) -> timedelta:
    """How long before its start a booking with these steps enters PREPARING (they run
    one after another: the sum of the quotes)."""
    return timedelta(seconds=sum(step.quote for step in steps))


def due_times(steps: list[Step], start: datetime) -> list[datetime]:
    """When each step is due: the first at start minus the total, each next one when the
    one before would end on its quote."""
    moment = start - preparation_time(steps)
    due = []
    for step in steps:
        due.append(moment)
        moment += timedelta(seconds=step.quote)
    return due


def preparation_kinds(workers: dict[str, WorkerKind]) -> list[dict]:
    """What GET /me says of the workers (never their URLs or tokens): each kind, and what its
    quote is made of, so a client can offer the kinds there are and say when a booking with a
    step can start at the earliest (`quote`'s rule)."""
    return [{"kind": w.kind, "quote_seconds": w.quote_seconds, "bytes_per_second": w.bytes_per_second,
             "min_quote_seconds": MIN_QUOTE}
            for w in sorted(workers.values(), key=lambda w: w.kind)]
