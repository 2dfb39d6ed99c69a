"""The private calendar feed over HTTP, through the hub's proxy, on SQLite and PostgreSQL:
a user makes a feed (its address shown once), a calendar application fetches it with no
login and parses it back with icalendar; renewing stops the old address at once,
revoking stops it, deleting the user stops it; another user's address shows only their
bookings; the anonymous endpoint is rate-limited by the address the proxy saw, whatever
the client writes in its headers, and never logs the token."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import quote

import pytest
from icalendar import Calendar

from tests.booking_service.conftest import BookingAPI, day_start, iso
from tests.booking_service.test_bad_input import assert_error
from tests.hub import User, start_hub, stop_hub

H = timedelta(hours=1)


async def fetch(api: BookingAPI, url: str, **headers):
    """GET the feed as a calendar application does: no token, no cookie."""
    assert url.startswith(api.hub.url), url
    return await api.hub.request("GET", url[len(api.hub.url):], headers=headers)


def events_of(resp) -> dict[str, object]:
    assert resp.status == 200, (resp.status, resp.body)
    assert resp.headers["Content-Type"] == "text/calendar; charset=utf-8"
    return {str(e["uid"]): e for e in Calendar.from_ical(resp.body).walk("VEVENT")}


async def test_a_feed_lists_my_bookings_with_no_login(api, admin, user, hub):
    pool = await api.new_pool(admin, cores=8, memory_gib=32)
    start = day_start(2) + 9 * H
    kept = await api.ok("POST", "bookings", user, {"pool": pool, "package": "small", "start": iso(start),
                                                   "end": iso(start + 2 * H)})
    dropped = await api.ok("POST", "bookings", user, {"pool": pool, "package": "medium",
                                                      "start": iso(start + 24 * H), "end": iso(start + 26 * H)})
    await api.ok("DELETE", f"bookings/{dropped['id']}", user)
    extended = await api.ok("PATCH", f"bookings/{kept['id']}", user, {"end": iso(start + 3 * H)}, status=200)
    # an offer is no booking: not in the feed
    offers = await api.ok("POST", "offersets", user, {"what": {"package": "small"},
                                                      "when": {"start": [f"{iso(start + 48 * H)}/PT1H"]},
                                                      "duration": {"min": "PT1H"}, "pools": [pool]})
    assert offers["result"] == "YES"
    theirs = await hub.new_user(groups=["level-1"])
    other = await api.ok("POST", "bookings", theirs, {"pool": pool, "package": "small", "start": iso(start),
                                                      "end": iso(start + H)})

    me = await api.ok("GET", "me", user)
    assert me["ical"] == {"active": False, "created": None} and me["ical_url"] is None
    assert await api.ok("GET", "me/ical", user) == {"active": False, "created": None, "url": None}
    made = await api.ok("POST", "me/ical", user)
    assert made["active"] is True and made["url"].startswith(f"{hub.url}services/{api.service}/ical/")
    assert made["url"].endswith(".ics")
    # the address again whenever asked (derived from the feed's nonce and the service's secret)
    me = await api.ok("GET", "me", user)
    assert me["ical"] == {"active": True, "created": made["created"]} and me["ical_url"] == made["url"]
    assert await api.ok("GET", "me/ical", user) == {"active": True, "created": made["created"], "url": made["url"]}

    resp = await fetch(api, made["url"])
    events = events_of(resp)
    host = "127.0.0.1"
    assert set(events) == {f"booking-{kept['id']}@{host}", f"booking-{dropped['id']}@{host}"}
    event = events[f"booking-{kept['id']}@{host}"]
    assert (event.decoded("dtstart"), event.decoded("dtend")) == (start, start + 3 * H)
    assert str(event["summary"]) == f"small on {pool}" and str(event["status"]) == "CONFIRMED"
    assert f"Booking #{kept['id']}" in str(event["description"])
    cancelled = events[f"booking-{dropped['id']}@{host}"]
    assert str(cancelled["status"]) == "CANCELLED" and str(cancelled["summary"]) == f"Cancelled: medium on {pool}"
    assert extended["end"] == iso(start + 3 * H)
    # private: no cookie, no shared cache, the ETag revalidates
    assert "Set-Cookie" not in resp.headers
    assert resp.headers["Cache-Control"] == "private, no-cache"
    again = await fetch(api, made["url"], **{"If-None-Match": resp.headers["Etag"]})
    assert again.status == 304

    # the other user's feed: only theirs
    their_feed = await api.ok("POST", "me/ical", theirs)
    assert set(events_of(await fetch(api, their_feed["url"]))) == {f"booking-{other['id']}@{host}"}
    # and only its own user sees an address: not the other user, not an admin reading
    # the user's bookings and entitlement
    assert (await api.ok("GET", "me", theirs))["ical_url"] == their_feed["url"] != made["url"]
    assert (await api.ok("GET", "me", admin))["ical_url"] is None
    token = made["url"].rsplit("/", 1)[1].removesuffix(".ics")
    for path in ("bookings", f"bookings/{kept['id']}", f"users/{quote(user.name)}/entitlement",
                 f"users/{quote(user.name)}/notices"):
        resp = await api.call("GET", path, admin)
        assert resp.status == 200 and token not in resp.body.decode(), (path, resp.status)


async def test_renewing_stops_the_old_address_and_revoking_stops_it(api, user):
    first = await api.ok("POST", "me/ical", user)
    events_of(await fetch(api, first["url"]))
    second = await api.ok("POST", "me/ical", user)
    assert second["url"] != first["url"]
    assert_error(await fetch(api, first["url"]), 404, "revoked or renewed")
    events_of(await fetch(api, second["url"]))
    assert (await api.ok("GET", "me", user))["ical_url"] == second["url"]

    assert await api.ok("DELETE", "me/ical", user) == {"active": False, "created": None, "url": None}
    assert_error(await fetch(api, second["url"]), 404, "revoked or renewed")
    me = await api.ok("GET", "me", user)
    assert me["ical"]["active"] is False and me["ical_url"] is None
    assert await api.ok("DELETE", "me/ical", user) == {"active": False, "created": None, "url": None}  # no error
    # a made-up token of the right shape, and one of the wrong shape
    fake = first["url"].rsplit("/", 1)[0] + "/" + "A" * 43 + ".ics"
    assert_error(await fetch(api, fake), 404, "no calendar feed")
    assert_error(await fetch(api, first["url"].replace(".ics", "x.ics")), 404)


async def test_making_a_feed_needs_the_write_scope_and_a_user(api, hub):
    reader = await hub.new_user(groups=["level-1"], scopes=["custom:booking:read"])
    assert_error(await api.call("POST", "me/ical", reader), 403, "custom:booking:write")
    assert_error(await api.call("DELETE", "me/ical", reader), 403, "custom:booking:write")
    assert (await api.ok("GET", "me/ical", reader))["active"] is False
    assert_error(await api.call("POST", "me/ical", None), 403, "Authentication required")
    # a service has no bookings of its own to show: the hub's forgetter is one
    service = User(f"{api.service}-accounts", hub.forget_tokens[api.service])
    assert_error(await api.call("POST", "me/ical", service), 403)


async def test_a_deleted_users_address_shows_nothing_to_the_next_owner_of_the_name(api, admin, hub):
    victim = await hub.new_user(groups=["level-1"])
    pool = await api.new_pool(admin)
    start = day_start(2)
    await api.ok("POST", "bookings", victim, {"pool": pool, "package": "small", "start": iso(start),
                                              "end": iso(start + H)})
    feed = await api.ok("POST", "me/ical", victim)
    assert len(events_of(await fetch(api, feed["url"]))) == 1
    forgetter = User(f"{api.service}-accounts", hub.forget_tokens[api.service])
    await api.ok("DELETE", f"users/{quote(victim.name)}", forgetter)
    assert_error(await fetch(api, feed["url"]), 404)
    me = await api.ok("GET", "me", victim)
    assert me["ical"]["active"] is False and me["ical_url"] is None


@pytest.fixture(scope="module")
def limited_hub(tmp_path_factory):
    """A hub of its own whose booking service allows 3 fetches of a feed and 5 per client
    address an hour."""
    workdir = tmp_path_factory.mktemp("ical-limits")
    limits = """
        for service in c.JupyterHub.services:
            if "command" in service:
                service["command"] += ["--BookingService.ical_limit=3/h", "--BookingService.ical_limit_address=5/h"]
    """
    hub = start_hub(workdir, {"booking": f"sqlite+aiosqlite:///{workdir}/booking.sqlite"}, extra_config=limits)
    yield hub
    stop_hub(hub.process)


async def test_the_feed_is_rate_limited_by_the_proxys_address_and_never_logs_its_token(limited_hub):
    api = BookingAPI(limited_hub, "booking")
    one, two = [await limited_hub.new_user(groups=["level-1"]) for _ in range(2)]
    feeds = [(await api.ok("POST", "me/ical", u))["url"] for u in (one, two)]
    for _ in range(3):
        events_of(await fetch(api, feeds[0]))
    refused = await fetch(api, feeds[0])
    assert_error(refused, 429, "Too many requests")
    assert 0 < int(refused.headers["Retry-After"]) <= 3600
    # another feed from the same place counts against the address (5), however the client
    # dresses itself up: the proxy appends the address it saw, and that is the one counted
    spoofed = {"X-Forwarded-For": "203.0.113.7", "X-Real-Ip": "203.0.113.8"}
    assert (await fetch(api, feeds[1], **spoofed)).status == 200
    assert_error(await fetch(api, feeds[1], **spoofed), 429)
    # tokens in the log: the hub's log holds the booking service's
    log = (limited_hub.workdir / "hub.log").read_text()
    for url in feeds:
        assert url.rsplit("/", 1)[1].removesuffix(".ics") not in log
    assert "ical/<token>.ics" in log


@pytest.fixture(scope="module")
def restartable_hub(tmp_path_factory, postgres_cluster):
    """A hub of its own whose booking services (SQLite, PostgreSQL) run as processes a
    test restarts, each with its feed secret in a file of its own."""
    workdir = tmp_path_factory.mktemp("ical-secret")
    pg_url = postgres_cluster.url(postgres_cluster.create_database("feeds"))
    external = {"feeds": f"sqlite+aiosqlite:///{workdir}/feeds.sqlite", "feeds-pg": pg_url}
    hub = start_hub(workdir, {}, external=external)
    for name, process in hub.external.items():
        process.stop()
        process.args = [*process.args, f"--BookingService.feed_secret_file={workdir}/{name}-secret"]
        process.start()
    yield hub
    for process in hub.external.values():
        process.stop()
    stop_hub(hub.process)


@pytest.mark.parametrize("service", ["feeds", "feeds-pg"], ids=["sqlite", "postgresql"])
async def test_the_address_survives_a_restart_and_dies_with_the_secret(restartable_hub, service):
    hub = restartable_hub
    api, process = BookingAPI(hub, service), hub.external[service]
    secret_file = hub.workdir / f"{service}-secret"
    assert secret_file.stat().st_mode & 0o777 == 0o600 and len(secret_file.read_text().strip()) == 64
    one, two = [await hub.new_user(groups=["level-1"]) for _ in range(2)]
    urls = {u.name: (await api.ok("POST", "me/ical", u))["url"] for u in (one, two)}

    # a restart (the same secret): the same addresses, shown again and working
    process.stop()
    process.start()
    for u in (one, two):
        assert (await api.ok("GET", "me", u))["ical_url"] == urls[u.name]
        events_of(await fetch(api, urls[u.name]))

    # a new secret (the file replaced): every address stops, and no feed is shown
    process.stop()
    secret_file.unlink()
    process.start()
    assert secret_file.read_text() != ""
    for u in (one, two):
        assert_error(await fetch(api, urls[u.name]), 404, "no calendar feed")
        me = await api.ok("GET", "me", u)
        assert me["ical_url"] is None and me["ical"]["active"] is False
    renewed = await api.ok("POST", "me/ical", one)
    assert renewed["url"] != urls[one.name]
    events_of(await fetch(api, renewed["url"]))
    assert (await api.ok("GET", "me", one))["ical_url"] == renewed["url"]

    # a secret file others may read stops the start, naming the option
    process.stop()
    secret_file.chmod(0o644)
    with pytest.raises(RuntimeError, match="feed_secret_file"):
        process.start()
    secret_file.chmod(0o600)
    process.start()
    events_of(await fetch(api, renewed["url"]))
