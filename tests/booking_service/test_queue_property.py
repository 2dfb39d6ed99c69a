"""The walk-in queue under random arrivals, departures and the passing of time, checked
against a plain first-come first-served model: never more running than the shared
pool holds, nobody overtakes, freed places go to the head and holds run out."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from booking_service import store
from booking_service.domain import BookingError
from booking_service.lifecycle import SYSTEM, Lifecycle
from booking_service.operations import Context, pools
from booking_service.operations.packages import create_package
from booking_service.operations.sessions import start_session, stop_session
from booking_service.policy import LevelPolicy

START = datetime(2030, 3, 4, 9, tzinfo=timezone.utc)
HOLD = timedelta(minutes=5)
USERS = [f"u{i}" for i in range(6)]


class StandInHub:
    """A stand-in for the hub's REST API (the real one is used end to end in
    tests/spawner): it knows users' groups and which servers run."""

    async def user(self, name):
        return {"name": name, "groups": self.groups[name]}

    async def running_servers(self):
        return self.running

    def __init__(self):
        self.running = set()
        self.groups = {}


steps = st.lists(
    st.one_of(
        st.tuples(st.just("arrive"), st.sampled_from(USERS)),
        st.tuples(st.just("leave"), st.sampled_from(USERS)),
        st.tuples(st.just("wait"), st.integers(1, 8)),  # minutes, then a round of the loop
    ),
    min_size=1, max_size=30,
)


@pytest.fixture(params=["sqlite", "postgresql"])
async def engine(request, tmp_path_factory, postgres_cluster):
    url = (f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('queue')}/q.sqlite" if request.param == "sqlite"
           else postgres_cluster.url(postgres_cluster.create_database()))
    engine = store.make_engine(url)
    await store.upgrade(engine)
    yield engine
    await engine.dispose()


def size(user: str) -> int:
    """u0-u2 are basic (walk-in: one unit), u3-u5 custom (two units)."""
    return 1 if int(user[1]) < 3 else 2


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=steps, capacity=st.integers(1, 4))
async def test_queue_is_first_come_first_served(engine, steps, capacity):
    run = uuid.uuid4().hex[:12]  # examples share the database: names of their own
    pool = f"shared-{run}"
    one, two = f"one-{run}", f"two-{run}"
    policy = LevelPolicy(levels={1: {"name": "basic", "walk_in": one}, 2: {"name": "custom", "walk_in": two}})
    hub = StandInHub()
    ctx = Context(engine=engine, policy=policy, walk_in_pool=pool, hold=HOLD, hub=hub)
    now = START
    await pools.create_pool(ctx, {"name": pool, "kind": "shared"}, now)
    await pools.add_capacity(ctx, pool, {"start": "2030-01-01T00:00:00Z", "end": "2031-01-01T00:00:00Z",
                                         "cores": capacity, "memory_gib": capacity}, "admin", now)
    await create_package(ctx, {"name": one, "notebook_cores": 1, "notebook_memory_gib": 1}, now)
    await create_package(ctx, {"name": two, "notebook_cores": 2, "notebook_memory_gib": 2}, now)
    loop = Lifecycle(ctx, interval=60, clock=lambda: now, holder="test")

    # the model: who runs, who waits (in order of arrival), who holds an offered place
    running: dict[str, int] = {}  # user -> session id
    queue: list[str] = []
    offered: dict[str, datetime] = {}  # user -> end of hold

    def used(but=None) -> int:
        return sum(size(u) for u in list(running) + list(offered) if u != but)

    def offer_in_order() -> None:
        for head in queue:
            if head in offered:
                continue
            if used() + size(head) > capacity:
                break  # nobody overtakes the head
            offered[head] = now + HOLD

    for kind, arg in steps:
        if kind == "arrive":
            user = f"{arg}-{run}"
            hub.groups[user] = ["level-1"] if size(arg) == 1 else ["level-n"]
            if user in running:
                continue
            expected = user in offered or ((not queue or queue[0] == user) and used(user) + size(arg) <= capacity)
            try:
                _, session = await start_session(ctx, SYSTEM, user, {}, now)
                admitted = True
            except BookingError as refusal:
                assert refusal.status == 409
                admitted, position = False, refusal.extra["queue"]["position"]
            assert admitted == expected, (user, queue, offered, running)
            if admitted:
                running[user] = session["id"]
                hub.running.add((user, ""))
                offered.pop(user, None)
                if user in queue:
                    queue.remove(user)
            else:
                if user not in queue:
                    queue.append(user)
                assert position == queue.index(user) + 1
        elif kind == "leave":
            user = f"{arg}-{run}"
            if user in running:
                await stop_session(ctx, SYSTEM, running.pop(user), now)
                hub.running.discard((user, ""))
                offer_in_order()  # a freed place is offered at once
        else:
            now = now + timedelta(minutes=arg)
            for user, until in list(offered.items()):
                if until <= now:  # the hold ran out: the place passes on
                    del offered[user]
                    queue.remove(user)
            await loop.tick(now)
            offer_in_order()
        assert used() <= capacity
