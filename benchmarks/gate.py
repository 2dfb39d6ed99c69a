"""Spawn-gate overhead: the booking service round trips the spawner makes (entitlement,
claim and release of a session), and whole spawns through a real hub with the gate and
with a stand-in for it that answers at once, side by side in one run.

The single-user server in the spawn comparison is a stand-in too (a bare HTTP server
that starts in milliseconds): a real jupyter-server takes seconds to start, which
would bury a difference of milliseconds in noise.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from urllib.parse import quote

from tornado.httpclient import AsyncHTTPClient, HTTPRequest

from benchmarks.common import LatencyRow, timed
from spawner.local import BookingLocalProcessSpawner
from tests.hub import start_hub, stop_hub

STAND_IN_SERVER = """
import os, http.server, urllib.parse

class Answer(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # the hub waits for a 200 from <server>/api
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"version": "2.0.0"}')

    def log_message(self, *args):
        pass

url = urllib.parse.urlparse(os.environ["JUPYTERHUB_SERVICE_URL"])
http.server.ThreadingHTTPServer((url.hostname, url.port), Answer).serve_forever()
"""


class UngatedSpawner(BookingLocalProcessSpawner):
    """The same spawner with a stand-in gate that grants at once, without a round trip:
    what a spawn costs without the booking service."""

    async def claim_session(self) -> dict:
        return {"id": 0, "kind": "walk-in", "pool": "none", "booking_id": None, "until": None, "flavour": "jupyter",
                "package": None, "resources": {"cores": 0.5, "memory_gib": 2}}

    async def release_session(self, reason, session=None):
        self.booking_session = {}


def hub_config(workdir: Path, spawner: str) -> str:
    return f"""
        import sys
        sys.path.insert(0, {str(Path(__file__).resolve().parent.parent)!r})
        c.JupyterHub.spawner_class = {spawner!r}
        # as the embedded default: a system account per user (the benchmark runs as root);
        # the stand-in server needs only the standard library of a Python every account can run
        c.BookingLocalProcessSpawner.create_system_users = True
        c.BookingLocalProcessSpawner.system_homes = '{workdir}/homes'
        c.Spawner.cmd = ['/usr/bin/python3', '-c', {STAND_IN_SERVER!r}]
        # the stand-in server runs no Spark: a grant with workers must not ask for a cluster
        # (the spawner refuses one with 503 where the servers' Python has no pyspark)
        c.BookingLocalProcessSpawner.spark_cluster = False
        c.Spawner.args = []
        c.Spawner.default_url = '/'
        c.Spawner.http_timeout = 30
    """


async def spawn_once(hub, name: str) -> None:
    resp = await hub.request("POST", f"hub/api/users/{quote(name)}/server", token=hub.admin_token, body={})
    assert resp.status in (201, 202), resp.body
    while resp.status == 202:
        await asyncio.sleep(0.01)
        model = (await hub.request("GET", f"hub/api/users/{quote(name)}", token=hub.admin_token)).json()
        if (model.get("servers") or {}).get("", {}).get("ready"):
            break
    resp = await hub.request("DELETE", f"hub/api/users/{quote(name)}/server", token=hub.admin_token)
    assert resp.status in (202, 204), resp.body


async def run_gate(workdir: Path, reps: int, log) -> list[LatencyRow]:
    gated_dir, plain_dir = workdir / "gated", workdir / "plain"
    for folder in (gated_dir, plain_dir):
        (folder / "homes").mkdir(parents=True)
    for folder in (workdir.parent, workdir, gated_dir, plain_dir):  # the accounts' homes lie below: searchable
        folder.chmod(0o755)
    gated_users, plain_users = [], []
    gated = start_hub(gated_dir, {}, external={"booking": f"sqlite+aiosqlite:///{gated_dir}/b.sqlite"},
                      extra_config=hub_config(gated_dir, "booking-local"))
    plain = start_hub(plain_dir, {}, extra_config=hub_config(plain_dir, "benchmarks.gate.UngatedSpawner") +
                      # never called by the stand-in gate, but a spawner needs one to be built
                      "\n        c.BookingSpawnerMixin.booking_api_url = 'http://127.0.0.1:1/services/booking/api/v1'\n")
    try:
        admin = await gated.new_user(admin=True, prefix="admin")
        api = "services/booking/api/v1/"
        for path, body in [("pools", {"name": "shared", "kind": "shared"}),
                           ("pools/shared/capacity", {"start": "2020-01-01T00:00:00Z", "end": "2100-01-01T00:00:00Z",
                                                      "cores": 100000, "memory_gib": 1000000})]:
            resp = await gated.request("POST", api + path, token=admin.token, body=body)
            assert resp.status == 201, resp.body
        # the spawner's own calls, straight to the service as the hub makes them (as a
        # booking admin, who may act for anyone, like the spawner's token)
        service = gated.external["booking"]
        http = AsyncHTTPClient()
        base = f"http://127.0.0.1:{service.port}/services/booking/api/v1/users/"
        user = await gated.new_user(groups=["level-1"])
        headers = {"Authorization": f"token {admin.token}"}

        async def entitlement():
            await http.fetch(HTTPRequest(base + quote(user.name) + "/entitlement", headers=headers))

        async def claim_and_release():
            resp = await http.fetch(HTTPRequest(base + quote(user.name) + "/sessions", method="POST",
                                                headers=headers, body="{}"))
            session = json.loads(resp.body)["id"]
            await http.fetch(HTTPRequest(f"http://127.0.0.1:{service.port}/services/booking/api/v1/sessions/{session}",
                                         method="DELETE", headers=headers))

        await timed(entitlement, 20)
        rows = [LatencyRow("spawn gate", 0, "entitlement round trip", await timed(entitlement, reps * 10))]
        rows.append(LatencyRow("spawn gate", 0, "claim + release session", await timed(claim_and_release, reps * 5)))

        gated_users += [(await gated.new_user(groups=["level-1"])).name for _ in range(reps)]
        plain_users += [f"plain-{i}" for i in range(reps)]
        for name in plain_users:
            await plain.hub_api("POST", f"users/{name}", {})
        with_gate, without_gate = [], []
        for g, p in zip(gated_users, plain_users):  # interleaved: both see the same machine
            for hub, name, samples in ((gated, g, with_gate), (plain, p, without_gate)):
                t0 = time.perf_counter()
                await spawn_once(hub, name)
                samples.append((time.perf_counter() - t0) * 1000)
        rows.append(LatencyRow("spawn gate", 0, "spawn+stop, stand-in gate", without_gate))
        rows.append(LatencyRow("spawn gate", 0, "spawn+stop, booking gate", with_gate))
        log(f"spawn gate: {reps} spawns each, interleaved")
        return rows
    finally:
        # deleting the hub users removes the system accounts their spawns made
        for hub, names in ((gated, gated_users), (plain, plain_users)):
            for name in names:
                await hub.request("DELETE", f"hub/api/users/{quote(name)}", token=hub.admin_token)
        for booking in gated.external.values():
            booking.stop()
        stop_hub(gated.process)
        stop_hub(plain.process)
