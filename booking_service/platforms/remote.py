"""A remote platform: another aglais booking service, asked over its REST API with the same
request model (POST /offersets), with this service's token there. Its offers are held
there, in its offer set; accepting one accepts it there (which rejects its siblings
there), releasing one rejects it there. Whatever goes wrong is that platform's NO with a
message (PlatformError), never a failed search."""

from __future__ import annotations

from datetime import datetime

from ..domain import MIB_PER_GIB, MILLICORES_PER_CORE, BookingError, epoch, parse_name, parse_time
from ..engine import Resources
from ..operations.offer_request import MAX_COUNT, request_json
from .http import call_json, message_of
from .model import OfferRequest, Platform, PlatformAnswer, PlatformError, PlatformOffer, window_of
from .secret import read_secret


class RemotePlatform(Platform):
    kind = "remote"

    def __init__(self, name: str, spec: dict):
        super().__init__(name)
        self.url = spec["url"].rstrip("/") + "/"  # .../services/booking/api/v1/
        self.spec = spec
        self.pools = spec.get("pools")
        self.timeout = float(spec.get("timeout", 10))

    def describe(self) -> dict:
        return {**super().describe(), "url": self.url, "pools": self.pools}

    def _headers(self) -> dict:
        return {"Authorization": f"token {read_secret(self.spec, self.name)}"}

    async def _call(self, method: str, path: str, body=None) -> tuple[int, object]:
        return await call_json(self.name, method, self.url + path, headers=self._headers(), body=body,
                               timeout=self.timeout)

    async def can_i_do_this(self, request: OfferRequest, *, now: datetime, user: str) -> PlatformAnswer:
        if not request.windows:
            return PlatformAnswer(self.name)
        status, answer = await self._call("POST", "offersets", request_json(request, pools=self.pools))
        if status != 201 or not isinstance(answer, dict):
            raise PlatformError(f"Platform '{self.name}' refused the request ({status}: {message_of(answer)}).")
        try:
            offers = [self._offer(o, answer["id"], request) for o in answer["offers"][:MAX_COUNT]]
            # what it says for a person, but not how to accept there: that is done here
            messages = [f"Platform '{self.name}': {m[:300]}" for m in answer["messages"][:20]
                        if isinstance(m, str) and "POST /offersets" not in m]
        except (KeyError, TypeError, ValueError, OverflowError, BookingError) as e:
            raise PlatformError(f"Platform '{self.name}' answered an offer set this service cannot read ({e}).") \
                from None
        return PlatformAnswer(self.name, [o for o in offers if o is not None], messages)

    def _offer(self, offer: dict, set_id: int, request: OfferRequest) -> PlatformOffer | None:
        start, end = parse_time(offer["start"], "start"), parse_time(offer["end"], "end")
        window = window_of(request.windows, start)
        if window is None:  # never trust a remote with our own rule: every offer starts in its window
            return None
        resources = Resources(round(float(offer["resources"]["cores"]) * MILLICORES_PER_CORE),
                              round(float(offer["resources"]["memory_gib"]) * MIB_PER_GIB))
        duration = end - start
        # nor with what was asked: at least the least and at most the most, for a duration asked
        if not (request.need.fits_in(resources) and resources.fits_in(request.most)
                and request.shortest <= duration <= request.longest):
            return None
        return PlatformOffer(self.name, parse_name(offer["pool"], "pool"), epoch(start), epoch(end) - epoch(start), resources,
                             window, ref={"offer_set": int(set_id), "index": int(offer["index"]),
                                          "booking": int(offer["id"])},
                             expires=epoch(parse_time(offer["expires"], "expires")))

    async def accept(self, ref: dict, *, user: str) -> dict:
        status, answer = await self._call("POST", f"offersets/{ref['offer_set']}/offers/{ref['index']}",
                                          {"phase": "ACCEPTED"})
        if status == 200 and isinstance(answer, dict):
            return {"booking": answer.get("id"), "phase": answer.get("phase")}
        if status in (404, 409):
            raise BookingError(f"Platform '{self.name}' could not book the offer: {message_of(answer)}", status=409)
        raise PlatformError(f"Platform '{self.name}' refused to book the offer ({status}: {message_of(answer)}).")

    async def release(self, ref: dict) -> None:
        await self._call("POST", f"offersets/{ref['offer_set']}/offers/{ref['index']}", {"phase": "REJECTED"})

    async def status(self, ref: dict) -> dict:
        status, answer = await self._call("GET", f"offersets/{ref['offer_set']}")
        if status == 404:
            return {"phase": "GONE", "why": f"platform '{self.name}' no longer has offer set {ref['offer_set']}"}
        try:
            if status != 200:
                raise ValueError(f"{status}: {message_of(answer)}")
            offer = next(o for o in answer["offers"] if int(o["index"]) == int(ref["index"]))
            phase, state = str(offer["phase"])[:40], offer.get("state")
        except (KeyError, TypeError, ValueError, StopIteration) as e:
            raise PlatformError(f"Platform '{self.name}' did not say what became of the offer ({e}).") from None
        if phase == "OFFERED":
            return {"phase": "OFFERED"}
        if state == "booked":  # accepted there, perhaps moved on since (PREPARING, WAITING, ...)
            return {"phase": "ACCEPTED", "booking": offer.get("id"), "remote_phase": phase}
        return {"phase": "GONE", "why": f"platform '{self.name}' says it is {phase}"}
