"""Schemathesis over the booking service's OpenAPI document on the running service, with
an admin's token and a level-1 user's (issue 9, item 5): no 5xx, and every answer as
the document says. Run alone with ``pytest -m fuzz``."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import yaml

from tests.openapi_fuzz import fuzz

DOCUMENT = Path(__file__).resolve().parents[2] / "booking_service" / "openapi.yaml"
HEALTH = ("getHealth", "getReady")
# under the service's prefix too, not api/v1: the probes and the calendar feed
PREFIXED = HEALTH + ("getCalendarFeedDocument",)
pytestmark = [pytest.mark.fuzz, pytest.mark.timeout(900)]


@pytest.mark.parametrize("who", ["admin", "user"])
async def test_generated_requests_get_no_server_error_and_documented_answers(api, admin, user, who):
    caller = {"admin": admin, "user": user}[who]
    await api.new_pool(admin)  # something to find
    base = api.hub.url + api.base.rstrip("/")
    # schemathesis calls synchronously (requests): off the loop the hub client shares
    failures = await asyncio.to_thread(fuzz, DOCUMENT, base, caller.token, examples=15, refuse_invalid=False,
                                       exclude=PREFIXED)
    # the probes' and the feed's server is the service's prefix, not api/v1: a document of
    # theirs alone with that base (a base URL given to schemathesis overrides each path's servers)
    document = yaml.safe_load(DOCUMENT.read_text())
    document["paths"] = {path: item for path, item in document["paths"].items()
                         if item.get("get", {}).get("operationId") in PREFIXED}
    assert len(document["paths"]) == len(PREFIXED)
    failures += await asyncio.to_thread(fuzz, document, f"{api.hub.url}services/{api.service}", caller.token,
                                        examples=15, refuse_invalid=False)
    assert not failures, "\n\n".join(failures)
