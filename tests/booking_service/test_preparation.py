"""Preparation steps end to end, on SQLite and PostgreSQL, with a clock the test moves: the
real stage_file worker process fetches from a local HTTP server and calls back to the
booking service's real callback route over HTTP; a booking becomes PREPARING at its start
minus its quotes and WAITING when its steps are done; a failing step (a file present but
different, a checksum that does not match, a planted link, a private address) fails the
booking with the step's reason and frees its capacity; a callback before its step is
RUNNING is told to try again (425, Retry-After); a wrong secret is 404, a replay 409."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import stat
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from tornado import web
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest
from tornado.httpserver import HTTPServer
from tornado.testing import bind_unused_port

from booking_service.domain import BookingError, Caller
from booking_service.handlers import routes
from booking_service.lifecycle import Lifecycle
from booking_service.operations import Context, pools
from booking_service.operations.bookings import create_booking, get_booking, list_bookings
from booking_service.operations.preparation import start_ready
from booking_service.policy import LevelPolicy
from booking_service.steps import WorkerKind, preparation_kinds
from booking_service.workers import Started, WorkerClient
from tests.booking_service.conftest import iso
from tests.booking_service.test_queue_property import engine  # noqa: F401 (a fresh database on each)
from tests.hub import REPO, free_port

PREFIX = "/services/booking/"
ADMIN = Caller(name="admin", kind="user", level=2, admin=True, can_read=True, can_write=True)
T0 = datetime(2030, 5, 6, 8, tzinfo=timezone.utc)
H = timedelta(hours=1)
QUOTE = 600
NOBODY = 65534
CONTENT = b"ra,dec\n" + b"1.0,2.0\n" * 5000
SHA = hashlib.sha256(CONTENT).hexdigest()


class Clock:
    now = T0


def serve(app) -> tuple[HTTPServer, int]:
    sock, port = bind_unused_port()
    server = HTTPServer(app)
    server.add_sockets([sock])
    return server, port


class Redirect(web.RequestHandler):
    def get(self):
        self.redirect("/files/data.csv")


@pytest.fixture
def files(tmp_path):
    """A local HTTP server of files: data.csv, and /redirect to it."""
    root = tmp_path / "files"
    root.mkdir()
    (root / "data.csv").write_bytes(CONTENT)
    server, port = serve(web.Application([(r"/files/(.*)", web.StaticFileHandler, {"path": str(root)}),
                                          (r"/redirect", Redirect)]))
    yield f"http://127.0.0.1:{port}/files/"
    server.stop()


@pytest.fixture
def homes(tmp_path):
    root = tmp_path / "homes"
    root.mkdir()
    return root


def make_home(homes, user: str, owner: int = NOBODY):
    home = homes / user
    home.mkdir()
    if os.geteuid() == 0:
        os.chown(home, owner, owner)
    return home


def start_worker(homes, *args) -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "booking_service.workers.stage_file", f"--port={port}", "--ip=127.0.0.1",
         f"--homes={homes}/{{username}}", "--start-delay=0.2", "--log-level=INFO", *args],
        cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO), AGLAIS_STAGE_FILE_TOKEN="worker-token"),
        start_new_session=True)
    deadline = time.monotonic() + 30
    import socket
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            break
        except OSError:
            assert process.poll() is None and time.monotonic() < deadline, "the worker did not start"
            time.sleep(0.05)
    return process, f"http://127.0.0.1:{port}/"


@pytest.fixture
def worker(homes):
    process, url = start_worker(homes, "--allowed-hosts=127.0.0.1")
    yield url
    process.terminate()
    process.wait(10)


@pytest.fixture
async def service(engine, worker):  # noqa: F811
    """The booking service's routes over HTTP in this process (the callback needs no hub), on
    a Context whose stage_file worker is the real one."""
    clock = Clock()
    ctx = Context(engine=engine, policy=LevelPolicy(),
                  workers={"stage_file": WorkerKind("stage_file", worker, QUOTE, token="worker-token")},
                  worker_client=WorkerClient())
    server, port = serve(web.Application(routes(PREFIX), booking_context=ctx, clock=lambda: clock.now))
    ctx.callback_url = f"http://127.0.0.1:{port}{PREFIX}api/v1/callbacks/"
    ctx.clock = clock
    yield ctx
    server.stop()


async def new_pool(ctx, cores=1) -> str:
    name = f"p-{uuid.uuid4().hex[:8]}"
    await pools.create_pool(ctx, {"name": name, "kind": "reserved"}, T0)
    await pools.add_capacity(ctx, name, {"start": "2030-05-01T00:00:00Z", "end": "2030-06-01T00:00:00Z",
                                         "cores": cores, "memory_gib": 4}, "admin", T0)
    return name


def stage(url, path="inputs/data.csv", size=len(CONTENT), sha=SHA) -> dict:
    return {"kind": "stage_file", "url": url, "path": path, "size": size, "sha256": sha}


async def book(ctx, pool, user, steps, start=T0 + 2 * H):
    return await create_booking(ctx, ADMIN, {"pool": pool, "user": user, "resources": {"cores": 1, "memory_gib": 1},
                                             "start": iso(start), "end": iso(start + H), "steps": steps}, T0)


async def until_phase(ctx, booking_id, phases, timeout=30) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        booking = await get_booking(ctx, ADMIN, booking_id, T0)
        if booking["phase"] in phases:
            return booking
        assert time.monotonic() < deadline, booking
        await asyncio.sleep(0.05)  # the worker's real work, not the booking's clock


async def test_a_booking_is_prepared_by_the_real_worker_then_waits(service, files, homes):
    ctx = service
    pool = await new_pool(ctx)
    user = f"u{uuid.uuid4().hex[:6]}"
    home = make_home(homes, user)
    booking = await book(ctx, pool, user, [stage(files + "data.csv")])
    assert booking["phase"] == "ACCEPTED" and booking["steps"][0]["state"] == "PENDING"
    assert booking["steps"][0]["due"] == iso(T0 + 2 * H - timedelta(seconds=QUOTE))

    loop = Lifecycle(ctx, interval=60, clock=lambda: ctx.clock.now, holder="test")
    await loop.tick(T0 + 2 * H - timedelta(seconds=QUOTE + 1))  # not due yet
    assert (await get_booking(ctx, ADMIN, booking["id"], T0))["phase"] == "ACCEPTED"
    ctx.clock.now = T0 + 2 * H - timedelta(seconds=QUOTE)
    await loop.tick(ctx.clock.now)
    done = await until_phase(ctx, booking["id"], {"WAITING", "FAILED"})
    assert done["phase"] == "WAITING", done["transitions"]
    assert [t["to"] for t in done["transitions"]] == ["ACCEPTED", "PREPARING", "WAITING"]
    assert done["steps"][0]["state"] == "COMPLETED" and "match" in done["steps"][0]["message"]
    staged = home / "saved" / "inputs" / "data.csv"
    assert staged.read_bytes() == CONTENT
    if os.geteuid() == 0:  # written as the home's owner, never as root
        assert (staged.stat().st_uid, (home / "saved").stat().st_uid) == (NOBODY, NOBODY)

    # the same file again: present and the same, so nothing to do
    again = await book(ctx, pool, user, [stage(files + "data.csv")], start=T0 + 5 * H)
    await loop.tick(T0 + 5 * H - timedelta(seconds=QUOTE))
    done = await until_phase(ctx, again["id"], {"WAITING", "FAILED"})
    assert done["phase"] == "WAITING" and "nothing to do" in done["steps"][0]["message"]

    # from WAITING the prepared booking moves on as any other: that last round was past its end
    assert (await get_booking(ctx, ADMIN, booking["id"], T0))["phase"] == "COMPLETED"


@pytest.mark.parametrize("case", ["present and different", "checksum", "larger than size", "link", "redirect",
                                  "root's home"])
async def test_a_failing_step_fails_the_booking_with_its_reason_and_frees_it(service, files, homes, case):
    ctx = service
    pool = await new_pool(ctx)
    user = f"u{uuid.uuid4().hex[:6]}"
    home = make_home(homes, user, owner=0 if case == "root's home" else NOBODY)
    step, expected = stage(files + "data.csv"), None
    if case == "present and different":
        (home / "saved").mkdir()
        (home / "saved" / "data.csv").write_bytes(b"something else")
        step["path"], expected = "data.csv", "present but different"
    elif case == "checksum":
        step["sha256"], expected = "0" * 64, "not the step's"
    elif case == "larger than size":
        step["size"], expected = 100, "more than the step's size"
    elif case == "link":
        os.symlink("/etc", home / "saved")
        expected = "a link"
    elif case == "redirect":
        step["url"], expected = files.replace("/files/", "/redirect"), "redirects are not followed"
    else:
        expected = "belongs to root"
        if os.geteuid() != 0:
            pytest.skip("only a root worker drops to the home's owner")
    booking = await book(ctx, pool, user, [step])
    loop = Lifecycle(ctx, interval=60, clock=lambda: ctx.clock.now, holder="test")
    await loop.tick(T0 + 2 * H - timedelta(seconds=QUOTE))
    failed = await until_phase(ctx, booking["id"], {"FAILED", "WAITING"})
    assert failed["phase"] == "FAILED" and failed["state"] == "cancelled"
    assert expected in failed["transitions"][-1]["cause"], failed["transitions"][-1]
    assert failed["transitions"][-1]["cause"].startswith("preparation step 1 (stage_file) failed: ")
    if case == "link":
        assert not os.path.exists("/etc/data.csv")
    # its capacity is free again: the pool's only core can be booked over the same hours
    other = await book(ctx, pool, "someone-else", [], start=T0 + 2 * H)
    assert other["phase"] == "ACCEPTED"


async def test_a_cancelled_booking_stops_its_running_step_at_the_worker(service, homes):
    """The booking is cancelled while the real worker downloads (from a data server that sends
    half the file, then waits): the next round marks the step CANCELLED and tells the worker
    (DELETE <worker url>/<step>), which stops, removes its partial file and does not call
    back; it goes on serving (a second DELETE: 404)."""
    from booking_service.operations.bookings import cancel_booking

    ctx = service
    release = asyncio.Event()
    asked = []

    class Slow(web.RequestHandler):
        async def get(self):
            asked.append(self.request.path)
            self.set_header("Content-Length", str(len(CONTENT)))
            self.write(CONTENT[:len(CONTENT) // 2])
            await self.flush()
            await asyncio.wait_for(release.wait(), 60)
            try:
                self.write(CONTENT[len(CONTENT) // 2:])
                await self.flush()
            except Exception:  # noqa: BLE001 (the worker hung up, as it should)
                pass

    server, port = serve(web.Application([(r"/slow", Slow)]))
    try:
        pool = await new_pool(ctx)
        user = f"u{uuid.uuid4().hex[:6]}"
        inputs = make_home(homes, user) / "saved" / "inputs"
        booking = await book(ctx, pool, user, [stage(f"http://127.0.0.1:{port}/slow")])
        loop = Lifecycle(ctx, interval=60, clock=lambda: ctx.clock.now, holder="test")
        ctx.clock.now = T0 + 2 * H - timedelta(seconds=QUOTE)
        await loop.tick(ctx.clock.now)
        deadline = time.monotonic() + 30
        while not (inputs.is_dir() and [p for p in inputs.iterdir() if ".part-" in p.name]):
            assert time.monotonic() < deadline, "the worker never began its download"
            await asyncio.sleep(0.05)
        assert (await get_booking(ctx, ADMIN, booking["id"], T0))["steps"][0]["state"] == "RUNNING"

        await cancel_booking(ctx, ADMIN, booking["id"], ctx.clock.now)
        await loop.tick(ctx.clock.now + timedelta(seconds=30))
        step = (await get_booking(ctx, ADMIN, booking["id"], T0))["steps"][0]
        assert step["state"] == "CANCELLED" and "ended before its preparation" in step["message"]
        while list(inputs.iterdir()):  # the partial file goes, and nothing takes its place
            assert time.monotonic() < deadline, list(inputs.iterdir())
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)  # time for a callback, if one were (wrongly) sent
        assert (await get_booking(ctx, ADMIN, booking["id"], T0))["steps"][0] == step
        assert not list(inputs.iterdir()) and asked == ["/slow"]
        url = ctx.workers["stage_file"].url
        assert await WorkerClient().cancel(url, step["id"], "worker-token") is None  # 404: not running there
        try:
            await AsyncHTTPClient().fetch(HTTPRequest(f"{url}{step['id']}", method="DELETE"))
            raise AssertionError("the worker took a cancel without its token")
        except HTTPClientError as e:
            assert e.code == 403
    finally:
        release.set()
        server.stop()


async def test_private_addresses_are_refused_unless_allowed(engine, files, homes):  # noqa: F811
    process, url = start_worker(homes)  # no --allowed-hosts: 127.0.0.1 is loopback, refused
    try:
        clock = Clock()
        ctx = Context(engine=engine, policy=LevelPolicy(), worker_client=WorkerClient(),
                      workers={"stage_file": WorkerKind("stage_file", url, QUOTE, token="worker-token")})
        server, port = serve(web.Application(routes(PREFIX), booking_context=ctx, clock=lambda: clock.now))
        ctx.callback_url = f"http://127.0.0.1:{port}{PREFIX}api/v1/callbacks/"
        pool = await new_pool(ctx)
        user = f"u{uuid.uuid4().hex[:6]}"
        make_home(homes, user)
        booking = await book(ctx, pool, user, [stage(files.replace("127.0.0.1", "localhost") + "data.csv")])
        await Lifecycle(ctx, interval=60, clock=lambda: clock.now, holder="t").tick(T0 + 2 * H - timedelta(seconds=QUOTE))
        failed = await until_phase(ctx, booking["id"], {"FAILED", "WAITING"})
        assert failed["phase"] == "FAILED" and "loopback or reserved address" in failed["transitions"][-1]["cause"]
        server.stop()
    finally:
        process.terminate()
        process.wait(10)


# -- the callback's answers, with a stand-in worker that calls back at once -----------------------

class EagerWorker(WorkerClient):
    """Calls back inside its own start, before the service has marked the step RUNNING
    (what seed 004's "deliberate break" guards against), then keeps the secret for later."""

    def __init__(self, status="COMPLETED"):
        super().__init__()
        self.status, self.early, self.payload = status, None, None

    async def start(self, url, payload, token=""):
        self.payload = payload
        self.early = await post(payload["callback"]["url"], payload["callback"]["secret"],
                                {"status": self.status, "message": "done early"})
        return Started(True)


async def post(url, secret, body, raw=None):
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers["Authorization"] = f"Bearer {secret}"
    try:
        resp = await AsyncHTTPClient().fetch(HTTPRequest(url, method="POST", headers=headers,
                                                         body=raw if raw is not None else json.dumps(body)))
    except HTTPClientError as e:
        resp = e.response
    return resp.code, dict(resp.headers), json.loads(resp.body)


def documented(data, name: str) -> None:
    import yaml
    from jsonschema import Draft202012Validator

    doc = yaml.safe_load((REPO / "booking_service" / "openapi.yaml").read_text())
    validator = Draft202012Validator({"$ref": f"#/components/schemas/{name}", "components": doc["components"]})
    assert not [e.message for e in validator.iter_errors(data)], data


async def test_callbacks_early_wrong_secret_replay(engine):  # noqa: F811
    clock = Clock()
    eager = EagerWorker()
    ctx = Context(engine=engine, policy=LevelPolicy(), worker_client=eager,
                  workers={"stage_file": WorkerKind("stage_file", "http://127.0.0.1:9/", QUOTE)})
    server, port = serve(web.Application(routes(PREFIX), booking_context=ctx, clock=lambda: clock.now))
    ctx.callback_url = f"http://127.0.0.1:{port}{PREFIX}api/v1/callbacks/"
    try:
        pool = await new_pool(ctx)
        booking = await book(ctx, pool, "ada", [stage("https://example.org/a.csv")])
        clock.now = T0 + 2 * H - timedelta(seconds=QUOTE)
        await Lifecycle(ctx, interval=60, clock=lambda: clock.now, holder="t").tick(clock.now)
        status, headers, body = eager.early
        assert status == 425 and headers["Retry-After"] == "1" and "try again" in body["message"], eager.early
        url, secret = eager.payload["callback"]["url"], eager.payload["callback"]["secret"]
        assert (await get_booking(ctx, ADMIN, booking["id"], T0))["steps"][0]["state"] == "RUNNING"

        for wrong in ("x" * 43, secret[:-1] + ("A" if secret[-1] != "A" else "B")):
            assert (await post(url, wrong, {"status": "COMPLETED"}))[0] == 404
        other = url.rsplit("/", 1)[0] + "/999999"  # an unknown step: the same answer as a wrong secret
        assert (await post(other, secret, {"status": "COMPLETED"}))[2]["message"] == \
            f"There is no step 999999 with that secret."
        status, headers, _ = await post(url, None, {"status": "COMPLETED"})
        assert status == 401 and headers["Www-Authenticate"].startswith("Bearer")
        assert (await post(url, secret, {"status": "DONE"}))[0] == 400
        assert (await post(url, secret, None, raw="{not json"))[0] == 400

        status, _, step = await post(url, secret, {"status": "COMPLETED", "message": "staged"})
        assert status == 200 and step["state"] == "COMPLETED" and step["message"] == "staged"
        done = await get_booking(ctx, ADMIN, booking["id"], T0)
        assert done["phase"] == "WAITING"
        documented(step, "PreparationStep")  # the answers are what the OpenAPI document says
        documented(done, "BookingWithHistory")
        status, _, body = await post(url, secret, {"status": "FAILED", "message": "replayed"})
        assert status == 409 and "reports once" in body["message"]
        assert (await get_booking(ctx, ADMIN, booking["id"], T0))["phase"] == "WAITING"
    finally:
        server.stop()


class LateWorker(EagerWorker):
    """Keeps its callback for the test to make, after the step is RUNNING."""

    async def start(self, url, payload, token=""):
        self.payload = payload
        return Started(True)


@pytest.mark.parametrize("message", ["reason:\x00 NUL\r\nBcc: x\x1b[31m", "lone \ud800 surrogate"])
async def test_a_callbacks_message_of_control_characters_is_kept_as_one_clean_line(engine, message):  # noqa: F811
    """A worker's message can carry a hostile file server's words (its HTTP reason phrase):
    a NUL was a 500 on PostgreSQL (and the worker tried again and again), and a control
    character went on into the booking's cause, the calendar feed and the UI."""
    clock = Clock()
    late = LateWorker()
    ctx = Context(engine=engine, policy=LevelPolicy(), worker_client=late,
                  workers={"stage_file": WorkerKind("stage_file", "http://127.0.0.1:9/", QUOTE)})
    server, port = serve(web.Application(routes(PREFIX), booking_context=ctx, clock=lambda: clock.now))
    ctx.callback_url = f"http://127.0.0.1:{port}{PREFIX}api/v1/callbacks/"
    try:
        pool = await new_pool(ctx)
        booking = await book(ctx, pool, "ada", [stage("https://example.org/a.csv")])
        clock.now = T0 + 2 * H - timedelta(seconds=QUOTE)
        await Lifecycle(ctx, interval=60, clock=lambda: clock.now, holder="t").tick(clock.now)
        callback = late.payload["callback"]
        raw = json.dumps({"status": "FAILED", "message": message}).encode()  # \ud800 as JSON writes it
        status, _, step = await post(callback["url"], callback["secret"], None, raw=raw)
        assert status == 200, step
        assert step["state"] == "FAILED" and step["message"].split()[0] in ("reason:", "lone"), step
        assert not any(ord(c) < 32 or 0xD800 <= ord(c) < 0xE000 for c in step["message"]), step["message"]
        failed = await get_booking(ctx, ADMIN, booking["id"], T0)
        cause = failed["transitions"][-1]["cause"]
        assert failed["phase"] == "FAILED" and not any(ord(c) < 32 or 0xD800 <= ord(c) < 0xE000 for c in cause)
    finally:
        server.stop()


class DeadWorker(WorkerClient):
    def __init__(self):
        super().__init__()
        self.calls = 0

    async def start(self, url, payload, token=""):
        self.calls += 1
        return Started(False, error="the worker is unreachable")


class RefusingWorker(WorkerClient):
    async def start(self, url, payload, token=""):
        return Started(False, refused="the URL's host is not on this worker's list")


async def test_unreachable_workers_are_tried_again_and_late_preparation_fails(engine):  # noqa: F811
    dead = DeadWorker()
    ctx = Context(engine=engine, policy=LevelPolicy(), worker_client=dead, callback_url="http://x/",
                  workers={"stage_file": WorkerKind("stage_file", "http://127.0.0.1:9/", QUOTE)})
    pool = await new_pool(ctx)
    booking = await book(ctx, pool, "ada", [stage("https://example.org/a.csv"), stage("https://example.org/b.csv",
                                                                                      path="b.csv")])
    assert booking["steps"][1]["due"] == iso(T0 + 2 * H - timedelta(seconds=QUOTE))
    loop = Lifecycle(ctx, interval=60, clock=lambda: T0, holder="t")
    begin = T0 + 2 * H - timedelta(seconds=2 * QUOTE)
    await loop.tick(begin)
    await loop.tick(begin + timedelta(seconds=30))  # claimed a moment ago: not started twice
    assert dead.calls == 1
    await loop.tick(begin + timedelta(seconds=61))
    assert dead.calls == 2
    await loop.tick(T0 + 2 * H)  # its start: preparation has not finished
    failed = await get_booking(ctx, ADMIN, booking["id"], T0)
    assert failed["phase"] == "FAILED" and "did not finish by its start" in failed["transitions"][-1]["cause"]
    assert [s["state"] for s in failed["steps"]] == ["CANCELLED", "CANCELLED"]

    ctx.worker_client = RefusingWorker()
    refused = await book(ctx, pool, "ada", [stage("https://example.org/a.csv")], start=T0 + 4 * H)
    await loop.tick(T0 + 4 * H - timedelta(seconds=QUOTE))
    failed = await get_booking(ctx, ADMIN, refused["id"], T0)
    assert failed["phase"] == "FAILED" and "not on this worker's list" in failed["transitions"][-1]["cause"]


async def test_steps_are_checked_when_booked(engine):  # noqa: F811
    ctx = Context(engine=engine, policy=LevelPolicy(),
                  workers={"stage_file": WorkerKind("stage_file", "http://127.0.0.1:9/", QUOTE)})
    pool = await new_pool(ctx)
    for steps, message in [
        ([{"kind": "pull_image"}], "no worker here does"),
        ([stage("file:///etc/passwd")], "http or https"),
        ([stage("https://u:p@example.org/a")], "no user or password"),
        ([stage("https://[::1/a")], "http or https URL"),  # urlsplit's ValueError was a 500
        ([stage("https://example.org:99999/a")], "http or https URL"),  # failed only in the worker
        ([stage("https://example.org:ab/a")], "http or https URL"),
        ([stage("https://example.org/a\r\nX-Injected: 1")], "http or https URL"),  # kept, shown, sent
        ([stage("https://example.org/a b")], "http or https URL"),
        ([stage("https://example.org/a", path="../escape")], "relative path"),
        ([stage("https://example.org/a", path="/abs")], "relative path"),
        ([stage("https://example.org/a", size=-1)], "size"),
        ([stage("https://example.org/a", sha="abc")], "SHA-256"),
        ("stage it", "list"),
    ]:
        with pytest.raises(BookingError) as refused:
            await book(ctx, pool, "ada", steps)
        assert refused.value.status == 400 and message in refused.value.message, (steps, refused.value.message)
    # no time to prepare: the quote does not fit between now and the start
    with pytest.raises(BookingError) as late:
        await book(ctx, pool, "ada", [stage("https://example.org/a")], start=T0 + timedelta(minutes=5))
    assert late.value.status == 400 and f"earliest start is {iso(T0 + timedelta(seconds=QUOTE))}" in late.value.message
    assert await start_ready(ctx, T0) == 0


async def test_the_list_of_bookings_carries_their_steps(engine):  # noqa: F811
    """GET /bookings answers each booking's steps (the calendar's cards show them), [] for none."""
    ctx = Context(engine=engine, policy=LevelPolicy(),
                  workers={"stage_file": WorkerKind("stage_file", "http://127.0.0.1:9/", QUOTE,
                                                    bytes_per_second=1000)})
    pool = await new_pool(ctx, cores=3)
    two = await book(ctx, pool, "ada", [stage("https://example.org/a"), stage("https://example.org/b", path="b.csv")])
    none = await book(ctx, pool, "ada", [])
    listed = await list_bookings(ctx, ADMIN, iso(T0), iso(T0 + 4 * H), "ada", pool, T0)
    by_id = {b["id"]: b for b in listed["bookings"]}
    assert by_id[none["id"]]["steps"] == []
    assert by_id[two["id"]]["steps"] == two["steps"] == (await get_booking(ctx, ADMIN, two["id"], T0))["steps"]
    assert [(s["position"], s["params"]["path"], s["state"], s["quote_seconds"]) for s in by_id[two["id"]]["steps"]] \
        == [(0, "inputs/data.csv", "PENDING", QUOTE + 41), (1, "b.csv", "PENDING", QUOTE + 41)]
    assert preparation_kinds(ctx.workers) == [{"kind": "stage_file", "quote_seconds": QUOTE, "bytes_per_second": 1000,
                                               "min_quote_seconds": 60}]


async def test_a_huge_size_on_a_slow_worker_is_a_400_not_an_overflow(engine):  # noqa: F811
    """A step's size (up to a PiB) over a worker's bandwidth is its quote: at 1 kB/s that was
    35 000 years, past what a datetime holds, and a 500 on booking and on offers."""
    ctx = Context(engine=engine, policy=LevelPolicy(),
                  workers={"stage_file": WorkerKind("stage_file", "http://127.0.0.1:9/", QUOTE, bytes_per_second=1000)})
    pool = await new_pool(ctx)
    huge = [stage("https://example.org/a", size=2**50)] * 16
    with pytest.raises(BookingError) as refused:
        await book(ctx, pool, "ada", huge)
    assert refused.value.status == 400 and "quoted" in refused.value.message, refused.value.message
    with pytest.raises(BookingError) as refused:
        await create_offer_set(ctx, ADMIN, {"what": {"resources": {"cores": {"min": 1}, "memory_gib": {"min": 1}}},
                                            "pools": [pool], "when": {"start": [f"{iso(T0 + H)}/PT1H"]},
                                            "duration": {"min": "PT1H"}, "steps": huge}, T0)
    assert refused.value.status == 400 and "quoted" in refused.value.message, refused.value.message


# -- offers: never before their preparation can be done ---------------------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from booking_service.operations.offers import create_offer_set, update_offer  # noqa: E402


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(quotes=st.lists(st.integers(0, 3 * 3600), min_size=0, max_size=3), offset=st.integers(-3600, 3 * 3600),
       length=st.integers(60, 4 * 3600), busy=st.integers(0, 5 * 3600))
async def test_offers_start_after_now_plus_their_preparation(engine, quotes, offset, length, busy):  # noqa: F811
    """Random quotes, windows and a booking in the way: every offer starts inside its window
    and no earlier than now plus the offers' hold plus the sum of its steps' quotes (at
    least a minute each), so accepted at the last moment of its hold, its steps are due from
    start minus that sum, not before the accept."""
    workers = {f"k{i}": WorkerKind(f"k{i}", "http://127.0.0.1:9/", q) for i, q in enumerate(quotes)}
    ctx = Context(engine=engine, policy=LevelPolicy(), workers=workers)
    pool = await new_pool(ctx)
    if busy:
        await create_booking(ctx, ADMIN, {"pool": pool, "user": "other", "resources": {"cores": 1, "memory_gib": 1},
                                          "start": iso(T0 + timedelta(minutes=1)),
                                          "end": iso(T0 + timedelta(minutes=1, seconds=busy))}, T0)
    window = (T0 + timedelta(seconds=offset), T0 + timedelta(seconds=offset + length))
    answer = await create_offer_set(ctx, ADMIN, {
        "what": {"resources": {"cores": {"min": 1}, "memory_gib": {"min": 1}}}, "pools": [pool],
        "when": {"start": [f"{iso(window[0])}/{iso(window[1])}"]}, "duration": {"min": "PT30M"},
        "steps": [{"kind": kind} for kind in workers]}, T0)
    prep = timedelta(seconds=sum(max(60, q) for q in quotes))
    hold = ctx.offer_hold if quotes else timedelta(0)
    last = T0 + ctx.offer_hold - timedelta(seconds=1)  # the hold's last moment
    for offer in answer["offers"]:
        start = datetime.fromisoformat(offer["start"].replace("Z", "+00:00"))
        assert window[0] <= start < window[1]
        assert start >= T0 + hold + prep, (offer, prep)
    if answer["offers"]:
        accepted = await update_offer(ctx, ADMIN, answer["id"], 0, {"phase": "ACCEPTED"}, last)
        booking = await get_booking(ctx, ADMIN, accepted["id"], last)
        assert [s["kind"] for s in booking["steps"]] == list(workers)
        if booking["steps"]:
            first = datetime.fromisoformat(booking["steps"][0]["due"].replace("Z", "+00:00"))
            assert first == datetime.fromisoformat(booking["start"].replace("Z", "+00:00")) - prep >= last
    elif T0 + hold + prep < window[1] and not busy:
        raise AssertionError(f"an empty pool made no offer: {answer['messages']}")


class CountingWorker(WorkerClient):
    def __init__(self):
        super().__init__()
        self.steps = []

    async def start(self, url, payload, token=""):
        self.steps.append(payload["step"])
        await asyncio.sleep(0.05)  # a real round trip, while the other process tries too
        return Started(True)


async def test_two_processes_start_a_step_once(engine):  # noqa: F811
    """Two service processes' rounds at once (two Contexts on one database): each step is
    claimed by one of them, and its worker called once."""
    workers = {"stage_file": WorkerKind("stage_file", "http://127.0.0.1:9/", QUOTE)}
    one, two = CountingWorker(), CountingWorker()
    a = Context(engine=engine, policy=LevelPolicy(), workers=workers, worker_client=one, callback_url="http://x/")
    b = Context(engine=engine, policy=LevelPolicy(), workers=workers, worker_client=two, callback_url="http://x/")
    pool = await new_pool(a, cores=4)
    booked = [await book(a, pool, f"u{i}", [stage(f"https://example.org/{i}.csv")]) for i in range(4)]
    from booking_service.operations.preparation import begin_due

    moment = T0 + 2 * H - timedelta(seconds=QUOTE)
    assert await begin_due(a, moment) == 4
    await asyncio.gather(start_ready(a, moment), start_ready(b, moment), start_ready(a, moment))
    started = sorted(one.steps + two.steps)
    assert started == sorted(x["steps"][0]["id"] for x in booked), (one.steps, two.steps)
    for booking in booked:
        assert (await get_booking(b, ADMIN, booking["id"], T0))["steps"][0]["state"] == "RUNNING"


@pytest.mark.parametrize("ip", ["0.0.0.0", "127.0.0.1"])
def test_a_worker_needs_a_token_even_on_loopback(homes, ip):
    """Loopback is no boundary on a hub's host: every user's server (the local spawner's)
    reaches 127.0.0.1, and a worker without a token would write into anyone's home."""
    env = {k: v for k, v in os.environ.items() if k != "AGLAIS_STAGE_FILE_TOKEN"}
    done = subprocess.run([sys.executable, "-m", "booking_service.workers.stage_file", f"--ip={ip}",
                           f"--port={free_port()}", f"--homes={homes}/{{username}}"],
                          cwd=REPO, env=dict(env, PYTHONPATH=str(REPO)), capture_output=True, text=True, timeout=30)
    assert done.returncode != 0 and "needs one" in done.stderr, done.stderr


async def test_the_worker_refuses_calls_without_its_token(worker):
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        try:
            await AsyncHTTPClient().fetch(HTTPRequest(worker, method="POST", headers=headers, body=json.dumps({
                "kind": "stage_file", "user": "ada", "step": 1, "params": stage("https://example.org/a"),
                "callback": {"url": "http://127.0.0.1:9/", "secret": "s"}})))
            raise AssertionError("the worker took a step without its token")
        except HTTPClientError as e:
            assert e.code == 403


class KeepingWorker(WorkerClient):
    """Takes every step (the service marks it RUNNING) and keeps its callback for the test."""

    def __init__(self):
        super().__init__()
        self.payloads = []

    async def start(self, url, payload, token=""):
        self.payloads.append(payload)
        return Started(True)


async def test_no_server_starts_while_its_booking_is_being_prepared(engine):  # noqa: F811
    """A server asked for at the booking's start while its step still runs is refused with
    what is being done (409), and the entitlement says so; once the step is done (WAITING)
    the same start gets its session and the booking is RUNNING."""
    from booking_service.operations.preparation import report_step
    from booking_service.operations.sessions import entitlement, start_session

    keeping = KeepingWorker()
    ctx = Context(engine=engine, policy=LevelPolicy(), worker_client=keeping, callback_url="http://x/",
                  workers={"stage_file": WorkerKind("stage_file", "http://127.0.0.1:9/", QUOTE)})
    pool = await new_pool(ctx)
    user = f"u{uuid.uuid4().hex[:6]}"
    booking = await book(ctx, pool, user, [stage("https://example.org/a.csv"),
                                           stage("https://example.org/b.csv", path="b.csv")])
    loop = Lifecycle(ctx, interval=60, clock=lambda: T0, holder="t")
    await loop.tick(T0 + 2 * H - timedelta(seconds=2 * QUOTE))
    me = Caller(name=user, kind="user", level=2, admin=False, can_read=True, can_write=True, sessions=True)
    start = T0 + 2 * H
    for choice in ({}, {"booking": booking["id"]}):
        with pytest.raises(BookingError) as refused:
            await start_session(ctx, me, user, {"server_name": "", **choice}, start)
        assert refused.value.status == 409
        assert refused.value.message.startswith(
            f"Your booking {booking['id']} is still being prepared: step 1 of 2 (stage_file) is RUNNING."), \
            refused.value.message
    seen = await entitlement(ctx, me, user, start)
    assert seen["kind"] == "booking" and "step 1 of 2 (stage_file) is RUNNING" in seen["reason"]
    assert (await get_booking(ctx, ADMIN, booking["id"], T0))["phase"] == "PREPARING"  # nothing was recorded

    for n in range(2):  # each step done in turn
        payload = keeping.payloads[n]
        await report_step(ctx, payload["step"], payload["callback"]["secret"], {"status": "COMPLETED"}, start)
        if n == 0:
            with pytest.raises(BookingError, match="step 2 of 2 \\(stage_file\\) is PENDING"):
                await start_session(ctx, me, user, {"server_name": ""}, start)
            await start_ready(ctx, start)
    assert (await get_booking(ctx, ADMIN, booking["id"], T0))["phase"] == "WAITING"
    status, session = await start_session(ctx, me, user, {"server_name": ""}, start)
    assert status == 201 and session["booking_id"] == booking["id"]
    assert (await get_booking(ctx, ADMIN, booking["id"], T0))["phase"] == "RUNNING"


async def test_an_offer_whose_steps_no_longer_fit_cannot_be_accepted(engine):  # noqa: F811
    """The accept's guard: an offer whose first step would have had to begin before the
    accept is a 409 saying by when (the search never makes one; here the step's due is moved)."""
    from sqlalchemy import update as sql_update

    from booking_service import orm

    ctx = Context(engine=engine, policy=LevelPolicy(),
                  workers={"stage_file": WorkerKind("stage_file", "http://127.0.0.1:9/", QUOTE)})
    pool = await new_pool(ctx)
    answer = await create_offer_set(ctx, ADMIN, {
        "what": {"resources": {"cores": {"min": 1}, "memory_gib": {"min": 1}}}, "pools": [pool],
        "when": {"start": [f"{iso(T0)}/PT3H"]}, "duration": {"min": "PT30M"}, "steps": [stage("https://e.org/a")]}, T0)
    offer = answer["offers"][0]
    assert offer["start"] == iso(T0 + ctx.offer_hold + timedelta(seconds=QUOTE))
    assert "after the offers' hold of 300 s" in " ".join(answer["messages"])
    async with engine.begin() as conn:
        await conn.execute(sql_update(orm.PreparationStep).where(orm.PreparationStep.booking_id == offer["id"])
                           .values(due=T0 - timedelta(minutes=1)))
    with pytest.raises(BookingError) as late:
        await update_offer(ctx, ADMIN, answer["id"], 0, {"phase": "ACCEPTED"}, T0)
    assert late.value.status == 409 and "too soon for its preparation steps" in late.value.message
    assert (await get_booking(ctx, ADMIN, offer["id"], T0))["phase"] == "OFFERED"


# -- the worker under attack: downloads that never end, addresses in disguise ---------------------

TOKEN = {"Authorization": "Bearer worker-token"}


class Drip(web.RequestHandler):
    """A download that never ends: a byte now and then, well inside the worker's read timeout."""

    async def get(self):
        self.set_header("Content-Length", str(len(CONTENT)))
        while True:
            self.write(b"r")
            await self.flush()
            await asyncio.sleep(0.2)


async def test_a_never_ending_download_stops_at_the_steps_deadline(worker, homes):
    """The worker stops a step at its deadline (the booking's start, after which the booking
    has failed anyway), not only after max_seconds (6 hours)."""
    reports = asyncio.Queue()

    class Callback(web.RequestHandler):
        def post(self):
            reports.put_nowait(json.loads(self.request.body))
            self.finish({})

    drip, drip_port = serve(web.Application([(r"/drip", Drip)]))
    back, back_port = serve(web.Application([(r"/cb", Callback)]))
    make_home(homes, "slow")
    try:
        started = time.monotonic()
        deadline = datetime.now(timezone.utc) + timedelta(seconds=2)
        await AsyncHTTPClient().fetch(HTTPRequest(worker, method="POST", headers=TOKEN, body=json.dumps({
            "kind": "stage_file", "user": "slow", "step": 1, "deadline": iso(deadline),
            "params": {k: v for k, v in stage(f"http://127.0.0.1:{drip_port}/drip").items() if k != "kind"},
            "callback": {"url": f"http://127.0.0.1:{back_port}/cb", "secret": "s"}})))
        report = await asyncio.wait_for(reports.get(), 30)
        assert report["status"] == "FAILED" and "too long" in report["message"], report
        assert time.monotonic() - started < 15
        assert not list((homes / "slow" / "saved" / "inputs").iterdir())  # the part file went too
    finally:
        drip.stop()
        back.stop()


@pytest.mark.parametrize("address", [
    "::ffff:127.0.0.1",  # IPv4-mapped
    "::127.0.0.1",  # IPv4-compatible (deprecated, still routed by some stacks)
    "64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe",  # NAT64 of loopback and of the metadata address
    "2002:7f00:1::1", "2002:a9fe:a9fe::1",  # 6to4 of the same
    "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo, whose client is 127.0.0.1
])
def test_an_ipv6_address_holding_a_private_ipv4_one_is_refused(address):
    from booking_service.workers.fetch import allowed_address

    assert not allowed_address(address, frozenset())
    assert allowed_address("2001:4860:4860::8888", frozenset()) and allowed_address("8.8.8.8", frozenset())


async def test_a_stopped_worker_ends_its_downloads(homes):
    """SIGTERM ends the worker at once, a download under way too (its threads waited for the
    child before, which a never-ending download kept for max_seconds)."""
    drip, drip_port = serve(web.Application([(r"/drip", Drip)]))
    process, url = start_worker(homes, "--allowed-hosts=127.0.0.1")
    make_home(homes, "stopped")
    try:
        await AsyncHTTPClient().fetch(HTTPRequest(url, method="POST", headers=TOKEN, body=json.dumps({
            "kind": "stage_file", "user": "stopped", "step": 1, "deadline": "2999-01-01T00:00:00Z",
            "params": {k: v for k, v in stage(f"http://127.0.0.1:{drip_port}/drip").items() if k != "kind"},
            "callback": {"url": "http://127.0.0.1:9/", "secret": "s"}})))
        await asyncio.sleep(1.5)  # the worker's start delay and the first bytes: real work, not the clock
        process.terminate()
        assert await asyncio.get_running_loop().run_in_executor(None, process.wait, 10) == 0
    finally:
        if process.poll() is None:
            os.killpg(process.pid, 9)
        drip.stop()


class _Files:
    """Files over HTTP from a thread (fetch blocks, as in the worker's child): CONTENT at any
    path, and answers that lie: /lie (a Content-Length short of the body), /short (a body
    short of its Content-Length), /gzip (CONTENT gzipped, as Content-Encoding)."""

    def __enter__(self):
        import gzip
        import http.server
        import threading

        class Files(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                body, length, headers = CONTENT, len(CONTENT), {}
                if self.path == "/lie":
                    length = 10
                elif self.path == "/short":
                    body = CONTENT[:50]
                elif self.path == "/gzip":
                    body = gzip.compress(CONTENT)
                    length, headers = len(body), {"Content-Encoding": "gzip"}
                self.send_response(200)
                self.send_header("Content-Length", str(length))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Files)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        return self

    def __exit__(self, *exc):
        self.server.shutdown()


def _plant(kind: str, target):
    import socket

    if kind == "fifo":
        os.mkfifo(target)
    elif kind == "directory":
        target.mkdir()
    elif kind == "link":
        target.symlink_to("/etc/passwd")
    elif kind == "dangling link":
        target.symlink_to("/nowhere/at/all")
    elif kind == "hard link":
        os.link("/etc/hostname", target)
    elif kind == "device":
        os.mknod(target, 0o600 | stat.S_IFCHR, os.makedev(1, 5))  # /dev/zero's
    elif kind == "socket":
        socket.socket(socket.AF_UNIX).bind(str(target))


@pytest.mark.parametrize("kind, message", [
    ("fifo", "not a file"), ("directory", "not a file"), ("link", "is a link"), ("dangling link", "is a link"),
    ("hard link", "present but different"), ("device", "not a file"), ("socket", "cannot be read"),
    ("folder link", "link or not a folder"), ("folder fifo", "link or not a folder"), ("area link", "link or not a folder"),
])
def test_whatever_is_planted_on_the_way_fails_the_step_without_being_followed_or_blocking(tmp_path, kind, message):
    """What a user can put where a file is staged (a FIFO would block a reader, a device
    read for ever): each fails the step at once, naming it; nothing is read through it or
    written through it."""
    from booking_service.workers import fetch

    if kind == "device" and os.geteuid() != 0:
        pytest.skip("mknod needs root")
    home = tmp_path / "home"
    (home / "saved" / "x").mkdir(parents=True)
    if kind.startswith("folder "):
        (home / "saved" / "x").rmdir()
        if kind == "folder link":
            (home / "saved" / "x").symlink_to("/etc")
        else:
            os.mkfifo(home / "saved" / "x")
    elif kind == "area link":
        (home / "saved").rename(home / "elsewhere")
        (home / "saved").symlink_to(home / "elsewhere")
    else:
        _plant(kind, home / "saved" / "x" / "f")
    home_fd = fetch.open_home(str(home))
    started = time.monotonic()
    try:
        with _Files() as files, pytest.raises(fetch.StageError, match=message):
            fetch.stage(home_fd, "saved", "x/f", files.url + "f", len(CONTENT), SHA, frozenset({"127.0.0.1"}))
    finally:
        os.close(home_fd)
    assert time.monotonic() - started < 5
    assert not (home / "elsewhere").exists() or not list((home / "elsewhere").rglob("f"))


@pytest.mark.parametrize("path, message", [
    ("lie", "gave 10 bytes"), ("short", "gave 50 bytes"), ("gzip", "gave"),  # gzip: not unpacked, the wrong size
])
def test_a_body_that_is_not_the_steps_size_fails_it(tmp_path, path, message):
    from booking_service.workers import fetch

    home = tmp_path / "home"
    home.mkdir()
    home_fd = fetch.open_home(str(home))
    try:
        with _Files() as files, pytest.raises(fetch.StageError, match=message):
            fetch.stage(home_fd, "saved", "f", files.url + path, len(CONTENT), SHA, frozenset({"127.0.0.1"}))
    finally:
        os.close(home_fd)
    assert list((home / "saved").iterdir()) == []  # no part file left


@pytest.mark.parametrize("url", ["file:///etc/passwd", "http://0.0.0.0:1/", "http://[::]:1/", "http://localhost:1/",
                                 "http://2130706433:1/", "http://[::ffff:127.0.0.1]:1/", "http://169.254.169.254/latest",
                                 "http://10.0.0.1/", "http://[fe80::1]/"])
def test_loopback_private_and_metadata_addresses_are_refused_however_written(tmp_path, url):
    from booking_service.workers import fetch

    with pytest.raises(fetch.StageError, match="only http and https|private, loopback or reserved"):
        fetch.open_url(url, frozenset())


def test_the_host_is_resolved_once_and_the_checked_address_is_the_one_connected_to(tmp_path, monkeypatch):
    """DNS rebinding: a name that answers a fetchable address to the check and the metadata
    address afterwards. The worker looks the name up once and connects to what it checked."""
    import socket

    from booking_service.workers import fetch

    real, asked = socket.getaddrinfo, []

    def rebinding(host, *args, **kwargs):
        if host == "rebind.example":
            asked.append(host)
            address = "127.0.0.1" if len(asked) == 1 else "169.254.169.254"
            return real(address, *args, **kwargs)
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    home = tmp_path / "home"
    home.mkdir()
    home_fd = fetch.open_home(str(home))
    try:
        with _Files() as files:
            url = files.url.replace("127.0.0.1", "rebind.example") + "data.csv"
            said = fetch.stage(home_fd, "saved", "data.csv", url, len(CONTENT), SHA, frozenset({"127.0.0.1"}))
    finally:
        os.close(home_fd)
    assert "match" in said and (home / "saved" / "data.csv").read_bytes() == CONTENT
    assert asked == ["rebind.example"]


async def test_the_worker_answers_a_body_nested_too_deep_with_a_400(worker):
    try:
        await AsyncHTTPClient().fetch(HTTPRequest(worker, method="POST", headers=TOKEN,
                                                  body=b"[" * 100_000 + b"]" * 100_000))
        raise AssertionError("the worker took it")
    except HTTPClientError as e:
        assert e.code == 400 and b"JSON" in e.response.body, (e.code, e.response.body)


async def test_a_child_stuck_where_its_alarm_cannot_reach_is_killed_by_the_worker(homes, monkeypatch):
    """The child's alarm raises in Python code; a child stuck in C (a lock another thread
    held at the fork) never sees it, so the worker kills it from outside. Stood in for by
    a child that blocks SIGALRM and sleeps."""
    import signal

    from booking_service.workers import fetch, stage_file

    def stuck(*args, **kwargs):
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
        time.sleep(120)

    monkeypatch.setattr(fetch, "stage", stuck)
    monkeypatch.setattr(stage_file, "KILL_GRACE", 1)
    make_home(homes, "stuck")
    worker = stage_file.StageFileWorker(homes=f"{homes}/{{username}}", token="t")
    started = time.monotonic()
    status, message = await worker.stage({
        "user": "stuck", "deadline": iso(datetime.now(timezone.utc) + timedelta(seconds=1)),
        "params": {k: v for k, v in stage("https://example.org/a").items() if k != "kind"}})
    assert (status, message) == ("FAILED", "the worker's child gave no answer: it took too long")
    assert time.monotonic() - started < 10 and not worker.children
