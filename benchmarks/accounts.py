"""D. Accounts: what a login costs, and whether a burst of logins slows the hub for others.

- In process, on SQLite and on PostgreSQL: the account store's calls on the login path
  (AccountStore.check_login: one argon2id verification and two or three reads; the
  throttle's check of two keys; a login link's peek and single use).
- Through the proxy, against a real hub with AglaisAuthenticator: the latency of a cheap
  hub request (GET /hub/api/) while nothing else happens, and while `clients` concurrent
  password logins run. argon2 runs on a worker thread (authenticator.authenticate), so the
  hub's event loop should stay free for everyone else.
- One user stalling others: another user's password login, alone and while one user
  whose home holds `files` small files loads the account page (which measures the home)
  from `clients` connections at once, side by side on one hub.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlencode

from tornado.httpclient import AsyncHTTPClient, HTTPRequest

from hub_extension.accounts.store import AccountStore
from hub_extension.accounts.throttle import Limit, Throttle
from tests.hub import start_hub, stop_hub

from .common import LatencyRow, percentile

PASSWORD = "a benchmark password"


async def store_rows(url: str, label: str, reps: int) -> list[LatencyRow]:
    store = AccountStore(url)
    store.create("bench", level="level-1")
    store.set_password("bench", PASSWORD)
    throttle = Throttle(store)
    limit = Limit.parse("5/15m")
    rows = []

    def measure(name, call, n=reps):
        samples = []
        for _ in range(n):
            t0 = time.perf_counter()
            call()
            samples.append((time.perf_counter() - t0) * 1000)
        rows.append(LatencyRow(label, 0, name, samples))

    measure("check_login (argon2id)", lambda: store.check_login("bench", PASSWORD), max(5, reps // 5))
    measure("throttle check, 2 keys", lambda: [throttle.wait(k, limit) for k in ("login-fail:account:bench",
                                                                                 "login-fail:addr:10.0.0.1")])

    def link():
        code, _ = store.issue_code("bench", "login", timedelta(minutes=5))
        store.peek_code(code, "login")
        store.use_code(code, "login")

    measure("login link: issue, peek, use", link)
    store.engine.dispose()
    return rows


async def hub_rows(workdir: Path, clients: int, seconds: float, log) -> list[LatencyRow]:
    extra = f"""
from hub_extension.config.accounts import configure_accounts
configure_accounts(c, trial_culler_timeout=None)
c.Authenticator.allow_all = False
c.JupyterHub.redirect_to_server = False
c.AglaisAuthenticator.db_url = 'sqlite:///{workdir}/accounts.sqlite'
c.AglaisAuthenticator.local_accounts = {{'bench': {PASSWORD!r}}}
c.AglaisAuthenticator.login_limit_account = '1000000/h'
c.AglaisAuthenticator.login_limit_address = '1000000/h'
"""
    hub = start_hub(workdir, {"booking": f"sqlite+aiosqlite:///{workdir}/booking.sqlite"}, extra_config=extra)
    http = AsyncHTTPClient()
    try:
        async def probe_for(duration: float) -> list[float]:
            samples, end = [], time.perf_counter() + duration
            while time.perf_counter() < end:
                t0 = time.perf_counter()
                await http.fetch(hub.url + "hub/api/", raise_error=False)
                samples.append((time.perf_counter() - t0) * 1000)
                await asyncio.sleep(0.02)
            return samples

        async def login_forever(stop: asyncio.Event, done: list) -> None:
            while not stop.is_set():
                done.append((await log_in(http, hub.url, "bench", PASSWORD))[0])

        idle = await probe_for(seconds)
        stop, done = asyncio.Event(), []
        workers = [asyncio.create_task(login_forever(stop, done)) for _ in range(clients)]
        busy = await probe_for(seconds)
        stop.set()
        await asyncio.gather(*workers)
        ok = sum(1 for code in done if code == 302)
        log(f"accounts: {len(done)} logins in {seconds:.0f}s, {ok} succeeded; other answers: "
            f"{sorted(set(done) - {302})}")
        return [LatencyRow("hub", 0, "GET /hub/api/, idle", idle),
                LatencyRow("hub", 0, f"GET /hub/api/, {clients} clients logging in ({len(done) / seconds:.1f} logins/s)",
                           busy)]
    finally:
        stop_hub(hub.process)


async def log_in(http: AsyncHTTPClient, url: str, name: str, password: str) -> tuple[int, str]:
    """A password login as a fresh browser does it (the form's _xsrf comes with the login
    page): the answer's status and the session's cookies."""
    # the timeouts are generous: a stalled login is what one of the benchmarks measures
    page = await http.fetch(url + "hub/login", raise_error=False, request_timeout=600)
    cookie = "; ".join(c.split(";")[0] for c in page.headers.get_list("Set-Cookie"))
    xsrf = next((c.split("=", 1)[1] for c in cookie.split("; ") if c.startswith("_xsrf=")), "")
    resp = await http.fetch(HTTPRequest(
        url + "hub/login", method="POST", follow_redirects=False, headers={"Cookie": cookie},
        body=urlencode({"username": name, "password": password, "_xsrf": xsrf}), request_timeout=600),
        raise_error=False)
    cookie = "; ".join([cookie] + [c.split(";")[0] for c in resp.headers.get_list("Set-Cookie")])
    return resp.code, cookie


def fill_home(home: Path, files: int) -> None:
    """`files` files of 100 bytes, 1000 to a directory."""
    data = b"x" * 100
    for i in range(files):
        folder = home / f"d{i // 1000:04d}"
        if i % 1000 == 0:
            folder.mkdir(parents=True)
        with open(folder / f"f{i % 1000:04d}.txt", "wb") as out:
            out.write(data)


async def stall_rows(workdir: Path, clients: int, files: int, logins: int, log) -> list[LatencyRow]:
    """Another user's login, alone and while `clients` account-page loads of a user with
    `files` files in their home run back to back."""
    homes = workdir / "homes"
    extra = f"""
from hub_extension.config.accounts import configure_accounts
configure_accounts(c, trial_culler_timeout=None)
c.Authenticator.allow_all = False
c.JupyterHub.redirect_to_server = False
c.AglaisAuthenticator.db_url = 'sqlite:///{workdir}/accounts.sqlite'
c.AglaisAuthenticator.local_accounts = {{'bench': {PASSWORD!r}, 'hoarder': {PASSWORD!r}}}
# the account page measures the home the local spawner gives the user's system account
c.JupyterHub.spawner_class = 'booking-local'
c.BookingLocalProcessSpawner.create_system_users = True
c.BookingLocalProcessSpawner.system_homes = {str(homes)!r}
"""
    t0 = time.perf_counter()
    fill_home(homes / "jupyter-hoarder", files)  # where user_home() looks before a first spawn
    log(f"accounts: {files} files in the hoarder's home in {time.perf_counter() - t0:.0f}s")
    hub = start_hub(workdir, {"booking": f"sqlite+aiosqlite:///{workdir}/booking.sqlite"}, extra_config=extra)
    http = AsyncHTTPClient(max_clients=clients + 4)
    try:
        async def login_times() -> list[float]:
            samples = []
            for _ in range(logins):
                t0 = time.perf_counter()
                code, _ = await log_in(http, hub.url, "bench", PASSWORD)
                samples.append((time.perf_counter() - t0) * 1000)
                assert code == 302, code
            return samples

        code, hoarder = await log_in(http, hub.url, "hoarder", PASSWORD)
        assert code == 302, code
        alone = await login_times()
        stop, pages = asyncio.Event(), []

        async def load_forever() -> None:
            while not stop.is_set():
                t0 = time.perf_counter()
                resp = await http.fetch(hub.url + "hub/account", headers={"Cookie": hoarder}, request_timeout=600,
                                        raise_error=False)
                assert resp.code == 200 and b"not measured" not in resp.body, resp.code  # the home was walked
                pages.append((time.perf_counter() - t0) * 1000)

        loaders = [asyncio.create_task(load_forever()) for _ in range(clients)]
        await asyncio.sleep(0.5)  # the first walk is under way
        busy = await login_times()
        stop.set()
        await asyncio.gather(*loaders)
        return [LatencyRow("hub", 0, "another user's password login, alone", alone),
                LatencyRow("hub", 0, f"another user's password login, {clients} parallel account pages "
                                     f"over a {files // 1000}k-file home", busy),
                LatencyRow("hub", 0, f"GET /hub/account, {files // 1000}k-file home, {clients} at once", pages)]
    finally:
        stop_hub(hub.process)


def table(rows: list[LatencyRow]) -> str:
    lines = ["| where | what | n | median ms | p90 ms |", "|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r.benchmark} | {r.query} | {len(r.samples)} | {statistics.median(r.samples):.2f} | "
                     f"{percentile(r.samples, 90):.2f} |")
    return "\n".join(lines)


async def run_accounts(workdir: Path, pg_url: str, quick: bool, log) -> list[LatencyRow]:
    reps = 20 if quick else 100
    rows = await store_rows(f"sqlite:///{workdir}/accounts-bench.sqlite", "SQLite", reps)
    rows += await store_rows(pg_url, "PostgreSQL", reps)
    hub_dir = workdir / "accounts-hub"
    hub_dir.mkdir()
    rows += await hub_rows(hub_dir, clients=8, seconds=5 if quick else 15, log=log)
    stall_dir = workdir / "accounts-stall"
    stall_dir.mkdir()
    rows += await stall_rows(stall_dir, clients=8, files=20_000 if quick else 200_000, logins=5 if quick else 10,
                             log=log)
    return rows


