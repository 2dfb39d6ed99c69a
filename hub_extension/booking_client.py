"""The hub's own calls to the booking service: forgetting a user the hub deletes, so the
next owner of the name inherits none of their bookings, queue places or sessions.

`configure_forget` declares the scope ``custom:booking:forget`` and the hub service
``<name>-accounts`` holding only it; the authenticator's ``delete_user`` calls
`forget_user` with that service's token after the hub has deleted the user.
"""

from __future__ import annotations

import json
import secrets
from urllib.parse import quote, urlencode

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

from .config import configured, merge_role

FORGET_SCOPE = "custom:booking:forget"
FORGET_SCOPE_DEFINITION = {
    FORGET_SCOPE: {
        "description": "Cancel every booking, queue place and session of a deleted hub user: the hub's own scope.",
    },
}


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


def configure_forget(c, *, name: str = "booking", token: str | None = None) -> str:
    """Declare ``custom:booking:forget`` and the hub service ``<name>-accounts`` whose token
    carries only it (and access to the booking service); returns that token.

    A service of its own rather than the spawner's: the spawner's token starts and stops
    sessions, this one ends everything a user holds, and each can be revoked alone.
    """
    hub = c.JupyterHub
    hub.custom_scopes = {**configured(hub, "custom_scopes", {}), **FORGET_SCOPE_DEFINITION}
    caller = f"{name}-accounts"
    token = token or secrets.token_hex(32)
    roles = [dict(r) for r in configured(hub, "load_roles", [])]
    merge_role(roles, caller, [FORGET_SCOPE, f"access:services!service={name}"], services=[caller])
    hub.load_roles = roles
    services = [s for s in configured(hub, "services", []) if s.get("name") != caller]
    hub.services = services + [{"name": caller, "api_token": token, "display": False}]
    return token
