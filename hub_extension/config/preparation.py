"""Hub-side wiring of the booking service's preparation workers: the stage_file worker as a
hub-managed service, and the booking service told where it is (docs/preparation.md)."""

from __future__ import annotations

import json
import secrets
import sys

from . import configured
from .booking import SERVICE_NAME

WORKER_NAME = "stage-file"


def stage_file_service(c, *, port: int, homes: str, system_user_prefix: str | None = None,
                       booking: str = SERVICE_NAME, quote_seconds: float = 60,
                       bytes_per_second: float = 10 * 1024 * 1024, allowed_hosts=()) -> dict:
    """Run the stage_file worker as a hub-managed service on 127.0.0.1:`port` (no URL of
    the hub's, so the proxy never exposes it) and give the booking service `booking`
    (configure it first) its address and token. `homes` is the homes' template, as for the
    retention job (``{username}`` or ``{system_user}``, made with `system_user_prefix`).
    The token stays in both processes' environments, off their command lines."""
    token = secrets.token_hex(32)
    args = [sys.executable, "-m", "booking_service.workers.stage_file", "--ip=127.0.0.1", f"--port={port}"]
    if system_user_prefix is not None:
        args.append(f"--system-user-prefix={system_user_prefix}")
    args += [f"--allowed-hosts={host}" for host in allowed_hosts]
    worker = {"name": WORKER_NAME, "display": False, "command": args,
              "environment": {"AGLAIS_STAGE_FILE_TOKEN": token, "AGLAIS_STAGE_HOMES": homes}}
    services = [s for s in configured(c.JupyterHub, "services", []) if s.get("name") != WORKER_NAME]
    for service in services:
        if service.get("name") == booking:
            service.setdefault("environment", {})["AGLAIS_PREPARATION_WORKERS"] = json.dumps({"stage_file": {
                "url": f"http://127.0.0.1:{port}/", "quote_seconds": quote_seconds,
                "bytes_per_second": bytes_per_second, "token": token}})
            break
    else:
        raise ValueError(f"stage_file_service: there is no service {booking!r}; call configure_booking_service first")
    c.JupyterHub.services = services + [worker]
    return worker
