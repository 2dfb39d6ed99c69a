"""The preparation workers' callback (POST /callbacks/{step_id}): no hub login, the step's
own secret as a bearer token; thin, one operation."""

from __future__ import annotations

import json

from tornado import web
from tornado.ioloop import IOLoop

from ..domain import BookingError, Invalid
from ..operations import preparation
from .base import MAX_BODY, error_json, log


class CallbackHandler(web.RequestHandler):
    """Workers are programs with a secret per step, not hub users: this handler does not
    ask the hub who calls (APIHandler would), it checks the step's secret."""

    def set_default_headers(self):
        self.set_header("Cache-Control", "no-store")
        self.set_header("X-Content-Type-Options", "nosniff")

    def _secret(self) -> str | None:
        scheme, _, value = self.request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise BookingError("A callback needs the step's secret: 'Authorization: Bearer <secret>'.", status=401)
        return value.strip()

    def _body(self):
        if len(self.request.body) > MAX_BODY:
            raise Invalid(f"The request body is larger than {MAX_BODY // 1024} KiB.", status=413)
        try:
            return json.loads(self.request.body or b"null")
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise Invalid('The body must be JSON: {"status": "COMPLETED", "message": "..."}') from None

    async def post(self, step_id):
        ctx, now = self.settings["booking_context"], self.settings["clock"]()
        step = await preparation.report_step(ctx, _step_id(step_id), self._secret(), self._body(), now)
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.finish(json.dumps(step))
        # the next step of the booking starts now, not at the lifecycle loop's next round
        IOLoop.current().spawn_callback(_start_next, ctx, now)

    def write_error(self, status_code, **kwargs):
        exc = kwargs.get("exc_info", (None, None, None))[1]
        extra, message = {}, "The booking service failed to answer; this is a bug, and it has been logged."
        if isinstance(exc, BookingError):
            status_code, message, extra = exc.status, exc.message, dict(exc.extra)
            if "retry_after" in extra:
                self.set_header("Retry-After", str(extra["retry_after"]))
            if status_code == 401:
                self.set_header("WWW-Authenticate", 'Bearer realm="booking-callbacks"')
        elif status_code < 500:
            message = self._reason
        self.set_status(status_code)
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.finish(error_json(status_code, message, **extra))

    def send_error(self, status_code=500, **kwargs):
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, BookingError):
            status_code = exc.status
        super().send_error(status_code, **kwargs)

    def log_exception(self, typ, value, tb):
        if isinstance(value, BookingError):
            log.info("%s %s: %s %s", self.request.method, self.request.path, value.status, value.message)
        else:
            super().log_exception(typ, value, tb)


def _step_id(text: str) -> int:
    value = int(text)
    if value > 2**31 - 1:
        raise BookingError("There is no such step.", status=404)
    return value


async def _start_next(ctx, now) -> None:
    try:
        await preparation.start_ready(ctx, now)
    except Exception:
        log.exception("Starting the next preparation step failed; the lifecycle loop tries again")
