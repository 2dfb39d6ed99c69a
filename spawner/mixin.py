"""BookingSpawnerMixin: a server starts only within what the booking service grants
(the booking or walk-in that user_options choose; by default the user's booking on now,
else their level's walk-in package), sized by the package, and its session is released
whenever the server stops, dies or fails to start."""

from __future__ import annotations

import asyncio
import contextvars
import json
import os
import time
from html import escape
from urllib.parse import quote, urlparse

from jupyterhub.spawner import SpawnException
from tornado import web
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest
from traitlets import Dict, Float, Unicode, default, validate
from traitlets.config import Configurable

from aglais_common import describe
from aglais_common.facts import FLAVOUR_LABELS, FLAVOURS, WALK_IN

from . import package


# The hub's own secrets, by the names they have in its environment (JupyterHub's, the
# proxy's, the embedded default's). A server never gets them, even when `env_keep` or
# `environment` names them: a server's one credential is its own JUPYTERHUB_API_TOKEN.
HUB_SECRETS = frozenset({
    "JPY_COOKIE_SECRET", "JUPYTERHUB_CRYPT_KEY", "CONFIGPROXY_AUTH_TOKEN",
    "AGLAIS_ADMIN_PASSWORD", "AGLAIS_SMTP_PASSWORD", "AGLAIS_BOOKING_SPAWNER_TOKEN",
})


class BookingServiceDown(Exception):
    pass


def validate_user_options(options, *, other_keys=lambda key: False) -> dict:
    """user_options as the booking-aware spawner reads them, or HTTPError 400 saying what
    is wrong: ``flavour`` (one of FLAVOURS) and ``booking`` (a booking's id, or "walk-in"),
    both optional; keys `other_keys` accepts belong to the base spawner; any other key is
    refused, so a typo does not start the default instead."""
    if not isinstance(options, dict):
        raise web.HTTPError(400, "user_options must be an object")
    unknown = sorted(k for k in options if k not in ("booking", "flavour") and not other_keys(k))
    if unknown:
        raise web.HTTPError(400, f"Unknown user_options: {', '.join(map(str, unknown))[:200]}; "
                                 "accepted: booking (a booking's id or \"walk-in\"), flavour")
    flavour = options.get("flavour", "jupyter")
    if not isinstance(flavour, str) or flavour not in FLAVOURS:
        raise web.HTTPError(400, f"user_options' flavour must be one of {', '.join(FLAVOURS)}")
    booking = options.get("booking")
    if "booking" in options and booking != WALK_IN and (
            isinstance(booking, bool) or not isinstance(booking, int) or not 1 <= booking <= 2**31 - 1):
        raise web.HTTPError(400, "user_options' booking must be the id of one of your bookings (a whole number) "
                                 f"or \"{WALK_IN}\"")
    return options


# Which of start(), stop() and poll() the running task is inside, as base spawners call
# one from another: KubeSpawner.poll() calls stop(now=True) when it finds the pod dead
# (that stop is an exit); KubeSpawner.start() calls stop() to clear away a stale pod before
# it tries again (that stop releases nothing: start() itself releases if it fails);
# LocalProcessSpawner.stop() polls until the process is gone (those polls release
# nothing: the stop does). A call the hub makes runs in a task of its own and sees None.
_inside: contextvars.ContextVar[str | None] = contextvars.ContextVar("aglais_spawner_call", default=None)


class BookingSpawnerMixin(Configurable):
    """Mix in before a Spawner class: ``class S(BookingSpawnerMixin, LocalProcessSpawner)``.

    Its options form (the allowed flavours) comes first in the MRO; a base spawner with
    a form of its own (KubeSpawner's profiles) overrides `options_form` and
    `options_from_form` again, as BookingKubeSpawner does.
    """

    booking_api_url = Unicode(
        config=True,
        help="""The booking service's API, as the hub reaches it (e.g.
        ``http://127.0.0.1:8001/services/booking/api/v1``). Default: $AGLAIS_BOOKING_API_URL.
        `hub_extension.config.booking.configure_booking_service` sets it.
        """,
    )

    @default("booking_api_url")
    def _default_api_url(self):
        return os.environ.get("AGLAIS_BOOKING_API_URL", "")

    @validate("booking_api_url")
    def _check_api_url(self, proposal):
        url = proposal["value"]
        if url and urlparse(url).scheme not in ("http", "https"):
            raise ValueError(f"BookingSpawnerMixin.booking_api_url must be an http(s) URL, not {url!r}")
        return url

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._released: set = set()  # ids of the sessions released (or tried): none goes twice
        self._starting = False  # start() has not returned yet
        # checked when the hub makes the spawner (at start-up for running servers): without
        # the service every spawn would fail later with a less helpful message
        if not self.booking_api_url:
            raise ValueError("BookingSpawnerMixin.booking_api_url is empty: set it (or $AGLAIS_BOOKING_API_URL) "
                             "to the booking service's API, e.g. http://127.0.0.1:8001/services/booking/api/v1")

    booking_api_token = Unicode(
        config=True,
        help="""Token the spawner calls the booking service with; it needs only the scope
        ``custom:booking:sessions``. Default: $AGLAIS_BOOKING_SPAWNER_TOKEN.
        """,
    )

    @default("booking_api_token")
    def _default_api_token(self):
        return os.environ.get("AGLAIS_BOOKING_SPAWNER_TOKEN", "")

    booking_timeout = Float(10, config=True, help="Seconds to wait for the booking service before refusing a spawn.")
    calendar_url = Unicode(
        "/services/booking/", config=True,
        help="Where people book (linked from refusals on the spawn page).",
    )
    booking_session = Dict(help="The session the booking service granted this server (kept in the spawner's state).")

    async def _booking(self, method: str, path: str, body=None) -> tuple[int, dict]:
        """Call the booking service; (status, answer) for any HTTP answer, BookingServiceDown if none."""
        request = HTTPRequest(
            self.booking_api_url.rstrip("/") + path, method=method,
            headers={"Authorization": f"token {self.booking_api_token}", "Content-Type": "application/json"},
            body=None if body is None else json.dumps(body), request_timeout=self.booking_timeout,
            allow_nonstandard_methods=True,
        )
        try:
            response = await AsyncHTTPClient().fetch(request)
        except HTTPClientError as e:
            if e.response is None:
                raise BookingServiceDown(str(e)) from None
            response = e.response
        except OSError as e:
            raise BookingServiceDown(str(e)) from None
        try:
            answer = json.loads(response.body or b"{}")
        except ValueError:
            raise BookingServiceDown(f"unreadable answer ({response.code})") from None
        return response.code, answer

    def _user_path(self, tail: str) -> str:
        return f"/users/{quote(self.user.name, safe='')}/{tail}"

    # -- the options form: only the flavours the entitlement allows --------------------

    @default("options_form")
    def _default_options_form(self):
        return self._flavour_form

    async def entitlement(self) -> dict | None:
        """The user's entitlement (GET /users/{user}/entitlement), or None when the booking
        service does not answer it: what the options form and the hub's home page offer."""
        try:
            status, answer = await self._booking("GET", self._user_path("entitlement"))
        except BookingServiceDown:
            return None
        if status != 200:
            self.log.warning("No entitlement for %s: %s %s", self.user.name, status, answer.get("message"))
            return None
        return answer

    async def _flavour_form(self, spawner=None) -> str:
        entitlement = await self.entitlement()
        if entitlement is None:
            return ""  # start() will refuse with the reason
        flavours = entitlement.get("flavours", [])
        flavours = [f for f in flavours if f in self.supported_flavours()]
        if len(flavours) < 2:
            return ""  # nothing to choose
        choices = "".join(
            f'<label><input type="radio" name="flavour" value="{escape(f)}"{" checked" if i == 0 else ""}> '
            f"{escape(FLAVOUR_LABELS.get(f, f))}</label><br>"
            for i, f in enumerate(flavours)
        )
        what = escape(entitlement.get("reason", ""))
        return f"<p>{what}</p><fieldset><legend>Server</legend>{choices}</fieldset>"

    def supported_flavours(self) -> tuple[str, ...]:
        """Flavours this spawner can start; subclasses that run Zeppelin add it."""
        return ("jupyter",)

    @default("options_from_form")
    def _default_options_from_form(self):
        def parse(form_data):
            options = {"flavour": (form_data.get("flavour") or ["jupyter"])[0]}
            if form_data.get("booking"):
                booking = form_data["booking"][0]
                options["booking"] = int(booking) if booking.isascii() and booking.isdigit() and len(booking) < 12 else booking
            return options
        return parse

    @default("apply_user_options")
    def _default_apply_user_options(self):
        def apply(spawner, user_options):
            """Check user_options (a clear 400 before anything starts); nothing else to
            apply: start() claims the choice and flavour (KubeSpawner applies its profile),
            and the grant, not the user, sizes the server."""
            spawner.check_user_options(user_options)
        return apply

    def _base_user_option(self, key: str) -> bool:
        """A user_options key the base spawner reads: KubeSpawner's profile form posts
        "profile" and "profile-option-..." (kubespawner/spawner.py, _options_from_form)."""
        return hasattr(self, "profile_list") and (key == "profile" or str(key).startswith("profile-option-"))

    def check_user_options(self, options) -> dict:
        """Check user_options, and keep the booking choice for this start only.

        JupyterHub stores a start's user_options and reuses them when a later start gives
        none; a start without options must get the booking on now (else the walk-in), not
        last time's choice, so the stored copy loses `booking`. Options that fail the check
        are not kept either (else every later start without options would fail on them).
        """
        stored = getattr(self, "orm_spawner", None)
        try:
            validate_user_options(options, other_keys=self._base_user_option)
        except web.HTTPError:
            if stored is not None:
                stored.user_options = {}
            raise
        if stored is not None and "booking" in (stored.user_options or {}):
            stored.user_options = {k: v for k, v in stored.user_options.items() if k != "booking"}
        return options

    # -- the gate -----------------------------------------------------------------------

    def requested_flavour(self) -> str:
        """The flavour the user asked for (options form or REST API user_options)."""
        return (self.user_options or {}).get("flavour", "jupyter")

    def requested_booking(self) -> int | str | None:
        """The start's choice: a booking's id, "walk-in", or None (the booking on now, else the walk-in)."""
        return (self.user_options or {}).get("booking")

    async def claim_session(self) -> dict:
        # checked again here: config may have replaced the apply_user_options hook
        validate_user_options(self.user_options or {}, other_keys=self._base_user_option)
        flavour = self.requested_flavour()
        if flavour not in self.supported_flavours():
            raise SpawnException(f"This hub cannot start {flavour} servers.", reason="flavour", status_code=400)
        request = {"server_name": self.name or "", "flavour": flavour}
        if self.requested_booking() is not None:
            request["booking"] = self.requested_booking()
        try:
            status, answer = await self._booking("POST", self._user_path("sessions"), request)
        except BookingServiceDown as e:
            raise SpawnException(
                "The booking service is not answering, so no server can start now; try again in a minute.",
                reason="booking-service-down", log_message=f"booking service unreachable: {e}", status_code=503,
            ) from None
        if status in (200, 201):
            return answer
        message = answer.get("message", f"The booking service refused ({status}).")
        calendar = f'<a href="{escape(self.calendar_url)}">the calendar</a>'
        if status == 409 and answer.get("queue"):
            # the hub's error page (hub_extension/accounts/templates/error.html) sees the marker and
            # asks again by itself, so the place is taken as soon as it is offered
            position = int(answer["queue"].get("position") or 0)
            raise SpawnException(message, reason="queued", status_code=409, message_html=(
                f'<span class="aglais-queue" data-position="{position}">{escape(message)}</span> '
                f"Or book a package on {calendar}."))
        raise SpawnException(message, reason="entitlement", status_code=status if 400 <= status < 500 else 503,
                             message_html=f"{escape(message)} See {calendar}.")

    def apply_session(self, grant: dict) -> None:
        """Size the server by the grant; subclasses add what their platform enforces."""
        try:
            sizes = package.limits(grant)
        except ValueError as e:
            raise SpawnException("The booking service granted this server no resources; ask an admin.",
                                 reason="no-resources", log_message=str(e), status_code=503) from None
        for trait, value in sizes.items():
            setattr(self, trait, value)

    async def release_session(self, reason: str, session: dict | None = None) -> None:
        """Tell the booking service the server is gone, once per session: the first
        caller's reason is the true one. `session` defaults to the current one; callers
        pass the one they held before the base class cleared its state."""
        session = session if session is not None else self.booking_session
        if not session or session["id"] in self._released:
            return
        self._released.add(session["id"])
        try:
            status, answer = await self._booking("DELETE", f"/sessions/{session['id']}?reason={quote(reason)}")
            if status != 200:
                self.log.warning("Booking session %s for %s not released: %s %s", session["id"], self.user.name,
                                 status, answer.get("message"))
                return
        except BookingServiceDown:
            # the booking service's lifecycle loop ends sessions whose server the hub no longer runs
            self.log.warning("Could not release booking session %s for %s", session["id"], self.user.name)
            return
        if self.booking_session.get("id") == session["id"]:
            self.booking_session = {}

    async def provision(self, grant: dict) -> None:
        """What must exist before the server starts, after `apply_session` (Kubernetes:
        the home volume at its size). A failure here is a failed spawn."""

    async def start(self):
        grant = await self.claim_session()
        self.booking_session = grant
        self._released.discard(grant["id"])  # asking again for a server gets its session back
        self._starting = True
        token = _inside.set("start")
        try:
            self.apply_session(grant)
            await self.provision(grant)
            return await super().start()
        except BaseException:
            await self.release_session("spawn failed")
            raise
        finally:
            _inside.reset(token)
            self._starting = False

    def _stop_reason(self) -> str | None:
        """Why a stop() now stops the server; None: it releases nothing (see `_inside`)."""
        caller = _inside.get()
        if caller == "start":
            return None
        if caller == "poll":
            return "server exited"
        # the hub's own stop: of a server, or of a start() it gave up waiting for (start_timeout)
        return "spawn failed" if self._starting else "server stopped"

    async def stop(self, now=False):
        session = self.booking_session  # LocalProcessSpawner.stop clears the state
        reason = self._stop_reason()
        token = _inside.set("stop")
        try:
            await super().stop(now=now)
        finally:
            _inside.reset(token)
            if reason:
                await self.release_session(reason, session)

    async def poll(self):
        if _inside.get() in ("start", "stop"):
            return await super().poll()  # what the caller does next releases, if anything
        session = self.booking_session  # LocalProcessSpawner.poll clears the state when the process is gone
        token = _inside.set("poll")
        try:
            status = await super().poll()
        finally:
            _inside.reset(token)
        if status is not None and session:
            await self.release_session("server exited", session)
        return status

    async def progress(self):
        """The spawn page's first line: what the server starts with (package, Spark
        workers, until when). For a queued user whose page asked again
        (hub_extension/accounts/templates/error.html) it is also the notice that the held
        place is theirs."""
        # the spawn page may ask before the booking service has answered the start
        deadline = time.monotonic() + self.booking_timeout
        while not self.booking_session and self.pending == "spawn" and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        grant = self.booking_session
        if grant and grant.get("resources"):
            booked = grant.get("package")
            inside = describe.contents(booked, grant["resources"])
            if grant.get("kind") == "walk-in":
                message = (f"A place on the {grant['pool']} pool is yours: starting {describe.what(booked)}, "
                           f"{inside}, until you stop it.")
            else:
                message = (f"Starting your booking #{grant['booking_id']} of {describe.what(booked)} on "
                           f"{grant['pool']}, {inside}, until {package.time_for_people(grant.get('until'))}.")
            yield {"progress": 5, "message": message}
        async for event in super().progress():
            yield event

    def get_env(self):
        env = super().get_env()
        if self.booking_session:
            env.update(package.environment(self.booking_session))
        # for the server's JupyterLab extension (aglais_lab), which asks the booking service
        # with the server's own token (Spawner.server_token_scopes) about its booking
        if self.booking_api_url:
            env["AGLAIS_BOOKING_URL"] = self.booking_api_url
        for key in [k for k, v in env.items() if k in HUB_SECRETS or (self.booking_api_token and v == self.booking_api_token)]:
            self.log.warning("Not passing $%s to %s's server: it is one of the hub's secrets", key, self.user.name)
            del env[key]
        return env

    def get_state(self):
        state = super().get_state()
        if self.booking_session:
            state["booking_session"] = self.booking_session
        return state

    def load_state(self, state):
        super().load_state(state)
        self.booking_session = state.get("booking_session", {})

    def clear_state(self):
        super().clear_state()
        self.booking_session = {}
