"""The local platform: this service's own reserved pools, decided in code by the offer
search (engine.offers) over the pools' timelines. Its offers are held by booking rows
written under the pools' locks (operations.offers), so it holds nothing itself."""

from __future__ import annotations

from datetime import datetime, timedelta

from ..domain import epoch
from ..engine.offers import OfferRequest as EngineRequest
from ..engine.offers import search
from ..operations.offer_request import engine_windows
from .model import OfferRequest, Platform, PlatformAnswer, PlatformOffer

GRAIN = 60  # offers start on whole minutes


class LocalPlatform(Platform):
    """`pools`: the reserved pools it has; None: every reserved pool no other local platform
    names (the default platform "local", which has them all)."""

    kind = "local"
    remote = False

    def __init__(self, name: str, pools: list[str] | None = None, *, horizon: timedelta = timedelta(days=90)):
        super().__init__(name)
        self.pools = None if pools is None else sorted(set(pools))
        self.horizon = horizon
        self.others: set[str] = set()  # the pools other local platforms name (set by build_platforms)

    def describe(self) -> dict:
        return {**super().describe(), "pools": self.pools}

    def owns(self, pool: str) -> bool:
        return pool in self.pools if self.pools is not None else pool not in self.others

    def answer(self, request: OfferRequest, timelines: dict, *, now: datetime) -> PlatformAnswer:
        """The offers from `timelines` (pool name -> Timeline, read under the pools' locks by
        the caller, who records the chosen ones in the same transaction)."""
        mine = {name: t for name, t in timelines.items() if self.owns(name)}
        if not mine or not request.windows:
            return PlatformAnswer(self.name)
        start_now = epoch(now) + (-epoch(now)) % GRAIN
        found = search(mine, EngineRequest(
            need=request.need, most=request.most, windows=engine_windows(request),
            shortest=int(request.shortest.total_seconds()), longest=int(request.longest.total_seconds()),
            count=request.count, grain=GRAIN, earliest=start_now, horizon=int(self.horizon.total_seconds())))
        return PlatformAnswer(self.name, [PlatformOffer(self.name, o.pool, o.start, o.duration, o.resources, o.window)
                                          for o in found.offers], empty=found.empty)

    async def can_i_do_this(self, request: OfferRequest, *, now: datetime, user: str, timelines=None) -> PlatformAnswer:
        """Pure over the timelines given; the offer search (operations.offers) passes the
        pools' timelines as of their locks."""
        if timelines is None:
            raise ValueError("the local platform answers over timelines read under the pools' locks")
        return self.answer(request, timelines, now=now)
