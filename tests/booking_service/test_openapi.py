"""The OpenAPI document: valid OpenAPI 3.1, documenting exactly the routes the service
serves, and describing the answers the service really gives (checked with jsonschema)."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta, timezone
from urllib.parse import quote

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from tornado import web

from booking_service.handlers import routes
from tests.booking_service.conftest import day_start, iso
from tests.hub import User

HEALTH = ("healthz", "readyz")  # probes, under the service's prefix (tests/booking_service/test_health.py)
# the calendar feed, also under the service's prefix (tests/booking_service/test_ical_api.py)
FEED = r"ical/(?P<token>[A-Za-z0-9_-]{43})\.ics"
METHODS = ("get", "post", "patch", "delete")  # what the handlers may implement
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
HOUR = timedelta(hours=1)


@pytest.fixture
async def doc(api) -> dict:
    resp = await api.call("GET", "openapi.json")  # public: no token
    assert resp.status == 200, resp.body
    assert resp.headers["Content-Type"].startswith("application/json")
    return resp.json()


async def test_the_document_is_valid_openapi_3_1(doc):
    validate(doc)
    assert doc["openapi"] == "3.1.0"
    assert doc["servers"] == [{"url": "/services/booking/api/v1"}]


def served_operations() -> set:
    """(path, method) of every API route, paths as OpenAPI templates under api/v1."""
    served = set()
    for pattern, handler in routes("/x/"):
        if pattern.removeprefix("/x/") in HEALTH:  # documented with the service's prefix as their server
            path = pattern.removeprefix("/x")
        elif pattern.removeprefix("/x/") == FEED:
            path = "/ical/{token}.ics"
        elif pattern.startswith("/x/api/v1/"):
            path = re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", pattern.removeprefix("/x/api/v1"))
        else:
            continue  # the landing page and the OAuth callback are not part of the API
        for method in METHODS:
            if getattr(handler, method) is not getattr(web.RequestHandler, method):
                served.add((path, method))
    return served


def documented_operations(doc) -> set:
    return {(path, method) for path, item in doc["paths"].items() for method in item if method in HTTP_METHODS}


async def test_the_documented_operations_are_the_served_routes(doc):
    assert documented_operations(doc) == served_operations()


def lookup(doc, ref: str):
    node = doc
    for part in ref.removeprefix("#/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


class Checked:
    """Calls the API and checks each answer against the schema the document declares for
    its path, method, status and content type; remembers which operations it saw answer
    (`tried`, any documented status) and answer successfully (`seen`)."""

    def __init__(self, api, doc):
        self.api, self.doc, self.seen, self.tried = api, doc, set(), set()

    async def __call__(self, method, template, caller=None, body=None, *, status, query="", accept=None, raw=None,
                       **params):
        path = template.format(**{k: quote(str(v), safe="") for k, v in params.items()})
        headers = {"Accept": accept} if accept else None
        resp = await self.api.call(method, path.lstrip("/") + query, caller, body, headers=headers, raw_body=raw)
        assert resp.status == status, (method, path, resp.status, resp.body)
        content_type = accept or "application/json"
        assert resp.headers["Content-Type"].split(";")[0] == content_type
        operation = lookup(self.doc, f"#/paths/{template.replace('/', '~1')}/{method.lower()}")
        answer = operation["responses"][str(status)]
        if "$ref" in answer:
            answer = lookup(self.doc, answer["$ref"])
        data = resp.body.decode() if accept else resp.json()
        self.check(answer["content"][content_type]["schema"], data, (method, path, status))
        self.tried.add((template, method.lower()))
        if status < 400:
            if body is not None:  # an accepted request body fits the documented one
                self.check(operation["requestBody"]["content"]["application/json"]["schema"], body, (method, path))
            self.seen.add((template, method.lower()))
        return data

    def check(self, schema, data, where):
        # Embedding the components lets "#/components/schemas/..." resolve from this root.
        validator = Draft202012Validator({"allOf": [schema], "components": self.doc["components"]})
        errors = sorted(validator.iter_errors(data), key=str)
        assert not errors, (where, [e.message for e in errors], data)


async def test_real_answers_match_the_documented_schemas(api, doc, admin, user):
    call = Checked(api, doc)
    await call("GET", "/openapi.json", status=200)
    await call("GET", "/me", user, status=200)

    # an admin sets up a pool with room for one "small" (1 core, 4 GiB), and a package
    pool = f"pool-{uuid.uuid4().hex[:10]}"
    created = await call("POST", "/pools", admin, {"name": pool, "kind": "reserved", "description": "doc"}, status=201)
    assert created["name"] == pool
    month = {"start": iso(day_start(0)), "end": iso(day_start(30))}
    await call("POST", "/pools/{pool}/capacity", admin, {**month, "cores": 1, "memory_gib": 4}, status=201, pool=pool)
    grants = await call("GET", "/pools/{pool}/capacity", admin, status=200, pool=pool,
                        query=f"?start={month['start']}&end={month['end']}")
    assert len(grants["grants"]) == 1
    await call("GET", "/pools", user, status=200)
    package = f"pkg-{uuid.uuid4().hex[:8]}"
    await call("POST", "/packages", admin, {
        "name": package, "description": "doc", "notebook_cores": 0.125, "notebook_memory_gib": 1.5,
        "spark_workers": 1, "worker_cores": 0.5, "worker_memory_gib": 0.5}, status=201)
    await call("GET", "/packages", user, status=200)
    await call("GET", "/packages", user, status=200, query="?history=true")

    # a user books; an admin's explicit resources for the same slot get 409 and alternatives
    start = day_start(1) + 9 * HOUR
    slot = {"pool": pool, "start": iso(start), "end": iso(start + 2 * HOUR)}
    mine = await call("POST", "/bookings", user, {**slot, "package": "small"}, status=201)
    refused = await call("POST", "/bookings", admin, {**slot, "resources": {"cores": 1, "memory_gib": 4}}, status=409)
    alternative = refused["alternatives"][0]
    assert alternative == {"pool": pool, "start": iso(start + 2 * HOUR), "end": iso(start + 4 * HOUR)}
    theirs = await call("POST", "/bookings", admin, {**alternative, "resources": {"cores": 1, "memory_gib": 4},
                                                     "user": user.name}, status=201)
    assert theirs["package"] is None

    day = f"?start={iso(day_start(1))}&end={iso(day_start(2))}"
    blocks = await call("GET", "/pools/{pool}/availability", user, status=200, pool=pool, query=day + "&grain=hour")
    assert len(blocks["blocks"]) == 24
    await call("GET", "/pools/{pool}/availability", user, status=200, pool=pool, query=day + f"&package={package}")
    picture = await call("GET", "/pools/{pool}/availability", user, status=200, pool=pool,
                         query=day + "&grain=hour", accept="text/plain")
    assert picture.startswith(f"pool {pool}, hour blocks")

    listed = await call("GET", "/bookings", user, status=200, query=day)
    assert {b["id"] for b in listed["bookings"]} == {mine["id"], theirs["id"]}
    await call("GET", "/bookings", admin, status=200, query=day + f"&pool={pool}")
    await call("GET", "/bookings/{booking_id}", user, status=200, booking_id=mine["id"])
    extend = {"end": iso(start + 3 * HOUR)}
    await call("PATCH", "/bookings/{booking_id}", user, extend, status=409, booking_id=mine["id"])
    await call("PATCH", "/bookings/{booking_id}", user, {"end": iso(start + HOUR)}, status=200, booking_id=mine["id"])
    cancelled = await call("DELETE", "/bookings/{booking_id}", user, status=200, booking_id=mine["id"])
    assert cancelled["status"] == "cancelled" and cancelled["cancelled"] is not None
    await call("DELETE", "/bookings/{booking_id}", user, status=409, booking_id=mine["id"])

    # what the booking-aware spawner does, a booking admin standing in for it (these
    # services have no walk-in pool): without a booking, a level-1 user may run nothing
    ent = await call("GET", "/users/{user}/entitlement", user, status=200, user=user.name)
    assert (ent["user"], ent["kind"], ent["pool"], ent["flavours"], ent["sessions"]) == (user.name, "none", None, [], [])
    await call("POST", "/users/{user}/sessions", admin, {"flavour": "jupyter"}, status=403, user=user.name)
    # with a booking on now, the server gets a session that holds nothing more
    now = datetime.now(timezone.utc)
    on_now = await call("POST", "/bookings", user, {"pool": pool, "package": "small", "start": iso(now),
                                                     "end": iso(now + HOUR)}, status=201)
    ent = await call("GET", "/users/{user}/entitlement", admin, status=200, user=user.name)
    assert (ent["kind"], ent["pool"], ent["booking_id"], ent["until"]) == ("booking", pool, on_now["id"], on_now["end"])
    server = {"server_name": "", "flavour": "jupyter"}
    session = await call("POST", "/users/{user}/sessions", admin, server, status=201, user=user.name)
    assert (session["kind"], session["booking_id"], session["state"]) == ("booking", on_now["id"], "running")
    again = await call("POST", "/users/{user}/sessions", admin, server, status=200, user=user.name)
    assert again == session
    ent = await call("GET", "/users/{user}/entitlement", user, status=200, user=user.name)
    assert ent["sessions"] == [{"id": session["id"], "server_name": "", "booking_id": on_now["id"]}]
    stopped = await call("DELETE", "/sessions/{session_id}", admin, status=200, session_id=session["id"],
                         query="?reason=done")
    assert (stopped["state"], stopped["stop_reason"]) == ("stopped", "done") and stopped["stopped"] is not None
    # a start that names its booking: that booking, or a refusal (someone else's, not on now)
    later = await call("POST", "/bookings", user, {"pool": pool, "package": "small", "start": iso(now + 2 * HOUR),
                                                    "end": iso(now + 3 * HOUR)}, status=201)
    ent = await call("GET", "/users/{user}/entitlement", user, status=200, user=user.name)
    assert ent["bookings"][0]["id"] == on_now["id"] and later["id"] in {b["id"] for b in ent["bookings"]}
    chosen = await call("POST", "/users/{user}/sessions", admin, {"booking": on_now["id"], "server_name": "b"},
                        status=201, user=user.name)
    assert chosen["booking_id"] == on_now["id"]
    await call("DELETE", "/sessions/{session_id}", admin, status=200, session_id=chosen["id"])
    await call("POST", "/users/{user}/sessions", admin, {"booking": later["id"]}, status=409, user=user.name)
    await call("POST", "/users/{user}/sessions", admin, {"booking": on_now["id"]}, status=404, user=admin.name)
    # the walk-in queue: nobody is in it (there is none here), so leaving it is a 404
    await call("DELETE", "/users/{user}/queue", user, status=404, user=user.name)
    await call("GET", "/users/{user}/entitlement", user, status=403, user=admin.name)
    await call("GET", "/users/{user}/entitlement", admin, status=404, user=f"nobody-{uuid.uuid4().hex[:8]}")
    await call("POST", "/users/{user}/sessions", user, {}, status=403, user=user.name)
    await call("POST", "/users/{user}/sessions", admin, {"flavour": "rstudio"}, status=400, user=user.name)
    await call("POST", "/users/{user}/sessions", admin, raw=b'{"server_name": "' + b"x" * 70_000 + b'"}', status=413,
               user=user.name)
    await call("DELETE", "/users/{user}/queue", user, status=403, user=admin.name)
    await call("DELETE", "/sessions/{session_id}", user, status=403, session_id=session["id"])
    await call("DELETE", "/users/{user}", user, status=403, user=user.name)
    await call("DELETE", "/users/{user}", admin, status=400, user="a/b")
    await call("DELETE", "/users/{user}", admin, status=200, user=f"nobody-{uuid.uuid4().hex[:8]}")
    await call("DELETE", "/sessions/{session_id}", admin, status=404, session_id=999999999)
    await call("DELETE", "/sessions/{session_id}", admin, status=400, session_id=session["id"],
               query="?reason=" + "x" * 201)

    # offer sets: offers held, one accepted, a booking with its phases; a NO; bad input
    ask = {"what": {"package": "small"}, "when": {"start": [f"{iso(start + 8 * HOUR)}/PT1H"]},
           "duration": {"min": "PT1H", "max": "PT2H"}, "pools": [pool]}
    offered = await call("POST", "/offersets", user, ask, status=201)
    assert offered["result"] == "YES"
    await call("GET", "/offersets/{set_id}", user, status=200, set_id=offered["id"])
    await call("GET", "/offersets/{set_id}", admin, status=404, set_id=999999999)
    accepted = await call("POST", "/offersets/{set_id}/offers/{index}", user, {"phase": "ACCEPTED"}, status=200,
                          set_id=offered["id"], index=0)
    await call("GET", "/bookings/{booking_id}", user, status=200, booking_id=accepted["id"])
    await call("POST", "/offersets/{set_id}/offers/{index}", user, {"phase": "ACCEPTED"}, status=409,
               set_id=offered["id"], index=0)
    await call("POST", "/offersets/{set_id}/offers/{index}", user, {"phase": "RUNNING"}, status=400,
               set_id=offered["id"], index=0)
    refused = await call("POST", "/offersets", user, {**ask, "duration": {"min": "PT3H"}}, status=201)
    assert refused["result"] == "NO"
    await call("POST", "/offersets", user, {**ask, "duration": "PT1H"}, status=400)
    listed = await call("GET", "/platforms", user, status=200)
    assert [p["name"] for p in listed["platforms"]] == ["local"]
    await call("POST", "/offersets", user, {**ask, "platforms": ["no-such"]}, status=400)

    # the calendar feed: made (its address once), shown, revoked; the feed itself is
    # checked in tests/booking_service/test_ical_api.py
    await call("GET", "/me/ical", user, status=200)
    await call("POST", "/me/ical", user, status=201)
    await call("DELETE", "/me/ical", user, status=200)
    await call("POST", "/me/ical", User(f"{api.service}-accounts", api.hub.forget_tokens[api.service]), status=403)
    # notices: an admin cancels the user's booking, and the user hears of it
    told = await call("POST", "/bookings", admin, {"pool": pool, "resources": {"cores": 0.5, "memory_gib": 1},
                                                    "user": user.name, "start": iso(start + 20 * HOUR),
                                                    "end": iso(start + 21 * HOUR)}, status=201)
    await call("DELETE", "/bookings/{booking_id}", admin, status=200, booking_id=told["id"])
    heard = await call("GET", "/users/{user}/notices", user, status=200, user=user.name)
    (notice,) = [n for n in heard["notices"] if n["booking_id"] == told["id"]]
    await call("POST", "/users/{user}/notices/{notice_id}", user, {"read": True}, status=200, user=user.name,
               notice_id=notice["id"])
    await call("POST", "/users/{user}/notices/{notice_id}", user, {"read": 1}, status=400, user=user.name,
               notice_id=notice["id"])
    await call("POST", "/users/{user}/notices/{notice_id}", admin, {"read": True}, status=404, user=admin.name,
               notice_id=notice["id"])
    await call("GET", "/users/{user}/notices", user, status=403, user=admin.name)

    # a series: booked on a rule, seen, refused as a whole, booked where it fits, cancelled
    nightly = {"package": "small", "pool": pool, "start": (start + 20 * HOUR).strftime("%Y-%m-%dT%H:%M"),
               "tz": "UTC", "duration": "PT2H", "rrule": "FREQ=DAILY;COUNT=3"}
    series = await call("POST", "/series", user, nightly, status=201)
    assert [b["series_id"] for b in series["bookings"]] == [series["id"]] * 3
    await call("GET", "/series/{series_id}", user, status=200, series_id=series["id"])
    clash = await call("POST", "/series", user, {**nightly, "rrule": "FREQ=DAILY;COUNT=4"}, status=409)
    assert [f["occurrence"] for f in clash["failed"]] == [0, 1, 2]
    fit = await call("POST", "/series", user, {**nightly, "rrule": "FREQ=DAILY;COUNT=4", "mode": "fit"}, status=201)
    assert len(fit["bookings"]) == 1 and len(fit["skipped"]) == 3
    await call("DELETE", "/series/{series_id}", user, status=200, series_id=series["id"])
    await call("DELETE", "/series/{series_id}", user, status=409, series_id=series["id"])
    await call("GET", "/series/{series_id}", admin, status=404, series_id=999999999)
    await call("POST", "/series", user, {**nightly, "rrule": "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30;COUNT=1"},
               status=400)

    # errors
    await call("GET", "/bookings/{booking_id}", user, status=404, booking_id=999999999)
    await call("GET", "/pools/{pool}/availability", user, status=400, pool=pool, query=day + "&grain=fortnight")
    await call("GET", "/pools/{pool}/availability", user, status=404, pool="no-such-pool", query=day)
    await call("POST", "/pools", user, {"name": "nope", "kind": "reserved"}, status=403)
    await call("POST", "/pools", admin, {"name": pool, "kind": "shared"}, status=409)
    await call("POST", "/pools", admin, raw=b'{"name": "' + b"x" * 70_000 + b'"}', status=413)
    await call("POST", "/bookings", user, {**slot, "package": "small", "resources": {}}, status=400)
    # preparation: these services have no workers, so a step is refused; a worker's
    # callback needs its step's secret (tests/booking_service/test_preparation.py has the rest)
    await call("POST", "/bookings", user, {**slot, "package": "small", "steps": [{"kind": "stage_file"}]}, status=400)
    await call("POST", "/callbacks/{step_id}", None, {"status": "COMPLETED"}, status=401, step_id=1)

    outside = {(f"/{path}", "get") for path in HEALTH} | {("/ical/{token}.ics", "get")}
    assert call.tried == documented_operations(doc) - outside
    # Leaving the walk-in queue answers 200 only with a walk-in pool, which these services
    # lack; tests/spawner/test_local_spawner.py leaves the queue for real. A callback answers
    # 200 only to a worker with its step's secret (tests/booking_service/test_preparation.py).
    assert documented_operations(doc) - call.seen == {("/users/{user}/queue", "delete"), ("/callbacks/{step_id}", "post"),
                                                      *outside}
