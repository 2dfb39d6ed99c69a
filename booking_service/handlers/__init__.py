"""Tornado routes of the booking service, under the hub's service prefix."""

from __future__ import annotations

from .api import (
    AvailabilityHandler,
    BookingHandler,
    BookingsHandler,
    CapacityHandler,
    EntitlementHandler,
    MeHandler,
    PackagesHandler,
    PoolsHandler,
    QueueHandler,
    SessionHandler,
    UserHandler,
    UserSessionsHandler,
)
from .callbacks import CallbackHandler
from .health import HealthHandler, ReadinessHandler
from .ical import CalendarFeedHandler, CalendarFeedTokenHandler
from .notices import NoticeHandler, NoticesHandler
from .offers import OfferHandler, OfferSetHandler, OfferSetsHandler, PlatformsHandler
from .pages import HubOAuthCallbackHandler, LandingHandler, OpenAPIHandler
from ..operations.ical import TOKEN_PATTERN
from .series import SeriesCollectionHandler, SeriesHandler

POOL = r"(?P<pool>[^/]+)"
USER = r"(?P<user>[^/]+)"


def routes(prefix: str) -> list:
    """`prefix` ends with '/', e.g. '/services/booking/'."""
    api = prefix + "api/v1"
    return [
        (prefix, LandingHandler),
        (prefix + "oauth_callback", HubOAuthCallbackHandler),
        (prefix + "healthz", HealthHandler),
        (prefix + "readyz", ReadinessHandler),
        (api + "/openapi.json", OpenAPIHandler),
        (api + "/me", MeHandler),
        (api + "/pools", PoolsHandler),
        (api + f"/pools/{POOL}/capacity", CapacityHandler),
        (api + f"/pools/{POOL}/availability", AvailabilityHandler),
        (api + "/packages", PackagesHandler),
        (api + "/bookings", BookingsHandler),
        (api + r"/bookings/(?P<booking_id>[0-9]{1,12})", BookingHandler),
        (api + f"/users/{USER}", UserHandler),
        (api + f"/users/{USER}/entitlement", EntitlementHandler),
        (api + f"/users/{USER}/sessions", UserSessionsHandler),
        (api + f"/users/{USER}/queue", QueueHandler),
        (api + r"/sessions/(?P<session_id>[0-9]{1,12})", SessionHandler),
        (api + "/offersets", OfferSetsHandler),
        (api + r"/offersets/(?P<set_id>[0-9]{1,12})", OfferSetHandler),
        (api + r"/offersets/(?P<set_id>[0-9]{1,12})/offers/(?P<index>[0-9]{1,3})", OfferHandler),
        # the private calendar feed: no login, the token in the address is the key
        (api + "/me/ical", CalendarFeedTokenHandler),
        (prefix + rf"ical/(?P<token>{TOKEN_PATTERN})\.ics", CalendarFeedHandler),
        (api + f"/users/{USER}/notices", NoticesHandler),
        (api + f"/users/{USER}/notices/(?P<notice_id>[0-9]{{1,12}})", NoticeHandler),
        (api + "/platforms", PlatformsHandler),
        (api + r"/callbacks/(?P<step_id>[0-9]{1,12})", CallbackHandler),
        (api + "/series", SeriesCollectionHandler),
        (api + r"/series/(?P<series_id>[0-9]{1,12})", SeriesHandler),
    ]
