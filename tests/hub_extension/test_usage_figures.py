"""One user cannot stall everyone's logins: the account page's home walks run once at a
time per user, on threads of their own, with their figures kept bounded in time and in
users; argon2 runs on its own threads. Ordered by events, never by timing."""

from __future__ import annotations

import asyncio
import threading
from types import SimpleNamespace

import pytest
from tornado.httputil import HTTPHeaders

from hub_extension.accounts.authenticator import AglaisAuthenticator
from hub_extension.accounts.usage import UsageFigures
from hub_extension.retention.files import scan_home

PASSWORD = "a password for the test"


class HeldScan:
    """scan_home that counts its walks and, while `gate` is clear, waits for it."""

    def __init__(self):
        self.gate = threading.Event()
        self.started = threading.Event()
        self.walks: list[str] = []

    def __call__(self, home):
        self.walks.append(home)
        self.started.set()
        assert self.gate.wait(60), "the test never released the walk"
        return scan_home(home)


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


@pytest.fixture
def homes(tmp_path):
    for name in ("ada", "bob", "cy"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "a.ipynb").write_bytes(b"{}")
    return tmp_path


async def test_a_home_is_walked_once_however_many_pages_ask_at_once(homes):
    scan = HeldScan()
    figures = UsageFigures(seconds=60, entries=10, scan=scan)
    loads = [asyncio.ensure_future(figures.of("ada", str(homes / "ada"))) for _ in range(8)]
    await asyncio.to_thread(scan.started.wait, 60)
    await asyncio.sleep(0)  # every load has had its turn to ask
    assert not any(load.done() for load in loads)
    scan.gate.set()
    answers = await asyncio.gather(*loads)
    assert scan.walks == [str(homes / "ada")]
    assert answers == [{"notebooks": 1, "notebook_mb": 0.0, "saved_mb": 0.0, "temp_mb": 0.0}] * 8
    # a page load that goes away does not cancel the walk that others wait for
    scan.gate.clear()
    scan.started.clear()
    figures.seconds = 0
    gone, staying = (asyncio.ensure_future(figures.of("ada", str(homes / "ada"))) for _ in range(2))
    await asyncio.to_thread(scan.started.wait, 60)
    gone.cancel()
    scan.gate.set()
    assert (await staying)["notebooks"] == 1


async def test_figures_are_kept_for_a_time_and_for_a_number_of_users(homes):
    scan, clock = HeldScan(), Clock()
    scan.gate.set()
    figures = UsageFigures(seconds=60, entries=2, scan=scan, clock=clock)
    ada, bob, cy = (str(homes / n) for n in ("ada", "bob", "cy"))
    await figures.of("ada", ada)
    clock.now = 59
    await figures.of("ada", ada)
    assert scan.walks == [ada]  # kept
    clock.now = 60
    await figures.of("ada", ada)
    assert scan.walks == [ada, ada]  # too old: walked again
    await figures.of("bob", bob)
    await figures.of("cy", cy)  # a third user: ada, the least recently asked for, goes
    await figures.of("cy", cy)
    await figures.of("bob", bob)
    assert scan.walks == [ada, ada, bob, cy]
    await figures.of("ada", ada)
    assert scan.walks == [ada, ada, bob, cy, ada]
    assert len(figures._kept) == 2


async def test_a_missing_or_vanishing_home_has_no_figures(homes):
    def vanishing(home):
        raise FileNotFoundError(home)

    assert await UsageFigures(seconds=60, entries=2).of("nobody", str(homes / "nobody")) is None
    assert await UsageFigures(seconds=60, entries=2, scan=vanishing).of("ada", str(homes / "ada")) is None


async def test_a_login_completes_while_walks_and_the_default_executor_are_held(tmp_path, homes):
    authenticator = AglaisAuthenticator(db_url=f"sqlite:///{tmp_path}/accounts.sqlite",
                                        local_accounts={"bob": PASSWORD})
    scan = HeldScan()
    authenticator.usage_figures = UsageFigures(seconds=60, entries=10, scan=scan)
    held = threading.Event()
    loop = asyncio.get_running_loop()
    # the default executor holds at most 32 threads: fill every one of them
    blockers = [loop.run_in_executor(None, held.wait, 60) for _ in range(32)]
    # eight account-page loads of a user whose home is being walked
    pages = [asyncio.ensure_future(authenticator.usage_figures.of("ada", str(homes / "ada"))) for _ in range(8)]
    try:
        await _wait(scan.started)
        handler = SimpleNamespace(request=SimpleNamespace(headers=HTTPHeaders(), connection=None),
                                  authenticator=authenticator)
        login = await asyncio.wait_for(authenticator.authenticate(handler, {"username": "bob", "password": PASSWORD}),
                                       120)
        # the login is through while the walk and every default thread are still held
        assert login == {"name": "bob"}
        assert not held.is_set() and not scan.gate.is_set()
        assert not any(page.done() for page in pages)
    finally:
        held.set()
        scan.gate.set()
        await asyncio.gather(*blockers, *pages)
    authenticator.store.engine.dispose()


async def _wait(event: threading.Event) -> None:
    """Wait for a threading.Event without a thread (the default executor is full)."""
    while not event.is_set():
        await asyncio.sleep(0.01)
