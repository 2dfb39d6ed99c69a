"""The one data model every platform speaks (seed 003): the request is the parsed
"find me a slot" request of POST /offersets (operations.offer_request.Parsed), the answer
a PlatformAnswer of YES or NO, messages and offers. A local plugin decides in code, a
remote one wraps a web service with the same model, so the offer search asks each the
same question, `can_i_do_this(request)`, and merges what they answer."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from ..engine import Resources
from ..operations.offer_request import Parsed

OfferRequest = Parsed  # the request, as POST /offersets parses it: one shared definition


@dataclass(frozen=True)
class PlatformOffer:
    """One offer a platform makes: where, when (epoch seconds), for how long, with what.

    `ref` says where the platform holds it (None for the local platform, whose offers are
    held by the booking rows written under the pools' locks; a remote service's offer set
    and index; a Blazar lease's id), `expires` until when (epoch seconds; None: the set's)."""

    platform: str
    pool: str
    start: int
    duration: int
    resources: Resources
    window: int  # the index, in the request's (kept) windows, of the first one the start lies in
    ref: dict | None = None
    expires: int | None = None

    def key(self) -> tuple:
        """Best first, as engine.offers.Offer.key: earliest, longest, largest; then platform, pool."""
        return (self.start, -self.duration, -self.resources.millicores, -self.resources.mib, self.platform,
                self.pool)


@dataclass
class PlatformAnswer:
    """YES with offers, or NO; `messages` for a person either way. `empty`: for the local
    platform, the engine's nearest later start for each window in which nothing fits."""

    platform: str
    offers: list[PlatformOffer] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    empty: dict = field(default_factory=dict)

    @property
    def result(self) -> str:
        return "YES" if self.offers else "NO"


class PlatformError(Exception):
    """A platform did not answer as its API says (down, timed out, refused the token): that
    platform's answer is NO with this message; the search goes on with the others."""


class Platform:
    """A place offers come from. Subclasses implement `can_i_do_this`; those whose offers are
    held elsewhere implement `accept` (make the held offer a booking there) and `release`
    (give a held offer up: not chosen, a sibling accepted, or expired)."""

    kind = "abstract"
    remote = True  # offers held elsewhere (False: the local platform, held by our own rows)

    def __init__(self, name: str):
        self.name = name

    def describe(self) -> dict:
        return {"name": self.name, "kind": self.kind}

    async def can_i_do_this(self, request: OfferRequest, *, now: datetime, user: str) -> PlatformAnswer:
        raise NotImplementedError

    async def accept(self, ref: dict, *, user: str) -> dict:
        """Book the held offer `ref` there; returns what the platform says of the booking
        (kept as the offer's `remote`). Raises PlatformError if it cannot say."""
        raise NotImplementedError

    async def release(self, ref: dict) -> None:
        """Best effort: the hold also lapses there by itself (Blazar's lease is swept)."""
        raise NotImplementedError

    async def status(self, ref: dict) -> dict:
        """What became of the held offer `ref` there, for repairing an accept cut off midway
        (platform_offers.repair): {"phase": "OFFERED"} (still held, not booked), {"phase":
        "ACCEPTED", ...what accept returns} (booked there) or {"phase": "GONE", "why": ...}
        (expired, rejected or unknown there). Raises PlatformError if it cannot say."""
        raise PlatformError(f"Platform '{self.name}' ({self.kind}) cannot say what became of an offer.")


def window_of(windows, start: datetime | int) -> int | None:
    """The index of the first window [a, b) holding `start` (datetimes or epoch seconds)."""
    for i, (a, b) in enumerate(windows):
        if a <= start < b:
            return i
    return None
