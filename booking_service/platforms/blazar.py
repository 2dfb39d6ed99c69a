"""An OpenStack Blazar platform (seed 000's stretch goal): a request becomes Blazar leases
(v1 REST API, a Keystone token as X-Auth-Token), whole hosts (`physical:host`) or
instances of one flavor (`flavor:instance`).

Blazar has no held offers, only leases, and no call that says where a lease would fit
for an ordinary project; so an offer IS a lease: for each candidate start (each window's
first minute and evenly spaced starts after it, at most `max_probes` tries in all) it
creates the lease, longest duration first, and Blazar refuses what does not fit, as it
refuses any overlap. A created lease holds the resources as our offer does; accepting the
offer keeps it (renamed from aglais-offer-... to aglais-booking-...), releasing one (not
chosen, a sibling accepted, expired) deletes it. Hosts' size comes from GET /v1/os-hosts
(the smallest host counts), a flavor's from the config (there is no Nova here)."""

from __future__ import annotations

import math
import re
import secrets
from datetime import datetime, timezone

from ..domain import MIB_PER_GIB, MILLICORES_PER_CORE, Conflict, epoch, from_epoch
from ..engine import Resources
from .http import call_json, message_of
from .model import OfferRequest, Platform, PlatformAnswer, PlatformError, PlatformOffer, window_of
from .secret import read_secret

MINUTE = 60
HOST, FLAVOR = "physical:host", "flavor:instance"
DATE = "%Y-%m-%d %H:%M"  # Blazar's dates: minutes, UTC
# Blazar's lease ids are UUIDs; an id goes into our requests' paths (with the Keystone token),
# so anything else, such as '../../identity/...', is refused rather than sent
LEASE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,63}$")
MAX_HOST_VCPUS, MAX_HOST_MIB = 1 << 16, 1 << 34  # larger than any host: a typo or a lie


def blazar_date(moment: int) -> str:
    return datetime.fromtimestamp(moment, timezone.utc).strftime(DATE)


def no_room(status: int, answer) -> bool:
    """Blazar's NotEnoughHostsAvailable (a BlazarException: code 500 unless the deployment
    maps it), or a 409: the lease does not fit then, which is an answer, not a failure."""
    text = message_of(answer)
    name = str(answer.get("error_name", "")) if isinstance(answer, dict) else ""
    return status == 409 or "NotEnough" in name or "not enough" in text.lower()


class BlazarPlatform(Platform):
    kind = "blazar"

    def __init__(self, name: str, spec: dict):
        super().__init__(name)
        self.spec = spec
        self.url = spec["url"].rstrip("/") + "/"
        self.resource_type = spec.get("resource_type", HOST)
        self.pool = spec.get("pool", name)
        self.max_probes = int(spec.get("max_probes", 8))
        self.max_amount = int(spec.get("max_amount", 16))
        self.timeout = float(spec.get("timeout", 10))

    def describe(self) -> dict:
        return {**super().describe(), "url": self.url, "resource_type": self.resource_type}

    async def _call(self, method: str, path: str, body=None) -> tuple[int, object]:
        return await call_json(self.name, method, self.url + path, body=body, timeout=self.timeout,
                               headers={"X-Auth-Token": read_secret(self.spec, self.name)})

    async def _unit(self) -> Resources:
        """What one host (the smallest) or one instance of the flavor has."""
        if self.resource_type == FLAVOR:
            return Resources(round(self.spec["flavor_cores"] * MILLICORES_PER_CORE),
                             round(self.spec["flavor_memory_gib"] * MIB_PER_GIB))
        status, answer = await self._call("GET", "v1/os-hosts")
        if status in (401, 403):
            raise PlatformError(f"Platform '{self.name}' refused the token ({status}: {message_of(answer)}).")
        if status != 200 or not isinstance(answer, dict) or not isinstance(answer.get("hosts"), list):
            raise PlatformError(f"Platform '{self.name}' did not list its hosts ({status}: {message_of(answer)}).")
        try:
            sizes = [(h["vcpus"], h["memory_mb"]) for h in answer["hosts"]]
        except (KeyError, TypeError):
            sizes = None
        # whole numbers above 0: a host of 0 divided the request by zero, a negative one made
        # offers of negative resources
        if sizes is None or not all(type(c) is int and type(m) is int and 0 < c <= MAX_HOST_VCPUS
                                    and 0 < m <= MAX_HOST_MIB for c, m in sizes):
            raise PlatformError(f"Platform '{self.name}' listed hosts without vcpus and memory_mb (whole numbers "
                                f"above 0).")
        if not sizes:
            raise PlatformError(f"Platform '{self.name}' has no reservable hosts.")
        return Resources(min(c for c, _ in sizes) * MILLICORES_PER_CORE, min(m for _, m in sizes))

    def _reservation(self, amount: int) -> dict:
        if self.resource_type == FLAVOR:
            return {"resource_type": FLAVOR, "flavor_id": self.spec["flavor_id"], "amount": amount,
                    "affinity": None, "resource_properties": self.spec.get("resource_properties", "")}
        return {"resource_type": HOST, "min": amount, "max": amount,
                "hypervisor_properties": self.spec.get("hypervisor_properties", ""),
                "resource_properties": self.spec.get("resource_properties", "")}

    def _candidates(self, request: OfferRequest, now: datetime) -> list[int]:
        earliest = epoch(now) + (-epoch(now)) % MINUTE
        per_window = max(1, self.max_probes // max(1, len(request.windows)))
        starts = set()
        for a, b in request.windows:
            first = max(epoch(a), earliest)
            first += (-first) % MINUTE
            last = epoch(b)
            if first >= last:
                continue
            step = max(MINUTE, (last - first) // per_window // MINUTE * MINUTE)
            starts.update(s for s in range(first, last, step))
        return sorted(starts)

    async def can_i_do_this(self, request: OfferRequest, *, now: datetime, user: str) -> PlatformAnswer:
        if not request.windows:
            return PlatformAnswer(self.name)
        unit = await self._unit()
        amount = max(math.ceil(request.need.millicores / unit.millicores), math.ceil(request.need.mib / unit.mib))
        what = "host(s)" if self.resource_type == HOST else f"instance(s) of flavor {self.spec.get('flavor_id')}"
        if amount > self.max_amount:
            return PlatformAnswer(self.name, messages=[
                f"Platform '{self.name}': the request needs {amount} {what}, more than the {self.max_amount} "
                f"one lease may have here."])
        resources = Resources(unit.millicores * amount, unit.mib * amount)
        shortest = -(-int(request.shortest.total_seconds()) // MINUTE) * MINUTE
        longest = max(shortest, int(request.longest.total_seconds()) // MINUTE * MINUTE)
        durations = sorted({longest, shortest}, reverse=True)
        offers: list[PlatformOffer] = []
        tries, cursor = 0, 0
        try:
            for start in self._candidates(request, now):
                if start < cursor:
                    continue  # an offer's alternatives do not overlap it (as the local search's)
                for duration in durations:
                    if tries >= self.max_probes:
                        break
                    tries += 1
                    lease = await self._lease(start, duration, amount, user)
                    if lease is not None:
                        offers.append(PlatformOffer(self.name, self.pool, start, duration, resources,
                                                    window_of(request.windows, from_epoch(start)), ref={"lease": lease}))
                        cursor = start + duration
                        break
                if len(offers) >= request.count or tries >= self.max_probes:
                    break
        except PlatformError:
            for offer in offers:  # what was held goes: the whole answer is NO
                await self._delete(offer.ref["lease"])
            raise
        messages = [] if offers else [
            f"Platform '{self.name}': no lease of {amount} {what} fits at the {tries} start(s) tried in the "
            f"window(s)."]
        return PlatformAnswer(self.name, offers, messages)

    async def _lease(self, start: int, duration: int, amount: int, user: str) -> str | None:
        """The id of a new lease over [start, start + duration), or None if Blazar says it does not fit."""
        status, answer = await self._call("POST", "v1/leases", {
            "name": f"aglais-offer-{user[:40]}-{secrets.token_hex(4)}", "start_date": blazar_date(start),
            "end_date": blazar_date(start + duration), "reservations": [self._reservation(amount)], "events": []})
        if status in (200, 201, 202) and isinstance(answer, dict):
            lease = answer.get("lease", answer)
            if isinstance(lease, dict) and isinstance(lease.get("id"), str):
                if not LEASE_ID.match(lease["id"]):
                    raise PlatformError(f"Platform '{self.name}' answered a lease id this service does not use in "
                                        f"a path ({lease['id'][:40]!r}); a lease may be left there.")
                return lease["id"]
        if status in (401, 403):
            raise PlatformError(f"Platform '{self.name}' refused the token ({status}: {message_of(answer)}).")
        if no_room(status, answer):
            return None
        raise PlatformError(f"Platform '{self.name}' refused the lease ({status}: {message_of(answer)}).")

    async def _delete(self, lease: str) -> None:
        try:
            await self._call("DELETE", f"v1/leases/{lease}")
        except PlatformError:
            pass  # best effort: listed in its log as left over

    async def accept(self, ref: dict, *, user: str) -> dict:
        status, answer = await self._call("PUT", f"v1/leases/{ref['lease']}",
                                          {"name": f"aglais-booking-{user[:40]}-{ref['lease'][:8]}"})
        if status == 200:
            return {"lease": ref["lease"]}
        if status == 404:
            raise Conflict(f"Platform '{self.name}' no longer has the lease of this offer; ask for new offers.")
        raise PlatformError(f"Platform '{self.name}' did not keep the lease ({status}: {message_of(answer)}).")

    async def release(self, ref: dict) -> None:
        await self._delete(ref["lease"])

    async def status(self, ref: dict) -> dict:
        status, answer = await self._call("GET", f"v1/leases/{ref['lease']}")
        if status == 404:
            return {"phase": "GONE", "why": f"platform '{self.name}' no longer has its lease"}
        try:
            name = str((answer.get("lease") or answer)["name"]) if status == 200 else None
        except (KeyError, TypeError, AttributeError):
            name = None
        if name is None:
            raise PlatformError(f"Platform '{self.name}' did not show the lease ({status}: {message_of(answer)}).")
        # accept renames the lease: that rename is what "booked" means here
        if name.startswith("aglais-booking-"):
            return {"phase": "ACCEPTED", "lease": ref["lease"]}
        return {"phase": "OFFERED"}
