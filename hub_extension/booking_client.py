"""The hub's own calls to the booking service: forgetting a user the hub deletes, so the
next owner of the name inherits none of their bookings, queue places or sessions.

`configure_booking_service` declares the scope ``custom:booking:forget`` and the hub
service ``<name>-accounts`` holding only it, and hands `forget_user` with that service's
token to the authenticator's `forget_hooks`, which run before an account is deleted.
"""

from __future__ import annotations

import json
from urllib.parse import quote, urlencode

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest


class BookingServiceError(Exception):
    """The booking service did not forget the user; the message says why (retry later:
    forgetting is idempotent)."""


async def forget_user(name: str, *, url: str, token: str, reason: str = "account deleted",
                      timeout: float = 20) -> dict:
    """Ask the booking service at `url` (its API, ``.../services/booking/api/v1``) to forget
    the hub user `name`; returns what it ended (see the OpenAPI operation forgetUser)."""
    request = HTTPRequest(
        f"{url.rstrip('/')}/users/{quote(name, safe='')}?{urlencode({'reason': reason})}", method="DELETE",
        headers={"Authorization": f"token {token}"}, request_timeout=timeout,
    )
    try:
        response = await AsyncHTTPClient().fetch(request)
    except HTTPClientError as e:
        detail = e.response.body[:500].decode("utf-8", "replace") if e.response is not None else str(e)
        raise BookingServiceError(f"the booking service did not forget {name!r}: {e.code} {detail}") from None
    except OSError as e:
        raise BookingServiceError(f"the booking service is not answering: {e}") from None
    return json.loads(response.body)
