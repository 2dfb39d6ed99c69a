"""REST handlers of recurring bookings (series): thin, one operation each."""

from __future__ import annotations

from ..operations import series
from .api import _id
from .base import APIHandler


class SeriesCollectionHandler(APIHandler):
    async def post(self):
        self.reply(await series.create_series(self.ctx, self.caller, self.json_body(), self.now()), 201)


class SeriesHandler(APIHandler):
    async def get(self, series_id):
        self.reply(await series.get_series(self.ctx, self.caller, _id(series_id), self.now()))

    async def delete(self, series_id):
        self.reply(await series.cancel_series(self.ctx, self.caller, _id(series_id), self.now()))
