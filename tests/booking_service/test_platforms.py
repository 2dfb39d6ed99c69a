"""Platforms (seed 003) for real: the offer search of a booking service (on SQLite and on
PostgreSQL) asks its own pools, a SECOND booking service of ours at another site (its own
hub, started by the test) and a Blazar STAND-IN (tests/blazar_standin.py), and merges
their offers in the one order; accepting a remote offer books it there and frees the
siblings here and there; a platform that is down or silent is that platform's NO with a
message while the others' offers still come; a Blazar offer is a lease there, kept when
accepted and deleted when not."""

from __future__ import annotations

import itertools
import json
import socket
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from tests.blazar_standin import BlazarStandIn
from tests.booking_service.conftest import BookingAPI, day_start, iso
from tests.booking_service.test_bad_input import assert_error
from tests.hub import ALL_BOOKING_SCOPES, Hub, free_port, start_hub, stop_hub

H = timedelta(hours=1)
LOCAL_SERVICES = ("booking", "booking-pg")
REMOTE = "booking-remote"
DAYS = itertools.count(2)  # each test books on a day of its own: the sites are shared by the module


def sync_call(hub: Hub, method: str, path: str, token: str, body=None) -> tuple[int, dict]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(hub.url + path.lstrip("/"), data=data, method=method,
                                     headers={"Authorization": f"token {token}"})
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def sync_user(hub: Hub, *, admin=False, groups=()) -> str:
    """A user of `hub` and its API token (booking scopes, access to the hub's services)."""
    name = f"site-{uuid.uuid4().hex[:8]}"
    assert sync_call(hub, "POST", f"hub/api/users/{name}", hub.admin_token, {"admin": admin})[0] == 201
    for group in groups:
        sync_call(hub, "POST", f"hub/api/groups/{group}", hub.admin_token)
        assert sync_call(hub, "POST", f"hub/api/groups/{group}/users", hub.admin_token, {"users": [name]})[0] == 200
    access = [f"access:services!service={s}" for s in hub.services]
    status, model = sync_call(hub, "POST", f"hub/api/users/{name}/tokens", hub.admin_token,
                              {"scopes": ALL_BOOKING_SCOPES + access, "expires_in": 3600})
    assert status == 201, model
    return model["token"]


@dataclass
class Sites:
    local: Hub
    remote: Hub
    broker: str  # this service's token at the remote site
    blazar: BlazarStandIn

    def remote_api(self, method, path, body=None):
        return sync_call(self.remote, method, f"services/{REMOTE}/api/v1/{path}", self.broker, body)


@pytest.fixture(scope="module")
def sites(tmp_path_factory, postgres_cluster):
    # the other site: its own hub and booking service, one reserved pool of 1 core
    there = tmp_path_factory.mktemp("remote-site")
    remote = start_hub(there, {REMOTE: f"sqlite+aiosqlite:///{there}/booking.sqlite"}, extra_config="""
        for service in c.JupyterHub.services:
            if "command" in service:
                service["command"].append("--BookingService.max_held_offer_sets=1000")
    """)
    local = None
    silent = socket.socket()
    try:
        # its booking admin sets it up; the broker is an ordinary account there (level n),
        # whose token this site's service holds
        admin = sync_user(remote, admin=True)
        api = f"services/{REMOTE}/api/v1/"
        assert sync_call(remote, "POST", api + "pools", admin, {"name": "far", "kind": "reserved"})[0] == 201
        assert sync_call(remote, "POST", api + "pools/far/capacity", admin, {
            "start": iso(day_start(0)), "end": iso(day_start(40)), "cores": 1, "memory_gib": 16})[0] == 201
        broker = sync_user(remote, groups=["level-n"])
        here = tmp_path_factory.mktemp("local-site")
        (here / "remote-token").write_text(broker + "\n")
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)  # accepts connections, never answers
        with BlazarStandIn(hosts=[(4, 16384)], token="keystone-token") as blazar:
            platforms = [
                {"name": "local", "kind": "local"},
                {"name": "remote", "kind": "remote", "url": f"{remote.url}{api}",
                 "token_file": str(here / "remote-token")},
                {"name": "blazar", "kind": "blazar", "url": blazar.url, "token": "keystone-token",
                 "pool": "openstack", "max_probes": 8},
                {"name": "gone", "kind": "remote", "url": f"http://127.0.0.1:{free_port()}/api/v1/", "token": "x"},
                {"name": "silent", "kind": "remote", "url": f"http://127.0.0.1:{silent.getsockname()[1]}/api/v1/",
                 "token": "x", "timeout": 1},
            ]
            config = here / "platforms_config.py"
            config.write_text(f"c.BookingService.platforms = {platforms!r}\n")
            pg = postgres_cluster.url(postgres_cluster.create_database("platforms"))
            # booking-pg2: a second process on the same database, as the service scales out
            local = start_hub(here, {
                "booking": f"sqlite+aiosqlite:///{here}/booking.sqlite", "booking-pg": pg, "booking-pg2": pg,
            }, extra_config=f"""
                for service in c.JupyterHub.services:
                    if service["name"] in {LOCAL_SERVICES + ("booking-pg2",)!r}:
                        service["command"].append("--config={config}")
            """)
            yield Sites(local, remote, broker, blazar)
    finally:
        silent.close()
        if local is not None:
            stop_hub(local.process)
        stop_hub(remote.process)
    for site in (there, here):
        log = Path(site) / "hub.log"
        assert "Traceback" not in log.read_text(), f"a traceback in {log}"


@pytest.fixture(params=LOCAL_SERVICES, ids=["sqlite", "postgresql"])
def api(request, sites) -> BookingAPI:
    return BookingAPI(sites.local, request.param)


async def setup(api, sites, *, cores=1):
    admin = await sites.local.new_user(admin=True, prefix="admin")
    user = await sites.local.new_user(groups=["level-1"])
    pool = await api.new_pool(admin, cores=cores, memory_gib=16, days=40)
    return admin, user, pool


def ask(nine, *, platforms, pool=None, hours=3, longest="PT2H", count=4):
    body = {"what": {"package": "small"}, "when": {"start": [f"{iso(nine)}/PT{hours}H"]},
            "duration": {"min": "PT1H", "max": longest}, "count": count, "platforms": platforms}
    if pool:
        body["pools"] = [pool]
    return body


async def test_offers_of_two_services_merge_and_accepting_a_remote_one_books_it_there(api, sites):
    admin, user, pool = await setup(api, sites)
    nine = day_start(next(DAYS)) + 9 * H
    # here the pool's one core is taken from 9 to 10; there it is free
    await api.ok("POST", "bookings", admin, {"pool": pool, "start": iso(nine), "end": iso(nine + H),
                                             "resources": {"cores": 1, "memory_gib": 4}})
    answer = await api.ok("POST", "offersets", user, ask(nine, platforms=["local", "remote"], pool=pool))
    offers = answer["offers"]
    # the one order over both: earliest start, then the longest; remote's do not overlap each other
    assert [(o["platform"], o["start"], o["end"]) for o in offers] == [
        ("remote", iso(nine), iso(nine + 2 * H)),
        ("local", iso(nine + H), iso(nine + 3 * H)),
        ("remote", iso(nine + 2 * H), iso(nine + 4 * H))]
    assert [o["index"] for o in offers] == [0, 1, 2] and answer["result"] == "YES"
    assert offers[0]["id"] is None and offers[0]["pool"] == "far" and offers[0]["phase"] == "OFFERED"
    held_there = offers[0]["remote"]["offer_set"]
    status, there = sites.remote_api("GET", f"offersets/{held_there}")
    assert status == 200 and [o["phase"] for o in there["offers"]] == ["OFFERED", "OFFERED"]
    assert (await api.ok("GET", f"offersets/{answer['id']}", user))["offers"] == offers

    booking = await api.ok("POST", f"offersets/{answer['id']}/offers/0", user, {"phase": "ACCEPTED"}, status=200)
    assert booking["phase"] == "ACCEPTED" and booking["platform"] == "remote"
    assert [t["to"] for t in booking["transitions"]] == ["OFFERED", "ACCEPTED"]
    # booked there (the remote's own API says so), its sibling there rejected
    status, made = sites.remote_api("GET", f"bookings/{booking['remote']['booking']}")
    assert status == 200 and (made["phase"], made["start"], made["end"]) == ("ACCEPTED", iso(nine), iso(nine + 2 * H))
    assert [o["phase"] for o in sites.remote_api("GET", f"offersets/{held_there}")[1]["offers"]] == [
        "ACCEPTED", "REJECTED"]
    # the local sibling's hold is gone at once
    view = await api.ok("GET", f"offersets/{answer['id']}", user)
    assert [o["phase"] for o in view["offers"]] == ["ACCEPTED", "REJECTED", "REJECTED"]
    free = await api.ok("GET", f"pools/{pool}/availability?start={iso(nine)}&end={iso(nine + 3 * H)}&grain=hour",
                        user)
    assert [b["free_min"]["cores"] for b in free["blocks"]] == [0, 1, 1]
    for n in (1, 0, 2):
        assert_error(await api.call("POST", f"offersets/{answer['id']}/offers/{n}", user, {"phase": "ACCEPTED"}),
                     409, "was accepted already")


async def test_accepting_a_local_offer_releases_the_remote_ones_there(api, sites):
    admin, user, pool = await setup(api, sites)
    nine = day_start(next(DAYS)) + 9 * H
    answer = await api.ok("POST", "offersets", user, ask(nine, platforms=["local", "remote"], pool=pool,
                                                         longest="PT1H", count=2))
    # ties on start and duration: local before remote by the platforms' names, one each
    assert [(o["platform"], o["start"]) for o in answer["offers"]] == [("local", iso(nine)), ("remote", iso(nine))]
    held_there = answer["offers"][1]["remote"]["offer_set"]
    # the remote held two (the count asked) and this set kept one: the other was given up there at once
    assert [o["phase"] for o in sites.remote_api("GET", f"offersets/{held_there}")[1]["offers"]] == [
        "OFFERED", "REJECTED"]
    booking = await api.ok("POST", f"offersets/{answer['id']}/offers/0", user, {"phase": "ACCEPTED"}, status=200)
    assert booking["platform"] == "local" and booking["state"] == "booked"
    assert [o["phase"] for o in sites.remote_api("GET", f"offersets/{held_there}")[1]["offers"]] == [
        "REJECTED", "REJECTED"]
    view = await api.ok("GET", f"offersets/{answer['id']}", user)
    assert [o["phase"] for o in view["offers"]] == ["ACCEPTED", "REJECTED"]
    assert_error(await api.call("POST", f"offersets/{answer['id']}/offers/1", user, {"phase": "ACCEPTED"}), 409,
                 "was accepted already")


async def test_a_platform_down_or_silent_is_its_no_and_the_others_still_offer(api, sites):
    admin, user, pool = await setup(api, sites)
    nine = day_start(next(DAYS)) + 9 * H
    answer = await api.ok("POST", "offersets", user, ask(nine, platforms=["local", "gone", "silent"], pool=pool))
    assert answer["result"] == "YES" and {o["platform"] for o in answer["offers"]} == {"local"}
    text = " ".join(answer["messages"])
    assert "Platform 'gone' could not be reached" in text or "Platform 'gone' did not answer" in text, text
    assert "Platform 'silent' did not answer" in text, text
    # only the platforms down: NO, saying why
    answer = await api.ok("POST", "offersets", user, ask(nine, platforms=["gone"]))
    assert answer["result"] == "NO" and answer["offers"] == [] and "'gone'" in answer["messages"][0]
    assert_error(await api.call("POST", "offersets", user, ask(nine, platforms=["nowhere"])), 400,
                 "no platform named 'nowhere'", "GET /platforms")
    listed = await api.ok("GET", "platforms", user)
    assert [(p["name"], p["kind"]) for p in listed["platforms"]] == [
        ("local", "local"), ("remote", "remote"), ("blazar", "blazar"), ("gone", "remote"), ("silent", "remote")]
    assert "token" not in json.dumps(listed) and sites.broker not in json.dumps(listed)


async def test_a_blazar_offer_is_a_lease_kept_when_accepted_and_deleted_when_not(api, sites):
    admin, user, pool = await setup(api, sites)
    nine = day_start(next(DAYS)) + 9 * H
    date = (nine).strftime("%Y-%m-%d")
    # another project has the one host until 9:30: Blazar refuses the 9:00 and 9:15 leases
    other = sites.blazar.add_lease(f"{date} 09:00", f"{date} 09:30")
    before = {lease["id"] for lease in sites.blazar.leases()}
    answer = await api.ok("POST", "offersets", user, ask(nine, platforms=["blazar"], hours=2, longest="PT1H",
                                                         count=2))
    assert [(o["platform"], o["pool"], o["start"], o["end"]) for o in answer["offers"]] == [
        ("blazar", "openstack", iso(nine + H / 2), iso(nine + 1.5 * H)),
        ("blazar", "openstack", iso(nine + 1.5 * H), iso(nine + 2.5 * H))]
    # a whole host: 4 cores and 16 GiB, for a package of 1 core and 4 GiB
    assert answer["offers"][0]["resources"] == {"cores": 4.0, "memory_gib": 16.0}
    held = {lease["id"]: lease for lease in sites.blazar.leases() if lease["id"] not in before}
    assert set(held) == {o["remote"]["lease"] for o in answer["offers"]}
    assert {lease["start_date"] for lease in held.values()} == {f"{date} 09:30", f"{date} 10:30"}
    assert all(lease["name"].startswith(f"aglais-offer-{user.name}") for lease in held.values())

    booking = await api.ok("POST", f"offersets/{answer['id']}/offers/1", user, {"phase": "ACCEPTED"}, status=200)
    assert booking["phase"] == "ACCEPTED" and booking["remote"]["lease"] == answer["offers"][1]["remote"]["lease"]
    left = {lease["id"]: lease for lease in sites.blazar.leases() if lease["id"] not in before}
    assert list(left) == [booking["remote"]["lease"]]  # the sibling's lease is deleted
    assert left[booking["remote"]["lease"]]["name"].startswith("aglais-booking-")
    assert other in {lease["id"] for lease in sites.blazar.leases()}

    # declining a Blazar offer deletes its lease too
    again = await api.ok("POST", "offersets", user, ask(nine + 3 * H, platforms=["blazar"], hours=1,
                                                        longest="PT1H", count=1))
    lease = again["offers"][0]["remote"]["lease"]
    declined = await api.ok("POST", f"offersets/{again['id']}/offers/0", user, {"phase": "REJECTED"}, status=200)
    assert declined["phase"] == "REJECTED" and lease not in {x["id"] for x in sites.blazar.leases()}


async def test_every_platform_is_asked_by_default(api, sites):
    admin, user, pool = await setup(api, sites)
    nine = day_start(next(DAYS)) + 9 * H
    body = ask(nine, platforms=None, hours=1, longest="PT1H", count=20)
    del body["platforms"]
    answer = await api.ok("POST", "offersets", user, body)
    platforms = {o["platform"] for o in answer["offers"]}
    assert {"local", "remote", "blazar"} <= platforms, answer
    keys = [(o["start"], o["end"]) for o in answer["offers"]]
    assert keys == sorted(keys)
    text = " ".join(answer["messages"])
    assert "'gone'" in text and "'silent'" in text
    # let them all go: what was held elsewhere is released there
    for offer in answer["offers"]:
        await api.ok("POST", f"offersets/{answer['id']}/offers/{offer['index']}", user, {"phase": "REJECTED"},
                     status=200)
    assert not [x for x in sites.blazar.leases() if x["name"].startswith(f"aglais-offer-{user.name}")]


async def test_racing_accepts_of_a_remote_and_a_local_offer_make_one_booking(api, sites):
    """On PostgreSQL the two accepts go to two service processes of one database."""
    import asyncio

    other = BookingAPI(sites.local, "booking-pg2") if api.service == "booking-pg" else api
    admin, user, pool = await setup(api, sites)
    nine = day_start(next(DAYS)) + 9 * H
    for i in range(4):
        answer = await api.ok("POST", "offersets", user, ask(nine, platforms=["local", "remote"], pool=pool,
                                                             longest="PT1H", count=2))
        assert [o["platform"] for o in answer["offers"]] == ["local", "remote"]
        sides = ((0, api), (1, other)) if i % 2 else ((1, api), (0, other))
        results = await asyncio.gather(*(side.call("POST", f"offersets/{answer['id']}/offers/{n}", user,
                                                   {"phase": "ACCEPTED"}) for n, side in sides))
        assert sorted(r.status for r in results) == [200, 409], [(r.status, r.body) for r in results]
        view = await api.ok("GET", f"offersets/{answer['id']}", user)
        assert sorted(o["phase"] for o in view["offers"]) == ["ACCEPTED", "REJECTED"]
        won = next(o for o in view["offers"] if o["phase"] == "ACCEPTED")
        if won["platform"] == "local":
            await api.ok("DELETE", f"bookings/{won['id']}", user, status=200)
        nine += 2 * H


async def test_the_answers_match_the_documented_schemas(api, sites):
    from jsonschema import Draft202012Validator

    doc = (await api.call("GET", "openapi.json")).json()

    def check(name: str, value) -> None:
        Draft202012Validator({**doc, "$ref": f"#/components/schemas/{name}"}).validate(value)

    admin, user, pool = await setup(api, sites)
    nine = day_start(next(DAYS)) + 9 * H
    answer = await api.ok("POST", "offersets", user, ask(nine, platforms=["local", "remote", "blazar"], pool=pool,
                                                         hours=1, longest="PT1H"))
    assert {o["platform"] for o in answer["offers"]} == {"local", "remote", "blazar"}
    check("OfferSet", answer)
    check("OfferSet", await api.ok("GET", f"offersets/{answer['id']}", user))
    remote = next(o for o in answer["offers"] if o["platform"] == "remote")
    check("PlatformOffer", await api.ok("POST", f"offersets/{answer['id']}/offers/{remote['index']}", user,
                                        {"phase": "ACCEPTED"}, status=200))
    check("OfferSet", await api.ok("GET", f"offersets/{answer['id']}", user))
    check("Platforms", await api.ok("GET", "platforms", user))


@pytest.mark.parametrize("spec, message", [
    ({"name": "x", "kind": "cloud"}, "BookingService.platforms[0].kind must be one of"),
    ({"name": "x", "kind": "remote", "url": "ftp://x", "token": "t"}, "BookingService.platforms[0].url"),
    ({"name": "x", "kind": "remote", "url": "http://x/api/v1/"}, "needs exactly one of 'token'"),
    ({"name": "x", "kind": "remote", "url": "http://me:secret@x/api/v1/", "token": "t"}, "must not hold a user"),
    ({"name": "x", "kind": "remote", "url": "http://x/", "token": "t", "tokne_file": "f"}, "unknown key(s) tokne_file"),
    ({"name": "x", "kind": "remote", "url": "http://x/", "token_env": "NO_SUCH_VARIABLE_HERE"}, "is not set"),
    ({"name": "x", "kind": "blazar", "url": "http://x/", "token": "t", "resource_type": "flavor:instance"},
     "needs flavor_id, flavor_cores, flavor_memory_gib"),
    ({"name": "x", "kind": "blazar", "url": "http://x/", "token": "t", "max_probes": 0}, "max_probes must be"),
    ({"name": "Not a name!", "kind": "local"}, "platforms[0].name"),
    ("local", "'platforms' trait"),
])
def test_a_wrong_platform_stops_the_start_naming_it(spec, message):
    from booking_service.app import BookingService

    with pytest.raises(Exception) as raised:
        BookingService(platforms=[spec])
    assert message in str(raised.value)


def test_pools_belong_to_one_platform():
    from booking_service.platforms import build_platforms

    with pytest.raises(ValueError, match="the pool 'a' is in the local platforms 'one' and 'two'"):
        build_platforms([{"name": "one", "kind": "local", "pools": ["a"]}, {"name": "two", "kind": "local",
                                                                            "pools": ["a", "b"]}])
    with pytest.raises(ValueError, match="two platforms are named 'one'"):
        build_platforms([{"name": "one", "kind": "local"}, {"name": "one", "kind": "remote", "url": "http://x/",
                                                            "token": "t"}])
    gpu, rest = build_platforms([{"name": "gpu", "kind": "local", "pools": ["gpu"]}, {"name": "rest", "kind": "local"}])
    assert gpu.owns("gpu") and not gpu.owns("cpu") and rest.owns("cpu") and not rest.owns("gpu")


async def test_expired_blazar_offers_are_swept_and_their_leases_deleted(tmp_path):
    """In-process, with the clock moved: an offer held as a Blazar lease and not accepted in
    time becomes EXPIRED at the lifecycle's sweep, and its lease is deleted there."""
    from datetime import datetime, timezone

    from booking_service import store
    from booking_service.engine import Resources
    from booking_service.lifecycle import Lifecycle
    from booking_service.operations import Context, platform_offers
    from booking_service.platforms import PlatformOffer, build_platforms
    from booking_service.policy import LevelPolicy
    from booking_service.orm import OfferSet
    from sqlalchemy import insert

    engine = store.make_engine(f"sqlite+aiosqlite:///{tmp_path}/booking.sqlite")
    try:
        await store.upgrade(engine)
        with BlazarStandIn(hosts=[(4, 16384)], token="k") as blazar:
            ctx = Context(engine=engine, policy=LevelPolicy(), platforms=build_platforms([
                {"name": "cloud", "kind": "blazar", "url": blazar.url, "token": "k"}]))
            now = datetime(2031, 1, 6, 8, 0, tzinfo=timezone.utc)
            cloud = ctx.platforms[0]
            lease = await cloud._lease(int(now.timestamp()) + 3600, 3600, 1, "ada")
            assert [x["id"] for x in blazar.leases()] == [lease]
            async with engine.begin() as conn:
                set_id = (await conn.execute(insert(OfferSet).values(
                    user="ada", created=now, created_by="ada", expires=now + 5 * timedelta(minutes=1), request="{}",
                    result="YES", messages="[]").returning(OfferSet.id))).scalar_one()
                await platform_offers.keep_offer(
                    conn, set_id, 0, PlatformOffer("cloud", "cloud", int(now.timestamp()) + 3600, 3600,
                                                   Resources(4000, 16384), 0, ref={"lease": lease}),
                    user="ada", package=None, now=now, expires=now + timedelta(minutes=5), cause="offered")
            lifecycle = Lifecycle(ctx, interval=1, clock=lambda: now)
            await lifecycle.sweep_offers(now + timedelta(minutes=4))
            assert [x["id"] for x in blazar.leases()] == [lease]  # still held
            await lifecycle.sweep_offers(now + timedelta(minutes=5))
            assert blazar.leases() == []
            async with engine.connect() as conn:
                (row,) = await platform_offers.rows_of(conn, set_id)
            assert row.phase == "EXPIRED" and json.loads(row.history)[-1]["by"] == "lifecycle"
            assert await platform_offers.sweep(ctx, now + timedelta(minutes=6)) == 0
    finally:
        await engine.dispose()


async def test_sets_of_remote_offers_only_count_against_the_held_sets_cap(api, sites):
    admin, user, pool = await setup(api, sites)
    nine = day_start(next(DAYS)) + 9 * H
    sets = []
    for _ in range(3):  # BookingService.max_held_offer_sets
        answer = await api.ok("POST", "offersets", user, ask(nine, platforms=["remote"], hours=4, longest="PT1H",
                                                             count=1))
        assert [o["platform"] for o in answer["offers"]] == ["remote"]
        sets.append(answer)
    assert_error(await api.call("POST", "offersets", user, ask(nine, platforms=["remote"], hours=4, count=1)), 409,
                 "You hold the offers of 3 offer set(s)")
    assert_error(await api.call("POST", f"offersets/{sets[0]['id']}/offers/5", user, {"phase": "ACCEPTED"}), 404,
                 "offers 0 to 0; there is no offer 5")
    for answer in sets:  # declining frees the cap and the remote's capacity
        declined = await api.ok("POST", f"offersets/{answer['id']}/offers/0", user, {"phase": "REJECTED"},
                                status=200)
        assert declined["phase"] == "REJECTED" and [t["to"] for t in declined["transitions"]] == ["OFFERED",
                                                                                                  "REJECTED"]
        status, there = sites.remote_api("GET", f"offersets/{answer['offers'][0]['remote']['offer_set']}")
        assert [o["phase"] for o in there["offers"]] == ["REJECTED"]
    assert (await api.ok("POST", "offersets", user, ask(nine, platforms=["remote"], hours=4, count=1)))["result"] \
        == "YES"


def parsed_request(body: dict, now):
    from booking_service.engine import Resources
    from booking_service.operations.offer_request import apply_level, parse_offer_request
    from booking_service.policy import LevelPolicy

    parsed = parse_offer_request(body, max_windows=16, default_count=4, max_resources=Resources(10**9, 10**9),
                                 max_window=timedelta(days=30))
    policy = LevelPolicy()
    from booking_service.domain import Caller

    apply_level(parsed, policy.rules(2), Caller("ada", "user", 2, False, True, True), now)
    return parsed


async def test_a_flavor_platform_reserves_instances_and_a_wrong_token_is_its_no():
    from datetime import datetime, timezone

    from booking_service.platforms import PlatformError, build_platforms

    now = datetime(2031, 1, 6, 8, 0, tzinfo=timezone.utc)
    nine = now + H
    body = {"what": {"resources": {"cores": {"min": 3}, "memory_gib": {"min": 4}}},
            "when": {"start": [f"{iso(nine)}/PT1H"]}, "duration": {"min": "PT1H"}, "count": 2}
    with BlazarStandIn(hosts=[(4, 16384), (4, 16384)], flavors={"m1": (2, 8192)}, token="k") as blazar:
        flavor, wrong = build_platforms([
            {"name": "cloud", "kind": "blazar", "url": blazar.url, "token": "k", "resource_type": "flavor:instance",
             "flavor_id": "m1", "flavor_cores": 2, "flavor_memory_gib": 8},
            {"name": "wrong", "kind": "blazar", "url": blazar.url, "token": "not-it"}])
        answer = await flavor.can_i_do_this(parsed_request(body, now), now=now, user="ada")
        # 3 cores are two instances of 2; both hosts' 8 cores hold four: two offers cannot
        # overlap, so the second starts when the first ends, outside the one-hour window
        assert [(o.start, o.duration, o.resources.millicores) for o in answer.offers] == [
            (int(nine.timestamp()), 3600, 4000)]
        (lease,) = blazar.leases()
        assert lease["reservations"][0]["resource_type"] == "flavor:instance"
        assert (lease["reservations"][0]["amount"], lease["reservations"][0]["flavor_id"]) == (2, "m1")
        assert (lease["start_date"], lease["end_date"]) == ("2031-01-06 09:00", "2031-01-06 10:00")
        # the other four cores are free: a second search gets them, a third finds no room
        again = await flavor.can_i_do_this(parsed_request(body, now), now=now, user="ada")
        assert len(again.offers) == 1 and len(blazar.leases()) == 2
        full = await flavor.can_i_do_this(parsed_request(body, now), now=now, user="ada")
        assert full.offers == [] and "no lease of 2 instance(s) of flavor m1 fits" in full.messages[0]
        with pytest.raises(PlatformError, match="refused"):
            await wrong.can_i_do_this(parsed_request(body, now), now=now, user="ada")
        await flavor.release(answer.offers[0].ref)
        assert len(blazar.leases()) == 1


@pytest.mark.parametrize("change, kept, error", [
    ({}, 1, None),
    ({"start": "2031-01-06T07:00:00Z", "end": "2031-01-06T08:00:00Z"}, 0, None),  # before its window
    ({"resources": {"cores": 1e30, "memory_gib": 4}}, 0, None),  # more than asked
    ({"resources": {"cores": float("inf"), "memory_gib": 4}}, 0, "cannot read"),
    ({"end": "2031-01-06T19:00:00Z"}, 0, None),  # longer than asked
    ({"pool": "x" * 100}, 0, "cannot read"),
    ({"start": "not a time"}, 0, "cannot read"),
])
async def test_a_remote_answer_is_checked_against_the_request(change, kept, error):
    """A remote is another service: what it answers is checked like input."""
    from datetime import datetime, timezone

    from booking_service.platforms import PlatformError, RemotePlatform

    now = datetime(2031, 1, 6, 8, 0, tzinfo=timezone.utc)
    offer = {"id": 5, "index": 0, "pool": "far", "start": "2031-01-06T09:00:00Z", "end": "2031-01-06T10:00:00Z",
             "resources": {"cores": 1, "memory_gib": 4}, "expires": "2031-01-06T08:05:00Z", **change}

    class Canned(RemotePlatform):
        async def _call(self, method, path, body=None):
            return 201, {"id": 3, "offers": [offer], "messages": ["1 offer(s); accept one with POST /offersets/3",
                                                                  "Durations are cut"]}

    remote = Canned("far", {"url": "http://far.example/api/v1/", "token": "t"})
    body = {"what": {"resources": {"cores": {"min": 1}, "memory_gib": {"min": 4}}},
            "when": {"start": [f"{iso(now + H)}/PT1H"]}, "duration": {"min": "PT1H"}}
    if error:
        with pytest.raises(PlatformError, match=error):
            await remote.can_i_do_this(parsed_request(body, now), now=now, user="ada")
        return
    answer = await remote.can_i_do_this(parsed_request(body, now), now=now, user="ada")
    assert len(answer.offers) == kept
    assert answer.messages == ["Platform 'far': Durations are cut"]


@pytest.fixture(params=["sqlite", "postgresql"])
async def here(request, tmp_path, postgres_cluster):
    """An in-process database of this service (its lifecycle run with the clock moved)."""
    from booking_service import store

    url = (f"sqlite+aiosqlite:///{tmp_path}/booking.sqlite" if request.param == "sqlite" else
           postgres_cluster.url(postgres_cluster.create_database(f"repair_{uuid.uuid4().hex[:8]}")))
    engine = store.make_engine(url)
    await store.upgrade(engine)
    yield engine
    await engine.dispose()


async def test_an_accept_cut_off_midway_is_repaired_by_the_sweep(here, sites, monkeypatch):
    """A process that stopped in the middle of accepting a remote offer (a task cancelled
    after the claim) leaves it ACCEPTING; the lifecycle's sweep asks the remote (the second
    service, for real) what became of it once the claim is older than an accept could take:
    booked there -> ACCEPTED with its booking, siblings rejected there; never booked -> OFFERED
    again, and it can be accepted; rejected there -> EXPIRED saying so; the remote cannot
    say -> left until its hold lapses, then EXPIRED saying so."""
    import asyncio
    from datetime import datetime, timezone

    from sqlalchemy import insert

    from booking_service.engine import Resources
    from booking_service.lifecycle import SYSTEM, Lifecycle
    from booking_service.operations import Context, platform_offers
    from booking_service.orm import OfferSet
    from booking_service.platforms import PlatformError, build_platforms
    from booking_service.policy import LevelPolicy

    ctx = Context(engine=here, policy=LevelPolicy(), platforms=build_platforms([
        {"name": "remote", "kind": "remote", "url": f"{sites.remote.url}services/{REMOTE}/api/v1/",
         "token": sites.broker}]))
    (platform,) = ctx.platforms
    now = datetime.now(timezone.utc).replace(microsecond=0)
    lifecycle = Lifecycle(ctx, interval=1, clock=lambda: now)

    async def held_set():
        nine = day_start(next(DAYS)) + 9 * H
        parsed = parsed_request(ask(nine, platforms=["remote"], longest="PT1H", count=2), now)
        parsed.need, parsed.most = Resources(1, 1), Resources(10**9, 10**9)  # the remote's package decides
        answer = await platform.can_i_do_this(parsed, now=now, user="ada")
        assert len(answer.offers) == 2, answer
        async with here.begin() as conn:
            set_id = (await conn.execute(insert(OfferSet).values(
                user="ada", created=now, created_by="ada", expires=now + timedelta(minutes=5), request="{}",
                result="YES", messages="[]").returning(OfferSet.id))).scalar_one()
            for n, offer in enumerate(answer.offers):
                await platform_offers.keep_offer(conn, set_id, n, offer, user="ada", package=None, now=now,
                                             expires=now + timedelta(minutes=5), cause="offered")
        return set_id, answer.offers[0].ref["offer_set"]

    async def rows(set_id):
        async with here.connect() as conn:
            return await platform_offers.rows_of(conn, set_id)

    async def cut_off(set_id, *, booked: bool):
        """Accept offer 0, the task cancelled just before (or just after) the platform booked it."""
        async def stop(*args, **kwargs):
            raise asyncio.CancelledError

        if not booked:
            monkeypatch.setattr(platform, "accept", stop)
        with pytest.raises(asyncio.CancelledError):
            await platform_offers.accept(ctx, SYSTEM, set_id, (await rows(set_id))[0], now, stop)
        monkeypatch.undo()
        assert [r.phase for r in await rows(set_id)] == ["ACCEPTING", "OFFERED"]

    def there(remote_set):
        return [o["phase"] for o in sites.remote_api("GET", f"offersets/{remote_set}")[1]["offers"]]

    # booked there before the stop: finished, the sibling rejected here and there
    set_id, remote_set = await held_set()
    await cut_off(set_id, booked=True)
    await lifecycle.sweep_offers(now + timedelta(seconds=60))
    assert [r.phase for r in await rows(set_id)] == ["ACCEPTING", "OFFERED"]  # an accept may still be at work
    await lifecycle.sweep_offers(now + timedelta(seconds=121))
    accepted, sibling = await rows(set_id)
    assert (accepted.phase, sibling.phase) == ("ACCEPTED", "REJECTED")
    booking = json.loads(accepted.remote)["booking"]
    assert sites.remote_api("GET", f"bookings/{booking}")[1]["phase"] == "ACCEPTED"
    assert there(remote_set) == ["ACCEPTED", "REJECTED"]
    assert "cut off after platform 'remote' had booked it" in json.loads(accepted.history)[-1]["cause"]
    shown = platform_offers.offer_json(accepted, now)
    assert shown["phase"] == "ACCEPTED" and shown["remote"]["booking"] == booking

    # never booked there: OFFERED again, and accepting it now works
    set_id, remote_set = await held_set()
    await cut_off(set_id, booked=False)
    assert platform_offers.offer_json((await rows(set_id))[0], now)["phase"] == "OFFERED"
    assert "accepting_since" not in platform_offers.offer_json((await rows(set_id))[0], now)["remote"]
    later = now + timedelta(seconds=121)
    await lifecycle.sweep_offers(later)
    assert [r.phase for r in await rows(set_id)] == ["OFFERED", "OFFERED"]

    async def no_local(*args):
        pass
    answer = await platform_offers.accept(ctx, SYSTEM, set_id, (await rows(set_id))[0], later, no_local)
    assert answer["phase"] == "ACCEPTED" and there(remote_set) == ["ACCEPTED", "REJECTED"]

    # booked there by an accept of ours whose answer was lost (a 502 here, OFFERED again):
    # accepting again is refused there, but the platform says it booked it, so it is ACCEPTED
    set_id, remote_set = await held_set()
    status, made = sites.remote_api("POST", f"offersets/{remote_set}/offers/0", {"phase": "ACCEPTED"})
    assert status == 200
    answer = await platform_offers.accept(ctx, SYSTEM, set_id, (await rows(set_id))[0], now, no_local)
    assert answer["phase"] == "ACCEPTED" and answer["remote"]["booking"] == made["id"]
    assert [r.phase for r in await rows(set_id)] == ["ACCEPTED", "REJECTED"]

    # rejected there meanwhile: EXPIRED, saying what the platform said
    set_id, remote_set = await held_set()
    await cut_off(set_id, booked=False)
    assert sites.remote_api("POST", f"offersets/{remote_set}/offers/0", {"phase": "REJECTED"})[0] == 200
    await lifecycle.sweep_offers(now + timedelta(seconds=121))
    (gone, _) = await rows(set_id)
    assert gone.phase == "EXPIRED"
    assert "platform 'remote' says it is REJECTED" in json.loads(gone.history)[-1]["cause"]

    # the platform cannot say: kept until its hold lapses, then EXPIRED saying so
    set_id, remote_set = await held_set()
    await cut_off(set_id, booked=False)

    async def silent(ref):
        raise PlatformError("Platform 'remote' did not answer in time.")
    monkeypatch.setattr(platform, "status", silent)
    await lifecycle.sweep_offers(now + timedelta(seconds=121))
    assert [r.phase for r in await rows(set_id)] == ["ACCEPTING", "OFFERED"]
    await lifecycle.sweep_offers(now + timedelta(minutes=5))
    (gone, sibling) = await rows(set_id)
    assert (gone.phase, sibling.phase) == ("EXPIRED", "EXPIRED")
    cause = json.loads(gone.history)[-1]["cause"]
    assert "did not answer in time" in cause and "its hold lapsed at" in cause
    monkeypatch.undo()
    assert await platform_offers.repair(ctx, now + timedelta(minutes=6), no_local) == 0


async def test_a_blazar_accept_cut_off_midway_is_repaired_from_its_lease(tmp_path, monkeypatch):
    """Against the Blazar stand-in: the lease renamed (accepted there) before the stop ->
    ACCEPTED with its lease; not renamed -> OFFERED again; the lease gone -> EXPIRED."""
    import asyncio
    from datetime import datetime, timezone

    from sqlalchemy import insert

    from booking_service import store
    from booking_service.engine import Resources
    from booking_service.lifecycle import SYSTEM
    from booking_service.operations import Context, platform_offers
    from booking_service.orm import OfferSet
    from booking_service.platforms import PlatformOffer, build_platforms
    from booking_service.policy import LevelPolicy

    engine = store.make_engine(f"sqlite+aiosqlite:///{tmp_path}/booking.sqlite")
    try:
        await store.upgrade(engine)
        with BlazarStandIn(hosts=[(4, 16384)] * 3, token="k") as blazar:
            ctx = Context(engine=engine, policy=LevelPolicy(), platforms=build_platforms([
                {"name": "cloud", "kind": "blazar", "url": blazar.url, "token": "k"}]))
            (cloud,) = ctx.platforms
            now = datetime(2031, 1, 6, 8, 0, tzinfo=timezone.utc)

            async def stop(*args, **kwargs):
                raise asyncio.CancelledError

            async def no_local(*args):
                pass

            async def stuck(*, renamed: bool):
                lease = await cloud._lease(int(now.timestamp()) + 3600, 3600, 1, "ada")
                async with engine.begin() as conn:
                    set_id = (await conn.execute(insert(OfferSet).values(
                        user="ada", created=now, created_by="ada", expires=now + timedelta(minutes=5),
                        request="{}", result="YES", messages="[]").returning(OfferSet.id))).scalar_one()
                    await platform_offers.keep_offer(
                        conn, set_id, 0, PlatformOffer("cloud", "cloud", int(now.timestamp()) + 3600, 3600,
                                                       Resources(4000, 16384), 0, ref={"lease": lease}),
                        user="ada", package=None, now=now, expires=now + timedelta(minutes=5), cause="offered")
                    (row,) = await platform_offers.rows_of(conn, set_id)
                if not renamed:
                    monkeypatch.setattr(cloud, "accept", stop)
                with pytest.raises(asyncio.CancelledError):
                    await platform_offers.accept(ctx, SYSTEM, set_id, row, now, stop)
                monkeypatch.undo()
                return set_id, lease

            async def phase(set_id):
                async with engine.connect() as conn:
                    (row,) = await platform_offers.rows_of(conn, set_id)
                return row

            booked, lease = await stuck(renamed=True)
            never, _ = await stuck(renamed=False)
            gone, gone_lease = await stuck(renamed=False)
            await cloud.release({"lease": gone_lease})  # deleted there meanwhile
            assert await platform_offers.repair(ctx, now + timedelta(seconds=119), no_local) == 0
            assert await platform_offers.repair(ctx, now + timedelta(seconds=121), no_local) == 3
            row = await phase(booked)
            assert row.phase == "ACCEPTED" and json.loads(row.remote) == {"lease": lease}
            assert (await phase(never)).phase == "OFFERED"
            row = await phase(gone)
            assert row.phase == "EXPIRED" and "no longer has its lease" in json.loads(row.history)[-1]["cause"]
    finally:
        await engine.dispose()


# -- hostile platforms: another service's answers are input, over real HTTP ------------------

class _Hostile:
    """A platform's web service in this process answering whatever a test sets for a path,
    recording every path it was asked for."""

    def __init__(self):
        from tornado import web
        from tornado.httpserver import HTTPServer
        from tornado.testing import bind_unused_port

        hostile = self
        self.answers: dict[str, tuple[int, bytes, dict]] = {}
        self.asked: list[tuple[str, str]] = []

        class Any(web.RequestHandler):
            SUPPORTED_METHODS = ("GET", "POST", "PUT", "DELETE")

            def _answer(self):
                hostile.asked.append((self.request.method, self.request.path))
                status, body, headers = hostile.answers.get(self.request.path, (404, b'{"message": "no"}', {}))
                self.set_status(status)
                for key, value in headers.items():
                    self.set_header(key, value)
                self.finish(body)

            get = post = put = delete = _answer

        sock, self.port = bind_unused_port()
        self.server = HTTPServer(web.Application([(r"/.*", Any)]))
        self.server.add_sockets([sock])
        self.url = f"http://127.0.0.1:{self.port}/"


@pytest.fixture
async def hostile():
    server = _Hostile()  # on the test's loop
    yield server
    server.server.stop()


def _gzip_bomb(size: int) -> bytes:
    import zlib

    packer = zlib.compressobj(9, zlib.DEFLATED, 31)  # valid JSON: an object padded with spaces
    return packer.compress(b'{"id": 1') + packer.compress(b" " * size) + packer.compress(b"}") + packer.flush()


@pytest.mark.parametrize("body, headers, error", [
    (b"[" * 100_000 + b"]" * 100_000, {}, "not JSON"),  # json.loads raised RecursionError
    (b'{"id": "' + b"x" * (5 << 20) + b'"}', {}, "more than"),
    (_gzip_bomb(90 << 20), {"Content-Encoding": "gzip"}, "more than"),  # 90 KiB on the wire
])
async def test_a_remote_platforms_hostile_answer_to_accept_is_its_error(hostile, body, headers, error):
    """Accepting a remote offer must end in PlatformError or BookingError (the service then
    puts the offer back), never another exception: that was a 500 with the offer left
    ACCEPTING for ever."""
    from booking_service.platforms import PlatformError, RemotePlatform

    hostile.answers["/api/v1/offersets/3/offers/0"] = (200, body, headers)
    remote = RemotePlatform("far", {"url": f"{hostile.url}api/v1/", "token": "t"})
    with pytest.raises(PlatformError, match=error):
        await remote.accept({"offer_set": 3, "index": 0, "booking": 5}, user="ada")


@pytest.mark.parametrize("lease_id", ["../../identity/v3/users/admin", "a?b", "a/b", "x" * 300, ""])
async def test_a_blazar_lease_id_is_checked_before_it_goes_into_a_path(hostile, lease_id):
    """Blazar's lease ids are UUIDs; any other id (a path trick aimed, with our Keystone
    token, at another API behind the same address) is refused and never asked for."""
    from datetime import datetime, timezone

    from booking_service.platforms import BlazarPlatform, PlatformError

    hostile.answers["/v1/os-hosts"] = (200, json.dumps({"hosts": [{"vcpus": 4, "memory_mb": 16384}]}).encode(), {})
    hostile.answers["/v1/leases"] = (201, json.dumps({"lease": {"id": lease_id}}).encode(), {})
    blazar = BlazarPlatform("cloud", {"url": hostile.url, "token": "keystone", "max_probes": 2})
    now = datetime(2031, 1, 6, 8, 0, tzinfo=timezone.utc)
    body = {"what": {"resources": {"cores": {"min": 1}, "memory_gib": {"min": 4}}},
            "when": {"start": [f"{iso(now + H)}/PT1H"]}, "duration": {"min": "PT1H"}}
    with pytest.raises(PlatformError, match="lease id"):
        await blazar.can_i_do_this(parsed_request(body, now), now=now, user="ada")
    assert {path for _, path in hostile.asked} <= {"/v1/os-hosts", "/v1/leases"}, hostile.asked


@pytest.mark.parametrize("hosts", [
    [{"vcpus": 0, "memory_mb": 16384}], [{"vcpus": 4, "memory_mb": 0}], [{"vcpus": -4, "memory_mb": 16384}],
    [{"vcpus": 1e400, "memory_mb": 16384}], [{"vcpus": 10**30, "memory_mb": 16384}], [{"vcpus": True, "memory_mb": 1}],
])
async def test_blazar_hosts_of_no_or_absurd_size_are_its_error(hostile, hosts):
    """A host's vcpus and memory_mb are whole numbers above 0 of a sane size: 0 divided the
    request by zero and a negative one made offers of negative resources."""
    from datetime import datetime, timezone

    from booking_service.platforms import BlazarPlatform, PlatformError

    raw = json.dumps({"hosts": hosts}).replace("Infinity", "1e400").encode()
    hostile.answers["/v1/os-hosts"] = (200, raw, {})
    hostile.answers["/v1/leases"] = (201, b'{"lease": {"id": "6b1f6c7e-8b3c-4c1e-9a55-1d0f2b3c4d5e"}}', {})
    blazar = BlazarPlatform("cloud", {"url": hostile.url, "token": "keystone", "max_probes": 2})
    now = datetime(2031, 1, 6, 8, 0, tzinfo=timezone.utc)
    body = {"what": {"resources": {"cores": {"min": 1}, "memory_gib": {"min": 4}}},
            "when": {"start": [f"{iso(now + H)}/PT1H"]}, "duration": {"min": "PT1H"}}
    with pytest.raises(PlatformError, match="vcpus and memory_mb"):
        await blazar.can_i_do_this(parsed_request(body, now), now=now, user="ada")
