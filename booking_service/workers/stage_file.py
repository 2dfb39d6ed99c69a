"""The `stage_file` preparation worker: a single-function HTTP service (docs/preparation.md)
that copies a file from a URL into a user's data area (~/saved) and reports by callback.

`python -m booking_service.workers.stage_file`: it answers a step at once (202) and works
after a short pause, so its callback never arrives before the booking service has heard the
answer; the file work runs in a forked child that has dropped to the home's owner (when the
worker is root), so nothing is ever written as root into a user's tree.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import math
import os
import signal
from datetime import datetime, timezone
from urllib.parse import urlparse

from tornado import web
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest
from tornado.httpserver import HTTPServer
from traitlets import Float, Int, List, Unicode, default
from traitlets.config import Application

from ..domain import BookingError
from ..steps import STAGE_FILE, stage_file_params
from . import fetch

log = logging.getLogger("booking_service.workers.stage_file")
KILL_GRACE = 30  # seconds past a step's time before its child is killed from outside


class StageFileWorker(Application):
    name = "stage-file-worker"
    description = "Stages files from URLs into users' data areas for the booking service's preparation steps."
    aliases = {"ip": "StageFileWorker.ip", "port": "StageFileWorker.port", "homes": "StageFileWorker.homes",
               "system-user-prefix": "StageFileWorker.system_user_prefix",
               "allowed-hosts": "StageFileWorker.allowed_hosts", "start-delay": "StageFileWorker.start_delay",
               "log-level": "Application.log_level"}

    ip = Unicode(config=True, help="Address to listen on. Default: the host of $JUPYTERHUB_SERVICE_URL, else 127.0.0.1.")
    port = Int(config=True, help="Port to listen on. Default: the port of $JUPYTERHUB_SERVICE_URL, else 10111.")
    homes = Unicode(
        config=True,
        help="""Where a user's home is: a template with ``{username}`` (the hub user) or
        ``{system_user}`` (their system account, `system_user_prefix` and the name, as the
        local spawner makes it). Files go below its ``saved/``. Default: $AGLAIS_STAGE_HOMES.""",
    )
    system_user_prefix = Unicode("jupyter-", config=True, help="The local spawner's system_user_prefix.")
    area = Unicode("saved", config=True, help="The folder of the home that files are staged into (the user's data).")
    allowed_hosts = List(
        Unicode(), config=True,
        help="""Hosts or addresses that may be fetched from although they are private or loopback
        (a site's own data server). Any other private, loopback, link-local or reserved address
        is refused, however the URL names it.""",
    )
    start_delay = Float(
        1, config=True,
        help="""Seconds between answering a step and starting on it (seed 004's "deliberate
        break"), so the callback does not overtake the answer.""",
    )
    max_seconds = Int(6 * 3600, config=True, help="A step still working after this many seconds is failed.")
    callback_attempts = Int(30, config=True, help="How often a callback is tried (each after its Retry-After).")
    token = Unicode(
        config=True,
        help="""The bearer token the booking service must send (its preparation_workers entry's
        ``token``). Default: $AGLAIS_STAGE_FILE_TOKEN. Required, on loopback too: every user's
        server on the hub's host reaches 127.0.0.1.""",
    )

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.jobs: set = set()
        self.running: dict[int, Job] = {}  # by step id: what a cancel (DELETE /<step>) stops
        self.children: set[int] = set()  # the pids of the file work under way, ended on stop

    def _service_url(self):
        return urlparse(os.environ.get("JUPYTERHUB_SERVICE_URL", "http://127.0.0.1:10111"))

    @default("ip")
    def _default_ip(self):
        return self._service_url().hostname or "127.0.0.1"

    @default("port")
    def _default_port(self):
        return self._service_url().port or 10111

    @default("homes")
    def _default_homes(self):
        return os.environ.get("AGLAIS_STAGE_HOMES", "")

    @default("token")
    def _default_token(self):
        return os.environ.get("AGLAIS_STAGE_FILE_TOKEN", "")

    def home_of(self, user: str) -> str:
        from spawner.system_users import system_name  # the local spawner's one rule for the name

        system_user = system_name(self.system_user_prefix, user) if "{system_user}" in self.homes else ""
        return self.homes.format(username=user, system_user=system_user)

    async def stage(self, job: dict, state: Job | None = None) -> tuple[str, str]:
        """(status, message) of one step: the file work in a child process."""
        params = job["params"]
        home = self.home_of(job["user"])
        seconds = self.seconds_for(job.get("deadline"))
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: drop to the home's owner, do the work, say how it went, exit
            os.close(read)
            status, message = "FAILED", "the worker's child failed"
            try:
                # a cancel is SIGUSR1 (no handler in the parent: one that comes before this
                # line just ends the child, which has written nothing yet). The parent's loop
                # handles SIGTERM and SIGINT through a wakeup fd the child shares: back to the
                # defaults, so the parent's SIGTERM on stop ends the child
                signal.set_wakeup_fd(-1)
                for sig in (signal.SIGTERM, signal.SIGINT):
                    signal.signal(sig, signal.SIG_DFL)
                signal.signal(signal.SIGUSR1, _cancelled)
                signal.signal(signal.SIGALRM, _too_long(seconds))  # raised in the work: the part file goes
                signal.alarm(seconds)
                home_fd = fetch.open_home(home)
                owner = os.fstat(home_fd)
                if os.geteuid() == 0:
                    if owner.st_uid == 0:
                        raise fetch.StageError(f"the user's home ({home}) belongs to root; this worker does not "
                                               f"write as root")
                    os.setgroups([])
                    os.setgid(owner.st_gid)
                    os.setuid(owner.st_uid)
                os.umask(0o077)
                message = fetch.stage(home_fd, self.area, params["path"], params["url"], params["size"],
                                      params["sha256"], frozenset(h.lower() for h in self.allowed_hosts))
                status = "COMPLETED"
            except fetch.StageError as e:
                message = str(e)
            except BaseException as e:  # noqa: BLE001 (anything: the parent must hear of it)
                message = f"the worker failed: {type(e).__name__}: {e}"
            finally:
                signal.alarm(0)  # no StageError from here on: the child must reach its _exit
                signal.signal(signal.SIGUSR1, signal.SIG_IGN)
                os.write(write, json.dumps({"status": status, "message": message}).encode())
                os._exit(0)
        os.close(write)
        self.children.add(pid)
        if state is not None:
            state.pid = pid
        loop = asyncio.get_running_loop()
        try:
            reading = loop.run_in_executor(None, _read_all, read)
            try:
                answer = await asyncio.wait_for(asyncio.shield(reading), seconds + KILL_GRACE)
            except asyncio.TimeoutError:
                # the child's alarm raises in Python code only; a child stuck in C (a lock a
                # thread held at the fork) is ended from here
                os.kill(pid, signal.SIGKILL)
                answer = await reading
            _, code = await loop.run_in_executor(None, os.waitpid, pid, 0)
        finally:
            self.children.discard(pid)
        try:
            result = json.loads(answer)
            return result["status"], result["message"]
        except (ValueError, KeyError):
            late = os.WIFSIGNALED(code) and os.WTERMSIG(code) in (signal.SIGALRM, signal.SIGKILL)
            reason = "it took too long" if late else "it died"
            return "FAILED", f"the worker's child gave no answer: {reason}"

    def seconds_for(self, deadline) -> int:
        """How long a step may work: to its deadline (the booking's start, when a step not done
        fails the booking anyway), at most max_seconds; a download that never ends (a byte
        now and then, inside every read's timeout) stops there."""
        seconds = self.max_seconds
        if isinstance(deadline, str):
            try:
                at = datetime.fromisoformat(deadline.replace("Z", "+00:00"))
                left = math.ceil((at - datetime.now(timezone.utc)).total_seconds())
                seconds = min(seconds, max(1, left))
            except (ValueError, TypeError, OverflowError):
                pass  # not a time with a zone: max_seconds
        return seconds

    async def run_job(self, job: dict, state: Job | None = None) -> None:
        try:
            await asyncio.sleep(self.start_delay)
            status, message = await self.stage(job, state)
        finally:
            if state is not None and self.running.get(job["step"]) is state:
                del self.running[job["step"]]
        if state is not None and state.cancelled:
            # the service cancelled it: its callback would only be refused (409)
            log.info("Step %s for %s: cancelled (%s)", job["step"], job["user"], message)
            return
        log.info("Step %s for %s: %s (%s)", job["step"], job["user"], status, message)
        await self.report(job["callback"] if state is None else state.callback, status, message)

    def cancel(self, step: int) -> bool:
        """Stop step `step` if it runs here: before its child, its task is cancelled; with a
        child, the child gets SIGUSR1, stops its download and removes its partial file."""
        state = self.running.get(step)
        if state is None:
            return False
        state.cancelled = True
        if state.pid is None:
            state.task.cancel()
            del self.running[step]
        else:
            try:
                os.kill(state.pid, signal.SIGUSR1)
            except ProcessLookupError:
                pass  # it has just finished: its answer is dropped
        return True

    async def report(self, callback: dict, status: str, message: str) -> None:
        """POST the outcome; a 425 (the service has not marked the step RUNNING yet) is tried
        again after its Retry-After; a 4xx other than that is final."""
        http = AsyncHTTPClient()
        for _ in range(self.callback_attempts):
            try:
                await http.fetch(HTTPRequest(
                    callback["url"], method="POST", body=json.dumps({"status": status, "message": message}),
                    headers={"Authorization": f"Bearer {callback['secret']}", "Content-Type": "application/json"},
                    follow_redirects=False, request_timeout=30))
                return
            except HTTPClientError as e:
                if e.code != 425 and e.code < 500 and e.code != 599:
                    log.warning("The callback %s was refused: %s %s", callback["url"], e.code,
                                e.response.body[:300] if e.response else "")
                    return
                delay = float(e.response.headers.get("Retry-After", 1)) if e.response is not None else 5
            except OSError as e:
                log.warning("The callback %s failed (%s); trying again", callback["url"], e)
                delay = 5
            await asyncio.sleep(min(max(delay, 0.1), 60))
        log.error("Gave up on the callback %s", callback["url"])

    def make_app(self) -> web.Application:
        return web.Application([(r"/", StepHandler), (r"/([0-9]{1,18})", CancelHandler)], worker=self)

    def start(self):
        async def main():
            if not self.homes:
                raise SystemExit("StageFileWorker.homes is not set (or $AGLAIS_STAGE_HOMES): where are the homes?")
            if not self.token:
                # anyone who reaches it could have files written into any home, and loopback is
                # no boundary: every user's server on this host reaches it
                raise SystemExit(f"StageFileWorker.token is not set (or $AGLAIS_STAGE_FILE_TOKEN): a worker "
                                 f"needs one, on {self.ip} as anywhere")
            server = HTTPServer(self.make_app())
            server.listen(self.port, self.ip)
            log.info("stage_file worker on http://%s:%d/, homes %s", self.ip, self.port, self.homes)
            stopping = asyncio.Event()
            for sig in (signal.SIGTERM, signal.SIGINT):
                asyncio.get_running_loop().add_signal_handler(sig, stopping.set)
            await stopping.wait()
            server.stop()
            for pid in list(self.children):  # else the executor's threads wait for them at exit
                try:
                    os.kill(pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass

        logging.basicConfig(level=self.log_level, format="[%(levelname)s %(asctime)s %(name)s] %(message)s")
        asyncio.run(main())


class Job:
    """A step this worker runs: its task and, once forked, the child doing the file work."""

    def __init__(self, task, callback: dict):
        self.task = task
        self.callback = callback  # where it reports: a start again of the same step replaces it
        self.pid: int | None = None
        self.cancelled = False


def _cancelled(signum, frame):
    signal.signal(signal.SIGUSR1, signal.SIG_IGN)  # once: never again inside the clean-up
    raise fetch.StageError("cancelled by the booking service")


def _too_long(seconds: int):
    def handler(signum, frame):
        raise fetch.StageError(f"it took too long: stopped after {seconds} s, at the step's deadline "
                               f"(the booking's start) or the worker's max_seconds")
    return handler


def _read_all(fd: int) -> bytes:
    chunks = []
    try:
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
    finally:
        os.close(fd)
    return b"".join(chunks)


class StepHandler(web.RequestHandler):
    """POST /: one step, {"step", "user", "kind", "params", "callback": {"url", "secret"}}."""

    def check_xsrf_cookie(self):
        pass  # a program's call with a bearer token: no browser, no cookie

    def write_error(self, status_code, **kwargs):
        exc = kwargs.get("exc_info", (None, None, None))[1]
        message = exc.message if isinstance(exc, BookingError) else self._reason
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.finish(json.dumps({"status": status_code, "message": message}))

    def send_error(self, status_code=500, **kwargs):
        exc = kwargs.get("exc_info", (None, None, None))[1]
        super().send_error(exc.status if isinstance(exc, BookingError) else status_code, **kwargs)

    def check_token(self) -> None:
        worker: StageFileWorker = self.settings["worker"]
        given = self.request.headers.get("Authorization", "").partition(" ")[2].strip()
        if not worker.token or not hmac.compare_digest(given.encode(), worker.token.encode()):
            raise BookingError("This worker needs its token: 'Authorization: Bearer <token>'.", status=403)

    async def post(self):
        worker: StageFileWorker = self.settings["worker"]
        self.check_token()
        try:
            job = json.loads(self.request.body)
        except (ValueError, RecursionError):  # RecursionError: nested too deep
            raise BookingError("The body must be JSON.") from None
        if not isinstance(job, dict) or job.get("kind") != STAGE_FILE:
            raise BookingError(f"This worker does '{STAGE_FILE}' steps only.")
        callback, user = job.get("callback"), job.get("user")
        if not isinstance(callback, dict) or not isinstance(callback.get("url"), str) \
                or urlparse(callback["url"]).scheme not in ("http", "https") or not isinstance(callback.get("secret"), str):
            raise BookingError("'callback' must be {\"url\": an http(s) URL, \"secret\": a string}.")
        if not isinstance(user, str) or not 0 < len(user) <= 255 or "/" in user or user in (".", ".."):
            raise BookingError("'user' must be a hub user name.")
        job["params"] = stage_file_params(job.get("params") if isinstance(job.get("params"), dict) else {}, "params")
        step = job.get("step")
        if isinstance(step, bool) or not isinstance(step, int) or step < 0:
            raise BookingError("'step' must be the step's id, a whole number.")
        if step in worker.running:
            # started again by the service (our answer was lost): the running one reports, to
            # the new callback secret
            worker.running[step].callback = job["callback"]
            self.set_status(202)
            return self.finish({"status": 202, "message": f"step {step} is running; the callback follows"})
        state = Job(None, job["callback"])
        task = state.task = asyncio.ensure_future(worker.run_job(job, state))
        worker.running[step] = state
        worker.jobs.add(task)  # held, so the loop does not drop it half-way
        task.add_done_callback(worker.jobs.discard)
        self.set_status(202)
        self.finish({"status": 202, "message": f"step {job.get('step')} taken; the callback follows"})


class CancelHandler(StepHandler):
    """DELETE /<step>: the booking service cancelled the step (its booking was cancelled or
    failed): stop it, remove what was begun, no callback. 404 if it is not running here."""

    def post(self, step):
        raise web.HTTPError(405)

    def delete(self, step):
        self.check_token()
        if not self.settings["worker"].cancel(int(step)):
            raise BookingError(f"Step {step} is not running here (finished already, or never taken).", status=404)
        self.finish({"status": 200, "message": f"step {step} stopped; no callback follows"})


main = StageFileWorker.launch_instance

if __name__ == "__main__":
    main()
