"""The health endpoints as probes call them: liveness and readiness, unauthenticated and
never cached, through the hub's proxy on SQLite and PostgreSQL; and readiness following a
PostgreSQL cluster that stops and comes back, without restarting the service."""

from __future__ import annotations

import time

import pytest
import yaml
from jsonschema import Draft202012Validator

from tests.booking_service.standalone import Standalone
from tests.postgres import ThrowawayPostgres
from tests.booking_service.test_fuzz import DOCUMENT

DOC = yaml.safe_load(DOCUMENT.read_text())


def check_documented(path: str, status: int, body: dict) -> None:
    """The answer is the one the OpenAPI document declares for it."""
    answer = DOC["paths"]["/" + path]["get"]["responses"][str(status)]
    schema = answer["content"]["application/json"]["schema"]
    validator = Draft202012Validator({"allOf": [schema], "components": DOC["components"]})
    errors = [e.message for e in validator.iter_errors(body)]
    assert not errors, (path, status, errors, body)


@pytest.mark.parametrize("path", ["healthz", "readyz"])
async def test_probes_answer_ok_without_a_token_and_are_never_cached(api, path):
    resp = await api.hub.request("GET", f"services/{api.service}/{path}")
    assert resp.status == 200, resp.body
    assert resp.json() == {"status": "ok"}
    assert resp.headers["Content-Type"].startswith("application/json")
    assert resp.headers["Cache-Control"] == "no-store"
    check_documented(path, 200, resp.json())


@pytest.fixture
def own_cluster():
    """A PostgreSQL cluster of this test's own, which it stops and starts."""
    cluster = ThrowawayPostgres().start()
    yield cluster
    cluster.stop()


@pytest.mark.postgres
def test_readiness_follows_the_database_and_recovers_without_a_restart(own_cluster, tmp_path):
    service = Standalone(own_cluster.url(own_cluster.create_database()), tmp_path / "booking.log",
                         args=["--BookingService.readiness_timeout=2"])
    try:
        service.wait_ready()
        assert service.get("readyz")[0] == 200
        own_cluster.pause()
        started = time.monotonic()
        status, headers, body = service.get("readyz")
        assert time.monotonic() - started < 5  # within the timeout, not the probe's
        assert status == 503 and body["status"] == "error" and body["message"], body
        assert "127.0.0.1" not in body["message"] and str(own_cluster.port) not in body["message"]
        assert headers["Cache-Control"] == "no-store"
        check_documented("readyz", 503, body)
        status, _, body = service.get("healthz")
        assert (status, body) == (200, {"status": "ok"})  # alive all the same
        own_cluster.resume()
        # the pool's connections died with the server: the first probe after it comes
        # back gets a fresh one
        status, _, body = service.get("readyz")
        assert (status, body) == (200, {"status": "ok"})
        assert service.process.poll() is None
        assert "Not ready: the database does not answer" in service.text()
    finally:
        service.kill()
