"""REST handlers of offer sets ("find me a slot"): thin, one operation each."""

from __future__ import annotations

from ..operations import offers, platform_offers
from .api import _id
from .base import APIHandler


class OfferSetsHandler(APIHandler):
    async def post(self):
        self.reply(await offers.create_offer_set(self.ctx, self.caller, self.json_body(), self.now()), 201)


class OfferSetHandler(APIHandler):
    async def get(self, set_id):
        self.reply(await offers.get_offer_set(self.ctx, self.caller, _id(set_id), self.now()))


class OfferHandler(APIHandler):
    async def post(self, set_id, index):
        self.reply(await offers.update_offer(self.ctx, self.caller, _id(set_id), int(index), self.json_body(),
                                             self.now()))


class PlatformsHandler(APIHandler):
    async def get(self):
        self.reply(platform_offers.platforms_json(self.ctx))
