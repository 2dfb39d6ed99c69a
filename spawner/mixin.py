"""BookingSpawnerMixin: a server starts only within what the booking service grants
(the user's booking, else their level's walk-in package), sized by the package, and
its session is released whenever the server stops, dies or fails to start."""

from __future__ import annotations

import contextvars
import json
import os
from html import escape
from urllib.parse import quote, urlparse

from jupyterhub.spawner import SpawnException
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest
from traitlets import Dict, Float, Unicode, default, validate
from traitlets.config import Configurable

from aglais_common.facts import FLAVOUR_LABELS

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

    async def _flavour_form(self, spawner=None) -> str:
        try:
            status, entitlement = await self._booking("GET", self._user_path("entitlement"))
        except BookingServiceDown:
            return ""  # start() will refuse with the reason
        flavours = entitlement.get("flavours", []) if status == 200 else []
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
            flavour = (form_data.get("flavour") or ["jupyter"])[0]
            return {"flavour": flavour}
        return parse

    @default("apply_user_options")
    def _default_apply_user_options(self):
        def apply(spawner, user_options):
            """Nothing to apply: start() claims the flavour in user_options (and KubeSpawner
            applies its profile); the grant, not the user, sizes the server."""
        return apply

    # -- the gate -----------------------------------------------------------------------

    def requested_flavour(self) -> str:
        """The flavour the user asked for (options form or REST API user_options)."""
        return (self.user_options or {}).get("flavour", "jupyter")

    async def claim_session(self) -> dict:
        flavour = self.requested_flavour()
        if flavour not in self.supported_flavours():
            raise SpawnException(f"This hub cannot start {flavour} servers.", reason="flavour", status_code=400)
        try:
            status, answer = await self._booking(
                "POST", self._user_path("sessions"), {"server_name": self.name or "", "flavour": flavour})
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
        """The spawn page's first line: what the server starts with. For a queued user
        whose page asked again (hub_extension/accounts/templates/error.html) this is the notice
        that the held place is theirs."""
        grant = self.booking_session
        if grant and grant.get("package"):
            name = grant["package"]["name"]
            if grant.get("kind") == "walk-in":
                message = f"A place on the {grant['pool']} pool is yours: starting the {name} package."
            else:
                message = f"Starting your booking of the {name} package, until {package.time_for_people(grant.get('until'))}."
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
