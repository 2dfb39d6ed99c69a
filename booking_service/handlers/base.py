"""The base of every API handler: JupyterHub authentication (API token or the hub's
OAuth cookie), scope checks, JSON bodies, and errors as {"status", "message"}."""

from __future__ import annotations

import json
import logging
import re

from jupyterhub.services.auth import HubOAuthenticated
from tornado import web

from ..domain import FORGET_SCOPE, BookingError, Caller, Forbidden, Invalid

log = logging.getLogger("booking_service")

READ = "custom:booking:read"
WRITE = "custom:booking:write"
ADMIN = "custom:booking:admin"
SESSIONS = "custom:booking:sessions"
FORGET = FORGET_SCOPE
MAX_BODY = 64 * 1024


def booking_scopes(model: dict) -> tuple[set, bool]:
    """The scopes of a hub identity as the service counts them, and whether its booking
    scopes are all filtered to the caller itself.

    A scope filtered to the caller (``custom:booking:read!user=<name>``: what a
    single-user server's own token gets through ``Spawner.server_token_scopes``) counts
    as the scope: a user's booking scopes reach only their own bookings anyway. Such a
    token is never a booking admin (not even a hub admin's), and a filtered
    ``custom:booking:admin`` or ``custom:booking:sessions`` grants nothing, as both are
    about other people's bookings.
    """
    raw = set(model.get("scopes", []))
    plain = {s for s in raw if "!" not in s}
    own = set()
    if model.get("kind", "user") == "user":
        suffix = f"!user={model['name']}"
        own = {s[: -len(suffix)] for s in raw if s.endswith(suffix) and s.count("!") == 1} - {ADMIN, SESSIONS, FORGET}
    only_own = bool(own) and not plain & {READ, WRITE, ADMIN, SESSIONS}
    return plain | own, only_own


_UNKEPT = re.compile("[\x00\ud800-\udfff]")


def unkept_text(body) -> str | None:
    """Where in a parsed JSON body a string (or a key) holds a NUL or a lone surrogate,
    which no database here keeps (PostgreSQL refuses a NUL, neither encodes a surrogate);
    None if nowhere. Iterative: the body may be nested as deep as json.loads allows."""
    stack = [("the body", body)]
    while stack:
        where, value = stack.pop()
        if isinstance(value, str):
            if _UNKEPT.search(value):
                return where
        elif isinstance(value, dict):
            for key, item in value.items():
                if _UNKEPT.search(key):
                    return f"a key of {where}"
                stack.append((f"'{key}'", item))
        elif isinstance(value, list):
            stack.extend((where, item) for item in value)
    return None


def json_kind(value) -> str:
    """What a person calls a JSON value that is not an object."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true or false"
    return {list: "an array", str: "a string"}.get(type(value), "a number")


def error_json(status: int, message: str, **extra) -> str:
    """Every refusal's body, 4xx or 5xx: {"status", "message"} and what the client can use."""
    return json.dumps({"status": status, "message": message, **extra})


class NotFoundHandler(web.RequestHandler):
    """Any URL under the service that no route matches."""

    def prepare(self):
        self.set_status(404)
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.finish(error_json(404, f"No such URL: {self.request.path}; see api/v1/openapi.json"))


class APIHandler(HubOAuthenticated, web.RequestHandler):
    """Thin: parse, authorise, call one operation, format."""

    caller: Caller | None = None

    @property
    def ctx(self):
        return self.settings["booking_context"]

    def now(self):
        return self.settings["clock"]()

    async def prepare(self):
        # a NUL in a name or a query is a 500 on PostgreSQL (its text cannot hold one)
        args = [*self.path_args, *self.path_kwargs.values()]
        if any("\x00" in arg for arg in args if isinstance(arg, str)) or any(
                b"\x00" in key.encode() or any(b"\x00" in v for v in values)
                for key, values in self.request.query_arguments.items()):
            raise Invalid("The URL holds a NUL (%00); no name or parameter here may.")
        # Asks the hub who the token or cookie belongs to (HubAuth caches the answer);
        # done here, asynchronously, so tornado's synchronous get_current_user never blocks.
        model = await self.hub_auth.get_user(self, sync=False)
        self._hub_auth_user_cache = None
        if model is not None:
            self._hub_auth_user_cache = model
            scopes, only_own = booking_scopes(model)
            is_user = model.get("kind", "user") == "user"
            policy = self.ctx.policy
            self.caller = Caller(
                name=model["name"],
                kind=model.get("kind", "user"),
                level=policy.level_of(model.get("groups") or []) if is_user else -1,
                admin=ADMIN in scopes or bool(is_user and model.get("admin") and not only_own),
                can_read=bool({READ, WRITE, ADMIN, SESSIONS} & scopes),
                can_write=bool({WRITE, ADMIN, SESSIONS} & scopes),
                sessions=SESSIONS in scopes,
                forget=FORGET in scopes,
            )
        if self.caller is None:
            raise BookingError(
                "Authentication required: send a JupyterHub API token "
                "(header 'Authorization: token ...') or log in through the hub.",
                status=403,
            )
        access = self.hub_scopes
        if access and not self.hub_auth.check_scopes(access, model):
            raise Forbidden(f"Your token cannot access this service; it needs one of {sorted(access)}.")
        self.authorise()

    def authorise(self) -> None:
        """The scope the request's method needs; a handler whose operation has a scope of
        its own overrides this."""
        if self.request.method in ("GET", "HEAD"):
            self.require(READ, self.caller.can_read)
        else:
            self.require(WRITE, self.caller.can_write)

    def get_current_user(self):
        return getattr(self, "_hub_auth_user_cache", None)

    def require(self, scope: str, granted: bool) -> None:
        if not granted:
            raise Forbidden(f"This needs the scope '{scope}'; ask for a token that has it.")

    def require_admin(self) -> None:
        if not self.caller.admin:
            raise Forbidden(f"Only booking admins can do this (hub admins, or tokens with '{ADMIN}').")

    def json_body(self, *, optional: bool = False) -> dict:
        """The body as a JSON object, before anything is read or written; with `optional`,
        an empty body is {}. Fields are checked by the operation (domain.require_fields)."""
        if len(self.request.body) > MAX_BODY:
            raise Invalid(f"The request body is larger than {MAX_BODY // 1024} KiB.", status=413)
        if not self.request.body.strip():
            if optional:
                return {}
            raise Invalid("The request needs a JSON body.")
        try:
            body = json.loads(self.request.body)
        except (ValueError, UnicodeDecodeError, RecursionError) as e:
            # ValueError includes integers past Python's digit limit
            raise Invalid(f"The request body is not valid JSON: {str(e)[:200]}") from None
        if not isinstance(body, dict):
            raise Invalid(f"The request body must be a JSON object {{...}}, not {json_kind(body)}")
        where = unkept_text(body)
        if where is not None:
            raise Invalid(f"Text in {where[:80]} holds a NUL (\\u0000) or a lone surrogate (\\ud800-\\udfff); "
                          f"no text here may.")
        return body

    def query(self, name: str, default=None):
        value = self.get_query_argument(name, default)
        if value is not None and len(value) > 200:
            raise Invalid(f"The query parameter '{name}' is too long.")
        return value

    def reply(self, data, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.finish(json.dumps(data))

    def set_default_headers(self):
        self.set_header("Cache-Control", "no-store")
        self.set_header("X-Content-Type-Options", "nosniff")

    def write_error(self, status_code, **kwargs):
        exc = kwargs.get("exc_info", (None, None, None))[1]
        extra = {}
        if isinstance(exc, BookingError):
            status_code, message, extra = exc.status, exc.message, exc.extra
        elif isinstance(exc, web.HTTPError):
            message = exc.log_message % exc.args if exc.log_message and exc.args else exc.log_message
            message = message or self._reason
        elif status_code >= 500:
            message = "The booking service failed to answer; this is a bug, and it has been logged."
        else:
            message = self._reason
        self.set_status(status_code)
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.finish(error_json(status_code, message, **extra))

    def log_exception(self, typ, value, tb):
        if isinstance(value, BookingError):
            log.info("%s %s: %s %s", self.request.method, self.request.path, value.status, value.message)
        else:
            super().log_exception(typ, value, tb)

    def send_error(self, status_code=500, **kwargs):
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, BookingError):
            status_code = exc.status
        super().send_error(status_code, **kwargs)
