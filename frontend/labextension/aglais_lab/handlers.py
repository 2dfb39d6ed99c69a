"""The server side of the JupyterLab extension: /aglais/status (the booking, and the
offer to restart a walk-in server under a booking that has started), /aglais/extend,
/aglais/examples with /aglais/examples/copy (the read-only examples: examples.py), and
/aglais/notices with /aglais/notices/{id} (the user's notices, marked read).

Both are ordinary jupyter-server API handlers (the hub's login for this server, XSRF
for the POST). They call the booking service with the server's own token,
$JUPYTERHUB_API_TOKEN, whose scopes the hub limits to the user's own bookings
(`Spawner.server_token_scopes`, set by `hub_extension.config.booking.configure_booking_service`).
The booking service's address comes from $AGLAIS_BOOKING_URL, which the
booking-aware spawner passes to the server.
"""

from __future__ import annotations

import asyncio
import json
import os
from datetime import datetime, timedelta, timezone
from urllib.parse import quote

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join
from tornado import web
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest
from traitlets import Float, Int, Unicode, default
from traitlets.config import LoggingConfigurable

from .examples import Examples, Refused, make_own_areas

NOT_UNDER_A_HUB = "not under a hub"


class BookingCallFailed(Exception):
    """The booking service refused (status, message) or did not answer (502)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text)


class AglaisLab(LoggingConfigurable):
    """Settings of the extension (``c.AglaisLab.extend_minutes = 60`` in the server's config)."""

    booking_url = Unicode(
        config=True,
        help="""The booking service's API as this server reaches it (``.../services/booking/api/v1``).
        Default: $AGLAIS_BOOKING_URL, which the booking-aware spawner sets.""",
    )

    @default("booking_url")
    def _default_booking_url(self):
        return os.environ.get("AGLAIS_BOOKING_URL", "")

    extend_minutes = Int(30, config=True, help="Minutes the Extend action adds to the booking.")
    last_notice_seconds = Int(
        120, config=True,
        help="Seconds before the booking's end at which the page gives its last notice (save your work).",
    )
    poll_seconds = Int(30, config=True, help="How often the page asks for the status again.")
    request_timeout = Float(10, config=True, help="Seconds to wait for the booking service.")

    # -- where we run ------------------------------------------------------------------

    @property
    def user(self) -> str:
        return os.environ.get("JUPYTERHUB_USER", "")

    def under_hub(self) -> bool:
        return bool(os.environ.get("JUPYTERHUB_API_TOKEN") and self.user)

    def hub_urls(self) -> dict:
        base = os.environ.get("JUPYTERHUB_BASE_URL", "/")
        hub = url_path_join(base, "hub") + "/"
        return {"register_url": hub + "register", "logout_url": hub + "logout", "home_url": hub + "home"}

    def restart_offer(self, kind: str | None, entitlement: dict) -> dict | None:
        """A walk-in server while the user's booking is on: the booking, and the hub's home
        page that restarts the server under it. The page, not this server, stops and starts
        it: the server's token may not (Spawner.server_token_scopes gives it no `servers`
        scope), and a server that stops itself could not say why it failed to come back."""
        if kind != "walk-in" or entitlement.get("kind") != "booking" or not entitlement.get("booking_id"):
            return None
        booking_id = entitlement["booking_id"]
        return {"booking_id": booking_id, "package": (entitlement.get("package") or {}).get("name"),
                "pool": entitlement.get("pool"), "until": entitlement.get("until"),
                "url": f"{self.hub_urls()['home_url']}#booking-{booking_id}"}

    # -- the booking service --------------------------------------------------------------

    async def call(self, method: str, path: str, body=None) -> dict:
        request = HTTPRequest(
            self.booking_url.rstrip("/") + path, method=method,
            headers={"Authorization": f"token {os.environ['JUPYTERHUB_API_TOKEN']}",
                     "Content-Type": "application/json"},
            body=None if body is None else json.dumps(body), request_timeout=self.request_timeout,
            allow_nonstandard_methods=True,
        )
        try:
            response = await AsyncHTTPClient().fetch(request)
        except HTTPClientError as e:
            if e.response is None:
                raise self._down(e) from None
            response = e.response
        except OSError as e:
            raise self._down(e) from None
        try:
            answer = json.loads(response.body or b"{}")
        except ValueError:
            raise BookingCallFailed(502, f"The booking service gave an unreadable answer ({response.code}).") from None
        if response.code >= 300:
            message = answer.get("message") or f"The booking service refused ({response.code})."
            raise BookingCallFailed(response.code, message)
        return answer

    def _down(self, error) -> BookingCallFailed:
        self.log.warning("aglais_lab: booking service at %s unreachable: %s", self.booking_url, error)
        return BookingCallFailed(502, "The booking service is not answering; try again in a minute.")

    # -- what the page shows ----------------------------------------------------------------

    async def status(self) -> dict:
        if not self.under_hub():
            return {"hub": False, "message": NOT_UNDER_A_HUB}
        if not self.booking_url:
            return {"hub": True, "booking_service": False,
                    "message": "no booking service: $AGLAIS_BOOKING_URL is not set"}
        now = datetime.now(timezone.utc)
        entitlement = await self.call("GET", f"/users/{quote(self.user, safe='')}/entitlement")
        env = os.environ
        booking_id = int(env["AGLAIS_BOOKING_ID"]) if env.get("AGLAIS_BOOKING_ID", "").isdigit() else None
        kind = env.get("AGLAIS_SESSION_KIND") or entitlement.get("kind")
        package = env.get("AGLAIS_PACKAGE") or (entitlement.get("package") or {}).get("name")
        pool = env.get("AGLAIS_POOL") or entitlement.get("pool")
        end = state = warning = None
        if booking_id is not None:
            booking = await self.call("GET", f"/bookings/{booking_id}")
            end, state = booking["end"], booking["status"]
            if booking.get("package"):
                package = booking["package"]["name"]
            if entitlement.get("booking_id") == booking_id:
                warning = entitlement.get("warning")
        return {
            "hub": True,
            "booking_service": True,
            "user": self.user,
            "level": entitlement.get("level"),
            "level_name": entitlement.get("level_name"),
            "kind": kind,
            "package": package,
            "pool": pool,
            "booking_id": booking_id,
            "end": end,
            "state": state,
            "now": _iso(now),
            "seconds_left": None if end is None else max(0, int((_parse(end) - now).total_seconds())),
            "warning": warning,
            "extend_minutes": self.extend_minutes,
            "last_notice_seconds": self.last_notice_seconds,
            "poll_seconds": self.poll_seconds,
            "restart": self.restart_offer(kind, entitlement),
            **self.hub_urls(),
        }

    async def extend(self, minutes: int | None) -> dict:
        """Move the booking's end `minutes` (default `extend_minutes`) later; the new status."""
        if not self.under_hub():
            raise BookingCallFailed(409, "This server does not run under a hub: there is no booking to extend.")
        booking_id = os.environ.get("AGLAIS_BOOKING_ID", "")
        if not self.booking_url or not booking_id.isdigit():
            raise BookingCallFailed(
                409, "This server runs without a booking (a walk-in), so there is nothing to extend; "
                     "book a package on the calendar.")
        minutes = self.extend_minutes if minutes is None else minutes
        booking = await self.call("GET", f"/bookings/{booking_id}")
        # an ended booking cannot be moved: the booking service says so, in its words
        end = _parse(booking["end"]) + timedelta(minutes=minutes)
        await self.call("PATCH", f"/bookings/{booking_id}", {"end": _iso(end)})
        return await self.status()


    # -- notices (the booking service's GET /users/{user}/notices) ---------------------------

    async def notices(self) -> dict:
        """The user's notices, unread first (at most `NOTICES_SHOWN`), with the unread count."""
        if not self.under_hub() or not self.booking_url:
            return {"hub": self.under_hub(), "unread": 0, "notices": []}
        answer = await self.call("GET", f"/users/{quote(self.user, safe='')}/notices")
        return {"hub": True, "unread": answer.get("unread", 0), "notices": answer.get("notices", [])[:NOTICES_SHOWN]}

    async def mark_read(self, notice_id: int) -> dict:
        if not self.under_hub() or not self.booking_url:
            raise BookingCallFailed(409, "This server does not run under a hub with a booking service.")
        return await self.call("POST", f"/users/{quote(self.user, safe='')}/notices/{notice_id}", {"read": True})


NOTICES_SHOWN = 20


class _Handler(APIHandler):
    auth_resource = "aglais"

    @property
    def lab(self) -> AglaisLab:
        return self.settings["aglais_lab"]

    def reply(self, data: dict, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.set_header("Cache-Control", "no-store")
        self.finish(json.dumps(data))

    def refuse(self, error: BookingCallFailed | Refused) -> None:
        self.reply({"status": error.status, "message": error.message}, error.status)

    def json_body(self):
        """The request's JSON (an empty body is {}); None when it is not JSON."""
        try:
            return json.loads(self.request.body or b"{}")
        except ValueError:
            return None


class StatusHandler(_Handler):
    @web.authenticated
    @authorized
    async def get(self):
        try:
            self.reply(await self.lab.status())
        except BookingCallFailed as e:
            self.refuse(e)


class ExtendHandler(_Handler):
    @web.authenticated
    @authorized
    async def post(self):
        body = self.json_body()
        minutes = body.get("minutes") if isinstance(body, dict) else "?"
        if minutes is not None and (not isinstance(minutes, int) or isinstance(minutes, bool)
                                    or not 1 <= minutes <= 24 * 60):
            self.reply({"status": 400, "message": "'minutes' must be a whole number from 1 to 1440."}, 400)
            return
        try:
            self.reply(await self.lab.extend(minutes))
        except BookingCallFailed as e:
            self.refuse(e)


class ExamplesHandler(_Handler):
    """GET: the examples, and where the examples and the notebooks are in the file browser."""

    @web.authenticated
    @authorized
    async def get(self):
        try:
            # a walk of files off the server's event loop, which kernels' websockets share
            self.reply(await asyncio.to_thread(self.settings["aglais_examples"].listing))
        except Refused as e:
            self.refuse(e)


class CopyExampleHandler(_Handler):
    """POST {"path": <an example's path under the examples>}: copied into the notebooks;
    201 with the copy's name and file-browser path."""

    @web.authenticated
    @authorized
    async def post(self):
        body = self.json_body()
        try:
            if not isinstance(body, dict) or "path" not in body:
                raise Refused(400, "Send {\"path\": <the example's path under the examples>}.")
            copied = await asyncio.to_thread(self.settings["aglais_examples"].copy, body["path"])
        except Refused as e:
            self.refuse(e)
            return
        self.log.info("aglais_lab: copied the example %s to %s", copied["from"], copied["name"])
        self.reply(copied, 201)


class NoticesHandler(_Handler):
    """GET: the user's notices, unread first, and how many are unread."""

    @web.authenticated
    @authorized
    async def get(self):
        try:
            self.reply(await self.lab.notices())
        except BookingCallFailed as e:
            self.refuse(e)


class NoticeReadHandler(_Handler):
    """POST: mark one of the user's notices read."""

    @web.authenticated
    @authorized
    async def post(self, notice_id):
        if len(notice_id) > 12:
            self.reply({"status": 404, "message": "No such notice."}, 404)
            return
        try:
            self.reply(await self.lab.mark_read(int(notice_id)))
        except BookingCallFailed as e:
            self.refuse(e)


def setup_handlers(serverapp) -> None:
    lab = AglaisLab(parent=serverapp, log=serverapp.log)
    web_app = serverapp.web_app
    web_app.settings["aglais_lab"] = lab
    web_app.settings["aglais_examples"] = Examples.from_environment(serverapp.contents_manager.root_dir)
    for problem in make_own_areas():
        serverapp.log.warning("aglais_lab: could not make %s", problem)
    base = web_app.settings["base_url"]
    web_app.add_handlers(".*$", [
        (url_path_join(base, "aglais", "status"), StatusHandler),
        (url_path_join(base, "aglais", "extend"), ExtendHandler),
        (url_path_join(base, "aglais", "examples"), ExamplesHandler),
        (url_path_join(base, "aglais", "examples", "copy"), CopyExampleHandler),
        (url_path_join(base, "aglais", "notices"), NoticesHandler),
        (url_path_join(base, "aglais", "notices", "([0-9]+)"), NoticeReadHandler),
    ])
    serverapp.log.info("aglais_lab: %s", "booking status from " + lab.booking_url
                       if lab.under_hub() and lab.booking_url else "not under a hub with a booking service")
