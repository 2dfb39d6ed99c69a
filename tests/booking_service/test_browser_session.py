"""A browser's way in: log in to the hub, follow the OAuth redirect to the service, then use
the API with the service's cookie; changes need the _xsrf token, as everywhere in JupyterHub."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import timedelta

import requests

from tests.booking_service.conftest import BookingAPI, day_start, iso


def browser_login(hub_url: str, name: str) -> tuple[requests.Session, str]:
    session = requests.Session()
    session.get(hub_url + "hub/login").raise_for_status()
    resp = session.post(hub_url + "hub/login", data={
        "username": name, "password": "any", "_xsrf": session.cookies.get("_xsrf", path="/hub/"),
    }, allow_redirects=False)  # not on to /hub/spawn: these tests start no notebook server
    assert resp.status_code == 302, resp.text
    landing = session.get(hub_url + "services/booking/")
    landing.raise_for_status()
    assert f"Logged in as <b>{name}</b>" in landing.text
    token = re.search(r'name="xsrf-token" content="([^"]+)"', landing.text).group(1)
    return session, token


async def test_cookie_session_reads_and_changes_only_with_xsrf(hub, admin):
    api = BookingAPI(hub, "booking")  # the OAuth flow is the hub's, whatever the database
    name = f"browser-{uuid.uuid4().hex[:8]}"
    session, xsrf = await asyncio.to_thread(browser_login, hub.url, name)
    base = hub.url + "services/booking/api/v1/"
    me = await asyncio.to_thread(session.get, base + "me")
    assert me.status_code == 200 and me.json()["name"] == name
    pool = await api.new_pool(admin)
    body = {"pool": pool, "package": "small", "start": iso(day_start(1)), "end": iso(day_start(1) + timedelta(hours=1))}
    forged = await asyncio.to_thread(session.post, base + "bookings", json=body)
    assert forged.status_code == 403  # a cross-site form could send the cookie, not the token
    listed = await asyncio.to_thread(session.get, base + "bookings")
    assert listed.json()["bookings"] == []
    made = await asyncio.to_thread(session.post, base + "bookings", json=body, headers={"X-XSRFToken": xsrf})
    assert made.status_code == 201, made.text
    assert made.json()["user"] == name


async def test_every_new_change_needs_the_xsrf_token_from_a_browser(hub, admin):
    """The offer sets, series, calendar feed and notices change things too: with the cookie
    and without the token (what a cross-site page can send) each is refused before it acts."""
    name = f"browser-{uuid.uuid4().hex[:8]}"
    session, xsrf = await asyncio.to_thread(browser_login, hub.url, name)
    base = hub.url + "services/booking/api/v1/"
    nine = day_start(3) + timedelta(hours=9)
    forged = [
        ("POST", "offersets", {"what": {"package": "small"}, "when": {"start": [f"{iso(nine)}/PT1H"]},
                               "duration": {"min": "PT1H"}}),
        ("POST", "offersets/1/offers/0", {"phase": "ACCEPTED"}),
        ("POST", "series", {"package": "small", "start": iso(nine), "end": iso(nine + timedelta(hours=1)),
                            "rrule": "FREQ=DAILY;COUNT=2"}),
        ("DELETE", "series/1", None),
        ("POST", "me/ical", None),
        ("DELETE", "me/ical", None),
        ("POST", f"users/{name}/notices/1", {"read": True}),
    ]
    for method, path, body in forged:
        resp = await asyncio.to_thread(session.request, method, base + path, json=body)
        assert resp.status_code == 403, (method, path, resp.status_code, resp.text)
    # nothing happened: no feed was made (the token's GET is a read, allowed)
    status = await asyncio.to_thread(session.get, base + "me/ical")
    assert status.status_code == 200 and status.json()["active"] is False
    made = await asyncio.to_thread(session.post, base + "me/ical", headers={"X-XSRFToken": xsrf})
    assert made.status_code == 201, made.text
