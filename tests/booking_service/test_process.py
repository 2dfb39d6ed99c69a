"""The booking service as a process the way a cluster runs it: stopped by SIGTERM (exit 0,
the lifecycle lease given up), serving from a read-only root filesystem on PostgreSQL, and,
hub-managed, with no database URL on its command line."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

import psycopg
import pytest

from tests.booking_service.standalone import Standalone
from tests.test_embedded import children_of, environ_of


def lease_holder(url: str) -> str | None:
    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql")) as conn:
        row = conn.execute("SELECT holder FROM leases WHERE name = 'lifecycle'").fetchone()
    return row and row[0]


def wait_for(condition, timeout: float = 30, what: str = "the condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"{what} did not happen in {timeout}s")


@pytest.mark.postgres
def test_sigterm_exits_0_and_gives_the_lifecycle_lease_up(postgres_db, tmp_path):
    url = postgres_db()
    service = Standalone(url, tmp_path / "booking.log", args=["--BookingService.lifecycle_interval=0.5"])
    try:
        service.wait_ready()
        holder = f"{socket.gethostname()}:{service.process.pid}"
        wait_for(lambda: lease_holder(url) == holder, what="taking the lifecycle lease")
        assert service.terminate() == 0
    finally:
        service.kill()
    # another replica takes the loop over at its next round, not when the lease lapses
    assert lease_holder(url) is None
    log = service.text()
    assert "Booking service stopping" in log and "Traceback" not in log, log[-3000:]


def test_sigterm_during_start_up_exits_0(tmp_path):
    # a "database" that accepts the connection and never answers: the start waits on it
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    port = silent.getsockname()[1]
    service = Standalone(f"postgresql+psycopg://nobody@127.0.0.1:{port}/none?connect_timeout=60",
                         tmp_path / "booking.log")
    try:
        time.sleep(2)
        assert service.process.poll() is None
        assert service.terminate() == 0
    finally:
        service.kill()
        silent.close()
    assert "stopping before it started" in service.text()


READ_ONLY_ROOT = 'mount -o remount,bind,ro / && mount -o remount,bind,ro /dev/shm && exec "$@"'


def read_only_root(*command: str) -> subprocess.CompletedProcess:
    """`command` in a mount namespace of its own whose / and /dev/shm are read-only, as a
    container's with readOnlyRootFilesystem: writes fail (EROFS) rather than land."""
    return subprocess.run(["unshare", "--mount", "sh", "-c", READ_ONLY_ROOT, "sh", *command],
                          capture_output=True, text=True)


@pytest.mark.postgres
def test_on_postgresql_it_serves_from_a_read_only_root_filesystem(postgres_db, tmp_path):
    if read_only_root("true").returncode != 0:
        pytest.skip("needs CAP_SYS_ADMIN for a mount namespace (unshare --mount)")
    # the wrapper really makes the filesystem read-only, so a write would fail
    probe = read_only_root("touch", str(tmp_path / "probe"))
    assert probe.returncode != 0 and "Read-only file system" in probe.stderr, probe
    log = tmp_path / "booking.log"
    # a fresh database: the start migrates it (alembic) and seeds it, on a read-only root
    service = Standalone(postgres_db(), log, wrapper=["unshare", "--mount", "sh", "-c", READ_ONLY_ROOT, "sh"],
                         cwd=tmp_path)
    try:
        service.wait_ready()
        assert service.get("readyz")[0] == 200
        assert service.get("api/v1/openapi.json")[0] == 200
        assert service.terminate() == 0
    finally:
        service.kill()
    text = service.text()
    assert "Read-only file system" not in text and "Errno 30" not in text and "Traceback" not in text, text[-3000:]
    assert "Booking service listening" in text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["booking.log"]  # its cwd: nothing written


def booking_processes(hub) -> dict[str, int]:
    """service name -> pid of the hub's managed booking services."""
    found = {}
    for pid in children_of(hub.process.pid):
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        if b"booking_service" in argv:
            found[environ_of(pid)["JUPYTERHUB_SERVICE_NAME"]] = pid
    return found


def test_a_hub_managed_service_has_its_database_url_in_its_environment_not_its_command_line(hub):
    processes = booking_processes(hub)
    assert set(processes) == set(hub.services), processes
    for name, pid in processes.items():
        url = hub.services[name]
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode()
        assert url not in cmdline and "db-url" not in cmdline and "postgresql" not in cmdline, cmdline
        assert environ_of(pid)["AGLAIS_BOOKING_DB_URL"] == url
        # what the environment buys: only the process's own user may read it
        assert os.stat(f"/proc/{pid}/environ").st_mode & 0o077 == 0
    assert not [u for u in hub.services.values() if u in (hub.workdir / "hub.log").read_text()]
