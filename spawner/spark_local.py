"""The Spark standalone cluster of one session on the hub's own machine (the embedded
default): a master and one worker process per package worker, run from pyspark's own jars
and `bin/spark-class` as the user's account, bound to 127.0.0.1, on ports chosen free at
start, with a secret of their own that only the owner's server knows. The spawner starts it
before the server and stops it with the server (docs/spawner.md, "The Spark cluster").

pyspark's distribution carries Spark's jars and bin/, but of sbin/ only the history and
connect servers' scripts (no start-master.sh): the master and workers are run here as
spark-class runs them in the foreground, one process group each, which the hub can end.
"""

from __future__ import annotations

import asyncio
import base64
import glob
import hashlib
import hmac
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from tornado.httpclient import AsyncHTTPClient, HTTPClientError

from . import cgroups, package

LOOPBACK = "127.0.0.1"
MIB = 1024**2
# Each daemon's own JVM heap (SPARK_DAEMON_MEMORY); a worker's cap holds its JVM on top of
# its executor's (heap, stacks, metaspace: about twice the heap here).
DAEMON_MEMORY_MIB = 256
DAEMON_ALLOWANCE_MIB = 512
MASTER_CLASS = "org.apache.spark.deploy.master.Master"
WORKER_CLASS = "org.apache.spark.deploy.worker.Worker"
# Spark's own UI filter (Spark 4): every UI request needs `Authorization: Bearer <JWS>`
# signed with the cluster's UI key, which only the owner's server holds
UI_FILTER = "org.apache.spark.ui.JWSFilter"
PROXY_NAME = "spark"  # the master's UI at <server's base URL>spark/ (jupyter-server-proxy)
CONF_PARTS = (".aglais", "spark")  # SPARK_CONF_DIR under the home
JUPYTER_PARTS = (".aglais", "jupyter")  # on the server's JUPYTER_CONFIG_PATH
# What a cluster adds to its server's environment (besides SPARK_CONF_DIR, which every server has)
SERVER_VARIABLES = frozenset({"SPARK_LOCAL_IP", "JAVA_HOME", "PYSPARK_PYTHON", "AGLAIS_SPARK_MASTER", "JUPYTER_CONFIG_PATH"})


class SparkError(Exception):
    """The cluster cannot start; the message says why, for the spawn page."""


def find_spark_home(python: str) -> str | None:
    """pyspark's directory in the environment `python` (a venv's bin/python) belongs to."""
    root = Path(python).parent.parent  # not resolved: a venv's python links to its base's
    for candidate in sorted(glob.glob(str(root / "lib" / "python3*" / "site-packages" / "pyspark"))):
        if os.access(os.path.join(candidate, "bin", "spark-class"), os.X_OK):
            return candidate
    return None


def find_java_home() -> str | None:
    """$JAVA_HOME, else the runtime `java` on PATH belongs to (Debian: a symlink into /usr/lib/jvm)."""
    if os.environ.get("JAVA_HOME") and os.access(os.path.join(os.environ["JAVA_HOME"], "bin", "java"), os.X_OK):
        return os.environ["JAVA_HOME"]
    java = shutil.which("java")
    return str(Path(java).resolve().parent.parent) if java else None


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def ui_token(key: str) -> str:
    """A JWS (HS256) the UI filter accepts: any payload, signed with the cluster's UI key
    (base64url, as JWSFilter's `secretKey` parameter is). Hand-written: three lines of HMAC
    do not need a JWT library in the hub."""
    signing_input = _b64url(b'{"alg":"HS256","typ":"JWT"}') + "." + _b64url(b'{"sub":"aglais-hub"}')
    raw_key = base64.urlsafe_b64decode(key + "=" * (-len(key) % 4))
    signature = hmac.new(raw_key, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + _b64url(signature)


def free_port() -> int:
    """A port free on 127.0.0.1 now; Spark's daemons are told not to try the next one
    (spark.port.maxRetries 0), so a port taken meanwhile fails the start, not the cluster."""
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


@dataclass
class Plan:
    """What one session's cluster is: chosen when the session is applied, started by `start`."""

    spark_home: str
    java_home: str
    python: str  # the servers' interpreter: the notebook's driver and the executors' workers
    home: str
    workers: int
    cores: float
    memory_mib: int
    master_port: int = field(default_factory=free_port)
    ui_port: int = field(default_factory=free_port)
    secret: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    ui_key: str = field(default_factory=lambda: _b64url(secrets.token_bytes(32)))

    @property
    def master_url(self) -> str:
        return f"spark://{LOOPBACK}:{self.master_port}"

    @property
    def conf_dir(self) -> str:
        return os.path.join(self.home, *CONF_PARTS)

    def settings(self) -> dict:
        """What the notebook's driver and the daemons read from spark-defaults.conf (0600, the
        user's): the master, the secret, loopback addresses, the UI filter and its key."""
        return {
            "spark.master": self.master_url,
            "spark.authenticate": "true",
            "spark.authenticate.secret": self.secret,
            "spark.driver.host": LOOPBACK,
            "spark.driver.bindAddress": LOOPBACK,
            "spark.master.rest.enabled": "false",
            "spark.ui.filters": UI_FILTER,
            f"spark.{UI_FILTER}.param.secretKey": self.ui_key,
            "spark.pyspark.python": self.python,
            "spark.pyspark.driver.python": self.python,
        }

    def proxy_config(self) -> dict:
        """jupyter-server-proxy's route to the master's UI (the server's config file): the
        request gets the UI's token, and Spark's UI (X-Forwarded-Context) the route's prefix
        for its links."""
        return {"ServerProxy": {"servers": {PROXY_NAME: {
            "port": self.ui_port,
            "launcher_entry": {"title": "Spark master", "enabled": True},
            "request_headers_override": {"Authorization": f"Bearer {ui_token(self.ui_key)}",
                                         "X-Forwarded-Context": "{base_url}" + PROXY_NAME},
        }}}}

    def server_environment(self) -> dict:
        """The server's (and so its kernels') environment for the cluster."""
        return {
            "SPARK_CONF_DIR": self.conf_dir,
            "SPARK_LOCAL_IP": LOOPBACK,  # the driver's UI binds to it (else every address)
            "JAVA_HOME": self.java_home,
            "PYSPARK_PYTHON": self.python,
            "AGLAIS_SPARK_MASTER": self.master_url,
            "JUPYTER_CONFIG_PATH": os.path.join(self.home, *JUPYTER_PARTS),
        }

    def daemon_environment(self, user: str) -> dict:
        """The daemons' whole environment: nothing of the hub's."""
        return {
            "PATH": f"{Path(self.python).parent}:/usr/local/bin:/usr/bin:/bin",
            "HOME": self.home, "USER": user, "LOGNAME": user, "LANG": "C.UTF-8",
            "JAVA_HOME": self.java_home, "SPARK_HOME": self.spark_home, "SPARK_CONF_DIR": self.conf_dir,
            "SPARK_LOCAL_IP": LOOPBACK, "SPARK_DAEMON_MEMORY": f"{DAEMON_MEMORY_MIB}m",
            "SPARK_DAEMON_JAVA_OPTS": "-Dspark.port.maxRetries=0",
            "SPARK_WORKER_DIR": os.path.join(self.conf_dir, "work"),
            "PYSPARK_PYTHON": self.python,
        }

    def commands(self) -> list[tuple[str, list[str], bool]]:
        """(name, argv, is a worker) of each daemon: the master first."""
        spark_class = os.path.join(self.spark_home, "bin", "spark-class")
        executor_cores, heap, _ = package.executor_sizes(self.cores, self.memory_mib)
        master = [spark_class, MASTER_CLASS, "--host", LOOPBACK, "--port", str(self.master_port),
                  "--webui-port", str(self.ui_port)]
        # one executor per worker: the worker offers exactly its executor's cores and heap
        worker = [spark_class, WORKER_CLASS, "--host", LOOPBACK, "--port", "0", "--webui-port", "0",
                  "--cores", str(executor_cores), "--memory", f"{heap}m", self.master_url]
        return [("master", master, False)] + [(f"worker-{i + 1}", worker, True) for i in range(self.workers)]


# The daemons the hub started and has not yet reaped, by pid.
_children: dict[int, subprocess.Popen] = {}


def _start_time(pid: int) -> str | None:
    """The process's start time (clock ticks after boot): a pid's identity across reuse."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None


def _spawn(argv: list[str], env: dict, log: str, become: Callable[[], None],
           group: cgroups.Group | None) -> subprocess.Popen:
    """Start a daemon in a process group of its own: joined to its cgroup (as root), then as
    the user, its output appended to `log` (opened as the user, never through a link)."""
    def child():
        if group:
            group.join()
        become()
        os.makedirs(os.path.dirname(log), mode=0o700, exist_ok=True)
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o600)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)

    process = subprocess.Popen(argv, env=env, cwd=env["HOME"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True, preexec_fn=child)
    _children[process.pid] = process
    return process


async def start(plan: Plan, user: str, become: Callable[[float | None], Callable[[], None]], log) -> dict:
    """Start the cluster and wait until the master has every worker; its state (for `stop`).
    `become(cores)` is the preexec that makes a child the user's (and, with `cores`, pins
    it to that many CPUs where no cgroup caps it). On any failure what started is stopped."""
    state = {"master": plan.master_url, "ui_port": plan.ui_port, "processes": [], "cgroups": []}
    env = plan.daemon_environment(user)
    logs = os.path.join(plan.conf_dir, "logs")
    tag = secrets.token_hex(4)
    started = []
    try:
        for name, argv, is_worker in plan.commands():
            group = None
            if is_worker:
                _, heap, overhead = package.executor_sizes(plan.cores, plan.memory_mib)
                group = cgroups.make(f"aglais-spark-{tag}-{name}", plan.cores,
                                     (heap + overhead + DAEMON_ALLOWANCE_MIB) * MIB)
                if group:
                    state["cgroups"].append(list(group.dirs))
            pin = plan.cores if is_worker and group is None else None
            process = _spawn(argv, env, os.path.join(logs, f"{name}.log"), become(pin), group)
            state["processes"].append([process.pid, _start_time(process.pid)])
            started.append((name, process))
            if name == "master":
                await _wait_for(plan, started, lambda master: master is not None, "answer")
        await _wait_for(plan, started, lambda master: master and master.get("aliveworkers", 0) >= plan.workers,
                        f"have its {plan.workers} worker(s)")
    except BaseException:
        await stop(state, log)
        raise
    if not state["cgroups"]:
        log.warning("No cgroup could be made for %s's Spark workers: their cores are pinned CPUs, "
                    "their memory only Spark's own accounting (docs/spawner.md)", user)
    return state


START_TIMEOUT = 120.0


async def _wait_for(plan: Plan, started: list, ready, what: str, timeout: float | None = None) -> None:
    """Poll the master's JSON (its UI, with the token) until `ready(answer or None)`; fail
    at once when a daemon exits."""
    deadline = time.monotonic() + (timeout or START_TIMEOUT)
    url = f"http://{LOOPBACK}:{plan.ui_port}/json/"
    headers = {"Authorization": f"Bearer {ui_token(plan.ui_key)}"}
    while True:
        for name, process in started:
            if process.poll() is not None:
                raise SparkError(f"The Spark {name} exited as it started (exit code {process.returncode}); "
                                 f"its log is ~/{'/'.join(CONF_PARTS)}/logs/{name}.log")
        try:
            response = await AsyncHTTPClient().fetch(url, headers=headers, request_timeout=5)
            answer = json.loads(response.body)
        except (HTTPClientError, OSError, ValueError):
            answer = None
        if ready(answer):
            return
        if time.monotonic() > deadline:
            raise SparkError(f"The Spark master did not {what} within {timeout or START_TIMEOUT:.0f} s")
        await asyncio.sleep(0.25)


def _end(state: dict) -> None:
    """SIGKILL every daemon's process group (its executors are in it) and every cgroup's
    processes, then reap. A pid whose start time is not the one recorded is another
    process now (the hub restarted meanwhile) and is left alone."""
    for dirs in state.get("cgroups", []):
        cgroups.Group(tuple(dirs)).kill_and_remove()
    for pid, started in state.get("processes", []):
        if started is not None and _start_time(pid) == started:
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
    for pid, _ in state.get("processes", []):
        process = _children.pop(pid, None)
        if process is not None:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass


async def stop(state: dict, log) -> None:
    """End the cluster of `state` (from `start`, perhaps from before a hub restart)."""
    if state and (state.get("processes") or state.get("cgroups")):
        await asyncio.to_thread(_end, state)
        log.info("Stopped the Spark cluster at %s", state.get("master"))
