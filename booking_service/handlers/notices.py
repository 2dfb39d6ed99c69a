"""REST handlers of a user's notices (operations.notices): thin, one operation each."""

from __future__ import annotations

from ..operations import notices
from .api import _id
from .base import APIHandler


class NoticesHandler(APIHandler):
    async def get(self, user):
        self.reply(await notices.list_notices(self.ctx, self.caller, user, self.now()))


class NoticeHandler(APIHandler):
    async def post(self, user, notice_id):
        self.reply(await notices.mark_notice(self.ctx, self.caller, user, _id(notice_id), self.json_body(),
                                             self.now()))
