"""REST API v1 handlers: pools, capacity, packages, availability and bookings."""

from __future__ import annotations

from ..domain import Invalid
from ..operations import availability, bookings, forget, packages, pools, sessions
from ..policy import allowance
from ..steps import preparation_kinds
from .base import FORGET, APIHandler
from .ical import my_feed


class PoolsHandler(APIHandler):
    async def get(self):
        self.reply(await pools.list_pools(self.ctx))

    async def post(self):
        self.require_admin()
        self.reply(await pools.create_pool(self.ctx, self.json_body(), self.now()), 201)


class CapacityHandler(APIHandler):
    async def get(self, pool):
        self.require_admin()
        self.reply(await pools.list_capacity(self.ctx, pool, self.query("start"), self.query("end")))

    async def post(self, pool):
        self.require_admin()
        self.reply(await pools.add_capacity(self.ctx, pool, self.json_body(), self.caller.name, self.now()), 201)


class PackagesHandler(APIHandler):
    async def get(self):
        history = self.query("history", "false")
        if history not in ("true", "false"):
            raise Invalid("'history' must be true or false")
        self.reply(await packages.list_packages(self.ctx, history == "true"))

    async def post(self):
        self.require_admin()
        self.reply(await packages.create_package(self.ctx, self.json_body(), self.now()), 201)


class AvailabilityHandler(APIHandler):
    async def get(self, pool):
        picture = self._wants_text()
        answer = await availability.availability(
            self.ctx, pool, self.query("start"), self.query("end"), self.query("grain", "day"),
            self.query("package"), tz=self.query("tz"), picture=picture,
        )
        if picture:
            self.set_header("Content-Type", "text/plain; charset=UTF-8")
            self.finish(answer)
        else:
            self.reply(answer)

    def _wants_text(self) -> bool:
        accept = self.request.headers.get("Accept", "")
        return "text/plain" in accept and "application/json" not in accept


class BookingsHandler(APIHandler):
    async def get(self):
        self.reply(
            await bookings.list_bookings(
                self.ctx, self.caller, self.query("start"), self.query("end"), self.query("user"),
                self.query("pool"), self.now(),
            )
        )

    async def post(self):
        self.reply(await bookings.create_booking(self.ctx, self.caller, self.json_body(), self.now()), 201)


class BookingHandler(APIHandler):
    async def get(self, booking_id):
        self.reply(await bookings.get_booking(self.ctx, self.caller, _id(booking_id), self.now()))

    async def delete(self, booking_id):
        self.reply(await bookings.cancel_booking(self.ctx, self.caller, _id(booking_id), self.now()))

    async def patch(self, booking_id):
        self.reply(await bookings.move_end(self.ctx, self.caller, _id(booking_id), self.json_body(), self.now()))


def _id(text: str) -> int:
    # the route only matches digits; this bounds them to the database's integer range
    value = int(text)
    if value > 2**31 - 1:
        raise Invalid("That id is out of range: no such thing exists.", status=404)
    return value


class MeHandler(APIHandler):
    """Who the caller is to the booking service: name, level, admin or not, and what it may book."""

    async def get(self):
        level = self.ctx.policy.rules(self.caller.level)
        # the caller's own private calendar feed, never anyone else's: its address (null if
        # none; no-store, as every API answer, keeps it out of caches) and its status
        feed_url, feed = await my_feed(self)
        self.reply({
            "name": self.caller.name,
            "kind": self.caller.kind,
            "level": self.caller.level,
            "level_name": None if level is None else level.name,
            "admin": self.caller.admin,
            "can_write": self.caller.can_write,
            "may_book": allowance(level, admin=self.caller.admin),
            "ical": feed,
            "ical_url": feed_url,
            # the kinds of preparation step this service's workers do, so a client offers only those
            "preparation": preparation_kinds(self.ctx.workers),
        })


class EntitlementHandler(APIHandler):
    async def get(self, user):
        self.reply(await sessions.entitlement(self.ctx, self.caller, user, self.now()))


class UserSessionsHandler(APIHandler):
    async def post(self, user):
        body = self.json_body(optional=True)
        status, answer = await sessions.start_session(self.ctx, self.caller, user, body, self.now())
        self.reply(answer, status)


class UserHandler(APIHandler):
    """DELETE: the hub deleted this user; forget them (operations.forget)."""

    def authorise(self):
        self.require(FORGET, self.caller.forget or self.caller.admin)

    async def delete(self, user):
        reason = self.query("reason", "account deleted")
        self.reply(await forget.forget_user(self.ctx, self.caller, user, reason, self.now()))


class QueueHandler(APIHandler):
    async def delete(self, user):
        self.reply(await sessions.leave_queue(self.ctx, self.caller, user, self.now()))


class SessionHandler(APIHandler):
    async def delete(self, session_id):
        reason = self.query("reason", "stopped")
        self.reply(await sessions.stop_session(self.ctx, self.caller, _id(session_id), self.now(), reason))
