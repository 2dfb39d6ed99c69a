"""Health endpoints for whoever runs the service (a Kubernetes kubelet's probes, a load
balancer): unauthenticated, never cached, and saying nothing beyond the status."""

from __future__ import annotations

import asyncio
import json
import logging

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine
from tornado import web

log = logging.getLogger("booking_service")


async def ping(engine: AsyncEngine) -> None:
    """One trivial query. A connection the database dropped (it restarted) fails once and
    is invalidated with its pool; the retry then gets a fresh one, so a database that is
    back answers the first probe after it (SQLAlchemy's "pessimistic" retry pattern)."""
    for attempt in (1, 2):
        try:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            return
        except DBAPIError as e:
            if attempt == 2 or not e.connection_invalidated:
                raise


class HealthHandler(web.RequestHandler):
    """GET healthz: the process serves (liveness)."""

    def set_default_headers(self):
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.set_header("Cache-Control", "no-store")
        self.set_header("X-Content-Type-Options", "nosniff")

    def answer(self, status: int, body: dict) -> None:
        self.set_status(status)
        self.finish(json.dumps(body))

    def get(self):
        self.answer(200, {"status": "ok"})


class ReadinessHandler(HealthHandler):
    """GET readyz: the database answers a trivial query within `readiness_timeout` seconds
    (readiness); 503 otherwise. The cause goes to the log, not to the unauthenticated caller."""

    async def get(self):
        timeout = self.settings["readiness_timeout"]
        try:
            await asyncio.wait_for(ping(self.settings["booking_context"].engine), timeout)
        except asyncio.TimeoutError:
            log.warning("Not ready: the database did not answer within %g s", timeout)
            self.answer(503, {"status": "error", "message": f"The database did not answer within {timeout:g} s."})
        except (SQLAlchemyError, OSError) as e:
            log.warning("Not ready: the database does not answer: %s", str(e).splitlines()[0][:300])
            self.answer(503, {"status": "error", "message": "The database does not answer; see the service's log."})
        else:
            self.answer(200, {"status": "ok"})
