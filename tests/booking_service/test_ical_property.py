"""The calendar feed against a plain model, on SQLite and PostgreSQL: random bookings
(their times written in random time zones), cancellations, end moves and the passing of
time for two users; after every step each user's feed, parsed back with icalendar, has
exactly the events the model says, with their UTC times, and a SEQUENCE that grows when,
and only when, the booking changed. And the feed's keys: what the database holds opens no
feed without the secret, a new secret closes every feed, and migration 0010 drops the older feeds."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import re
import uuid
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from icalendar import Calendar

from aglais_common.limits import Limit, WindowCounter
from sqlalchemy import select, text

from booking_service import orm, store
from booking_service.domain import Caller
from booking_service.operations import Context, bookings, ical, pools
from booking_service.operations.packages import create_package
from booking_service.policy import LevelPolicy

START = datetime(2030, 3, 4, 9, tzinfo=timezone.utc)
H = timedelta(hours=1)
ADMIN = Caller(name="admin", kind="user", level=2, admin=True, can_read=True, can_write=True)
SECRET = b"a test's calendar feed secret, 32 bytes or more"
SETTINGS = ical.FeedSettings(past=timedelta(days=2), keep_cancelled=timedelta(days=1), max_events=100, secret=SECRET)
# zones with odd offsets, both hemispheres' summer time, and none
ZONES = ["UTC", "Europe/London", "America/St_Johns", "Asia/Kathmandu", "Pacific/Chatham", "Australia/Lord_Howe",
         "America/Los_Angeles", "Pacific/Kiritimati"]

steps = st.lists(
    st.one_of(
        # user, hours from now, length in hours, the zone the start and end are written in, package or resources
        st.tuples(st.just("book"), st.integers(0, 1), st.integers(0, 72), st.integers(1, 30), st.sampled_from(ZONES),
                  st.booleans()),
        st.tuples(st.just("cancel"), st.integers(0, 20)),
        st.tuples(st.just("move"), st.integers(0, 20), st.integers(-3, 10)),
        st.tuples(st.just("wait"), st.integers(1, 40)),  # hours
    ),
    min_size=1, max_size=12,
)


@pytest.fixture(params=["sqlite", "postgresql"])
async def engine(request, tmp_path_factory, postgres_cluster):
    url = (f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('ical')}/ical.sqlite" if request.param == "sqlite"
           else postgres_cluster.url(postgres_cluster.create_database()))
    engine = store.make_engine(url)
    await store.upgrade(engine)
    yield engine
    await engine.dispose()


def written_in(moment: datetime, zone: str) -> str:
    return moment.astimezone(ZoneInfo(zone)).isoformat()


def parse(document: bytes) -> dict[str, dict]:
    """The feed's events by UID, as plain values."""
    cal = Calendar.from_ical(document)
    assert str(cal["version"]) == "2.0" and "aglais-hub" in str(cal["prodid"])
    return {
        str(e["uid"]): {
            "start": e.decoded("dtstart"), "end": e.decoded("dtend"), "status": str(e["status"]),
            "summary": str(e["summary"]), "sequence": int(e["sequence"]), "modified": e.decoded("last-modified"),
            "created": e.decoded("created"),
        }
        for e in cal.walk("VEVENT")
    }


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=steps)
async def test_the_feed_is_what_the_model_says(engine, steps):
    run = uuid.uuid4().hex[:10]  # examples share the database: names of their own
    ctx = Context(engine=engine, policy=LevelPolicy())
    now = START
    pool = f"pool-{run}"
    await pools.create_pool(ctx, {"name": pool, "kind": "reserved"}, now)
    await pools.add_capacity(ctx, pool, {"start": "2030-01-01T00:00:00Z", "end": "2031-01-01T00:00:00Z",
                                         "cores": 1000, "memory_gib": 1000}, "admin", now)
    package = f"small-{run}"
    await create_package(ctx, {"name": package, "notebook_cores": 1, "notebook_memory_gib": 2}, now)
    users = [f"u{i}-{run}" for i in range(2)]
    tokens = {}
    for user in users:
        caller = Caller(name=user, kind="user", level=1, admin=False, can_read=True, can_write=True)
        tokens[user], _ = await ical.renew_feed(ctx, caller, now, SECRET)

    model: list[dict] = []  # every booking made, in order: user, id, start, end, cancelled (when)
    sequences: dict[int, int] = {}
    changed: set[int] = set()  # bookings changed since the feed was last read

    for step in steps:
        kind = step[0]
        if kind == "book":
            _, who, offset, hours, zone, by_package = step
            start = now + offset * H
            what = {"package": package} if by_package else {"resources": {"cores": 1, "memory_gib": 2}}
            made = await bookings.create_booking(ctx, ADMIN, {
                "pool": pool, "user": users[who], "start": written_in(start, zone),
                "end": written_in(start + hours * H, zone), **what}, now)
            model.append({"user": users[who], "id": made["id"], "start": start, "end": start + hours * H,
                          "cancelled": None, "package": by_package})
        elif kind == "cancel" and model:
            booking = model[step[1] % len(model)]
            if booking["cancelled"] is None and booking["end"] > now:
                await bookings.cancel_booking(ctx, ADMIN, booking["id"], now)
                booking["cancelled"] = now
                changed.add(booking["id"])
        elif kind == "move" and model:
            booking = model[step[1] % len(model)]
            new_end = booking["end"] + step[2] * H
            if booking["cancelled"] is None and booking["end"] > now and new_end > booking["start"] \
                    and new_end > now:
                await bookings.move_end(ctx, ADMIN, booking["id"], {"end": written_in(new_end, "UTC")}, now)
                booking["end"] = new_end
                changed.add(booking["id"])
        elif kind == "wait":
            now += step[1] * H

        for user in users:
            document = await ical.feed(ctx, tokens[user], SETTINGS, now, public_url="https://hub.test/b/",
                                       domain="hub.test")
            events = parse(document)
            expected = {
                f"booking-{b['id']}@hub.test": b for b in model
                if b["user"] == user and b["end"] > now - SETTINGS.past
                and (b["cancelled"] is None or b["cancelled"] >= now - SETTINGS.keep_cancelled)
            }
            assert set(events) == set(expected), (user, now)
            for key, b in expected.items():
                event = events[key]
                assert (event["start"], event["end"]) == (b["start"], b["end"])
                assert event["start"].utcoffset() == timedelta(0)
                assert event["status"] == ("CONFIRMED" if b["cancelled"] is None else "CANCELLED")
                assert event["summary"].endswith((package if b["package"] else "1 cores, 2 GiB") + f" on {pool}")
                assert event["summary"].startswith("Cancelled: ") == (b["cancelled"] is not None)
                if b["cancelled"] is not None:
                    assert event["modified"] == b["cancelled"]
                before = sequences.get(b["id"])
                if before is not None:
                    assert (event["sequence"] > before) == (b["id"] in changed), (b, before, event)
                    assert event["sequence"] >= before
                sequences[b["id"]] = event["sequence"]
        changed.clear()

    # another user's token opens only their own; a revoked one nothing
    await ical.revoke_feed(ctx, Caller(name=users[0], kind="user", level=1, admin=False, can_read=True,
                                       can_write=True))
    assert await ical.feed(ctx, tokens[users[0]], SETTINGS, now, public_url="https://hub.test/b/",
                           domain="hub.test") is None


def test_the_window_counter_counts_per_key_and_window():
    counter = WindowCounter(Limit.parse("3/m"), max_keys=2)
    assert [counter.hit("a", 60.0) for _ in range(3)] == [None, None, None]
    assert counter.hit("a", 70.0) == 50.0  # until the minute ends
    assert counter.hit("b", 70.0) is None  # another key counts apart
    # past max_keys, a new key passes uncounted; known ones keep counting
    assert all(counter.hit("c", 70.0) is None for _ in range(5))
    assert counter.hit("a", 119.0) == 1.0
    assert counter.hit("a", 120.0) is None  # a new window


async def test_concurrent_renewals_leave_exactly_one_working_address(engine):
    """Several renewals at once (two tabs, a retry): each answers, one address wins, and
    every other stops working; the database holds one feed for the user."""
    ctx = Context(engine=engine, policy=LevelPolicy())
    user = Caller(name=f"racer-{uuid.uuid4().hex[:8]}", kind="user", level=1, admin=False, can_read=True,
                  can_write=True)
    for _round in range(3):
        renewals = await asyncio.gather(*(ical.renew_feed(ctx, user, START, SECRET) for _ in range(6)))
        tokens = [token for token, _ in renewals]
        owners = [await ical.feed_owner(ctx, token, SECRET) for token in tokens]
        assert owners.count(user.name) == 1 and owners.count(None) == 5, owners


async def test_the_database_alone_opens_no_feed_and_a_new_secret_closes_every_feed(engine):
    """What a dump of the database holds (each feed's nonce and token hash) opens no feed
    without the secret; the secret shows each user their own address again; a new
    secret turns every feed off, and a new feed under it works."""
    ctx = Context(engine=engine, policy=LevelPolicy())
    run = uuid.uuid4().hex[:8]
    callers = [Caller(name=f"dump-{i}-{run}", kind="user", level=1, admin=False, can_read=True, can_write=True)
               for i in range(3)]
    tokens = {c.name: (await ical.renew_feed(ctx, c, START, SECRET))[0] for c in callers}
    assert all(re.fullmatch(ical.TOKEN_PATTERN, t) for t in tokens.values()) and len(set(tokens.values())) == 3
    async with engine.connect() as conn:
        dump = (await conn.execute(select(orm.CalendarFeed).where(orm.CalendarFeed.user.in_(tokens)))).all()
    assert len(dump) == 3
    wrong = [b"", b"x" * 32, SECRET[:-1] + b"!"]
    for row in dump:
        assert tokens[row.user] not in (row.nonce, row.token_hash)
        # the row's values as tokens, and what they give under any secret but the right one
        guesses = {row.nonce, row.nonce[:43], row.token_hash[:43],
                   base64.urlsafe_b64encode(hashlib.sha256(f"{row.user}\0{row.nonce}".encode()).digest())
                   .rstrip(b"=").decode()}
        guesses |= {ical.derive_token(key, row.user, row.nonce) for key in wrong if len(key) >= 32}
        for guess in guesses:
            assert await ical.feed_owner(ctx, guess, SECRET) is None, guess
        assert await ical.feed_owner(ctx, tokens[row.user], SECRET) == row.user
    # the address again, as often as asked, to its own user only
    for caller in callers:
        token, status = await ical.feed_status(ctx, caller, SECRET)
        assert token == tokens[caller.name] and status["active"] is True
    service = Caller(name=callers[0].name, kind="service", level=None, admin=False, can_read=True, can_write=True)
    assert await ical.feed_status(ctx, service, SECRET) == (None, {"active": False, "created": None})

    rotated = b"the next calendar feed secret, 32 bytes or more"
    for caller in callers:
        assert await ical.feed_owner(ctx, tokens[caller.name], rotated) is None
        assert await ical.feed(ctx, tokens[caller.name], ical.FeedSettings(secret=rotated), START,
                               public_url="https://hub.test/b/", domain="hub.test") is None
        assert await ical.feed_status(ctx, caller, rotated) == (None, {"active": False, "created": None})
    token, _ = await ical.renew_feed(ctx, callers[0], START, rotated)
    assert await ical.feed_owner(ctx, token, rotated) == callers[0].name
    assert (await ical.feed_status(ctx, callers[0], rotated))[0] == token
    assert await ical.feed_owner(ctx, token, SECRET) is None


def test_a_token_is_the_hmac_of_user_and_nonce():
    token = ical.derive_token(SECRET, "ann", "n0nce")
    expected = hmac.new(SECRET, b"ann\0n0nce", hashlib.sha256).digest()
    assert base64.urlsafe_b64decode(token + "=") == expected and re.fullmatch(ical.TOKEN_PATTERN, token)
    # the separator keeps names and nonces apart
    assert ical.derive_token(SECRET, "an", "nn0nce") != token
    with pytest.raises(ValueError, match="32 bytes"):
        ical.derive_token(b"short", "ann", "n0nce")


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_db_url(request, tmp_path, postgres_db):
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path}/booking.sqlite"
    return postgres_db()


async def test_migration_0010_drops_the_feeds_whose_address_cannot_be_shown(empty_db_url):
    """Feeds made before 0010_icalurl (random tokens: not derivable) are dropped, so no one
    has a feed whose address the service cannot show or whose token outlives a new
    secret; after it, feeds work; and back down."""
    engine = store.make_engine(empty_db_url)
    try:
        await store.upgrade(engine, "0009")
        async with engine.begin() as conn:
            await conn.execute(text('INSERT INTO calendar_feeds ("user", token_hash, created, created_by) '
                                    "VALUES ('old', :hash, :now, 'old')"),
                               {"hash": ical.hash_token("x" * 43), "now": START.replace(tzinfo=None)})
        await store.upgrade(engine)
        ctx = Context(engine=engine, policy=LevelPolicy())
        old = Caller(name="old", kind="user", level=1, admin=False, can_read=True, can_write=True)
        assert await ical.feed_status(ctx, old, SECRET) == (None, {"active": False, "created": None})
        assert await ical.feed_owner(ctx, "x" * 43, SECRET) is None
        token, _ = await ical.renew_feed(ctx, old, START, SECRET)
        assert await ical.feed_owner(ctx, token, SECRET) == "old"
        await store.downgrade(engine, "0009")
        async with engine.connect() as conn:  # the older code finds it by the same hash
            found = (await conn.execute(text("SELECT \"user\" FROM calendar_feeds WHERE token_hash = :h"),
                                        {"h": ical.hash_token(token)})).scalar()
        assert found == "old"
    finally:
        await engine.dispose()
