"""The private calendar feed: the API that makes, renews and revokes a user's feed
(`api/v1/me/ical`, logged in as any API call), and the feed itself (`ical/<token>.ics`),
which calendar applications fetch with no login, so the secret in its address is all
that guards it: no cookies read or set, nothing cached by shared caches, the token never
logged, and rate limits keyed on what a client cannot forge."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from tornado import web

from aglais_common.client_address import client_address
from aglais_common.limits import WindowCounter

from ..operations import ical
from .base import APIHandler, error_json

log = logging.getLogger("booking_service")


@dataclass
class FeedLimits:
    """The anonymous feed's rate limits, per process: per feed (a leaked address polled
    hard) and per client address (someone trying addresses)."""

    per_feed: WindowCounter
    per_address: WindowCounter
    trusted_proxy_hops: int = 1


def public_url(handler: web.RequestHandler) -> str:
    """The service's public address with its prefix: BookingService.public_url, else the
    one this request came to (its Host header, which the caller chose: it only ever sees
    its own feed's address built from it)."""
    configured = handler.settings["ical"].public_url
    if configured:
        return configured
    request = handler.request
    return f"{request.protocol}://{request.host}{handler.settings['booking_prefix']}"


def feed_address(handler: web.RequestHandler, token: str | None) -> str | None:
    """The feed's full address for `token`, or None for no feed."""
    return None if token is None else ical.feed_url(public_url(handler), token)


async def my_feed(handler: APIHandler) -> tuple[str | None, dict]:
    """The caller's own feed's address (None if none) and status."""
    token, status = await ical.feed_status(handler.ctx, handler.caller, handler.settings["ical"].secret)
    return feed_address(handler, token), status


class CalendarFeedTokenHandler(APIHandler):
    """GET: the caller's feed, its address (null if none) included. POST: a new address,
    replacing any old one (which stops at once). DELETE: revoke it."""

    async def get(self):
        url, status = await my_feed(self)
        self.reply({**status, "url": url})

    async def post(self):
        token, status = await ical.renew_feed(self.ctx, self.caller, self.now(), self.settings["ical"].secret)
        self.reply({**status, "url": feed_address(self, token)}, 201)

    async def delete(self):
        self.reply({**await ical.revoke_feed(self.ctx, self.caller), "url": None})


class CalendarFeedHandler(web.RequestHandler):
    """`GET ical/<token>.ics`: the feed's owner's bookings as iCalendar, for anyone holding
    the address. An unknown, revoked or renewed token is the same 404."""

    @property
    def log_uri(self) -> str:
        """What the access log (BookingService._log_request) writes instead of the path,
        which holds the secret."""
        return self.settings["booking_prefix"] + "ical/<token>.ics"

    def set_default_headers(self):
        # private: no shared cache keeps a copy (a revoked feed must stop); no-cache: a
        # client revalidates each time, which the ETag makes cheap (a 304)
        self.set_header("Cache-Control", "private, no-cache")
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Referrer-Policy", "no-referrer")
        self.set_header("X-Robots-Tag", "noindex")

    async def get(self, token):
        limits: FeedLimits = self.settings["ical_limits"]
        now = time.time()
        address = client_address(self.request, limits.trusted_proxy_hops)
        wait = limits.per_address.hit(address, now) or limits.per_feed.hit(ical.hash_token(token), now)
        if wait is not None:
            self.set_header("Retry-After", str(int(wait) + 1))
            return self._error(429, "Too many requests for calendar feeds; try again later.")
        url = public_url(self)
        body = await ical.feed(self.settings["booking_context"], token, self.settings["ical"],
                               self.settings["clock"](), public_url=url, domain=urlsplit(url).hostname or "localhost")
        if body is None:
            return self._error(404, "There is no calendar feed at this address: it was revoked or renewed. "
                                    "Get a new one on the booking calendar.")
        self.set_header("Content-Type", "text/calendar; charset=utf-8")
        self.set_header("Content-Disposition", 'inline; filename="bookings.ics"')
        self.finish(body)

    def _error(self, status: int, message: str) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.finish(error_json(status, message))

    def log_exception(self, typ, value, tb):
        # tornado's own message quotes the request, token and all
        log.error("Uncaught exception in GET %s", self.log_uri, exc_info=(typ, value, tb))

    def write_error(self, status_code, **kwargs):
        message = "The booking service failed to answer; this is a bug, and it has been logged." \
            if status_code >= 500 else self._reason
        self._error(status_code, message)
