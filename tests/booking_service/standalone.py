"""A booking service as its own process without a hub, configured only by its environment,
as the chart's Deployment runs it: for what needs no hub (health, signals, its files)."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.hub import REPO, free_port

PREFIX = "/services/booking/"


class Standalone:
    """`python -m booking_service` (after `wrapper`, if any) with the database URL in
    $AGLAIS_BOOKING_DB_URL and the address in $JUPYTERHUB_SERVICE_URL."""

    def __init__(self, db_url: str, log: Path, *, args=(), wrapper=(), cwd: Path | None = None):
        self.port = free_port()
        self.log = log
        env = dict(os.environ, AGLAIS_BOOKING_DB_URL=db_url, JUPYTERHUB_SERVICE_NAME="booking",
                   JUPYTERHUB_SERVICE_URL=f"http://127.0.0.1:{self.port}", JUPYTERHUB_SERVICE_PREFIX=PREFIX,
                   PYTHONPATH=str(REPO))
        # the calendar feeds' key by environment, as the Helm chart gives it: no file made
        # in the working directory (the repository's, or a read-only root's)
        env.setdefault("AGLAIS_FEED_SECRET", secrets.token_hex(32))
        env.pop("JUPYTERHUB_API_TOKEN", None)  # no hub: the lifecycle loop stops no server
        with open(log, "ab") as out:
            self.process = subprocess.Popen(
                [*wrapper, sys.executable, "-m", "booking_service", "--log-level=INFO", *args],
                cwd=cwd or REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{PREFIX}"

    def get(self, path: str, timeout: float = 10) -> tuple[int, dict, dict]:
        """(status, headers, JSON body) of GET <prefix><path>."""
        try:
            with urllib.request.urlopen(self.url + path, timeout=timeout) as resp:
                return resp.status, dict(resp.headers), json.loads(resp.read())
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), json.loads(e.read())

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the service exited with {self.process.returncode}:\n{self.text()[-4000:]}")
            try:
                if self.get("healthz", timeout=2)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"the service did not come up in {timeout}s:\n{self.text()[-4000:]}")

    def terminate(self, timeout: float = 20) -> int:
        """SIGTERM, as the hub and Kubernetes stop it; its exit status."""
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def text(self) -> str:
        return self.log.read_text(errors="replace")
