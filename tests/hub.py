"""A real JupyterHub (subprocess, with configurable-http-proxy) running booking services
as hub-managed services, and a small client that creates users and tokens through the
hub's REST API and calls the booking API through the proxy, as programs do."""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import pytest
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

REPO = Path(__file__).resolve().parent.parent
ALL_BOOKING_SCOPES = ["custom:booking:read", "custom:booking:write"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proxy_command() -> str:
    chp = REPO / "node_modules" / ".bin" / "configurable-http-proxy"
    if not chp.exists():
        raise RuntimeError(f"{chp} is missing: run `make test`, which installs it")
    return str(chp)


@dataclass
class Response:
    status: int
    body: bytes
    headers: dict

    def json(self):
        return json.loads(self.body)


@dataclass
class Hub:
    """A running hub: its public URL, an admin service token, and the booking services."""

    url: str
    admin_token: str
    services: dict  # name -> db url
    workdir: Path
    process: subprocess.Popen
    external: dict = field(default_factory=dict)  # name -> BookingProcess
    # name -> the token of the hub service `<name>-accounts` (custom:booking:forget)
    forget_tokens: dict = field(default_factory=dict)
    # The hub itself, not through the proxy: a test can play several client addresses
    # there with X-Forwarded-For, which the proxy would otherwise set to its own peer.
    direct_url: str = ""
    _http: AsyncHTTPClient = field(default_factory=AsyncHTTPClient)

    async def request(self, method, path, *, token=None, body=None, headers=None, raw_body=None) -> Response:
        hdrs = dict(headers or {})
        if token:
            hdrs["Authorization"] = f"token {token}"
        data = raw_body if raw_body is not None else (None if body is None else json.dumps(body))
        if data is None and method in ("POST", "PATCH", "PUT"):
            data = ""
        req = HTTPRequest(self.url + path.lstrip("/"), method=method, headers=hdrs, body=data,
                          allow_nonstandard_methods=True, follow_redirects=False, request_timeout=60)
        try:
            resp = await self._http.fetch(req)
        except HTTPClientError as e:
            if e.response is None:
                raise
            resp = e.response
        return Response(resp.code, resp.body or b"", dict(resp.headers))

    async def hub_api(self, method, path, body=None) -> dict:
        resp = await self.request(method, "hub/api/" + path.lstrip("/"), token=self.admin_token, body=body)
        assert resp.status < 300, (method, path, resp.status, resp.body)
        return resp.json() if resp.body else {}

    async def new_user(self, *, admin=False, groups=(), scopes=ALL_BOOKING_SCOPES, prefix="user") -> "User":
        """A fresh hub user with an API token limited to `scopes` (plus access to the services)."""
        name = f"{prefix}-{uuid.uuid4().hex[:10]}"
        await self.hub_api("POST", f"users/{quote(name)}", {"admin": admin})
        for group in groups:
            await self.ensure_group(group)
            await self.hub_api("POST", f"groups/{quote(group)}/users", {"users": [name]})
        token = await self.token_for(name, scopes)
        return User(name, token)

    async def token_for(self, name: str, scopes) -> str:
        access = [f"access:services!service={s}" for s in self.services]
        model = await self.hub_api("POST", f"users/{quote(name)}/tokens",
                                   {"scopes": list(scopes) + access, "expires_in": 3600})
        return model["token"]

    async def ensure_group(self, group: str) -> None:
        resp = await self.request("GET", f"hub/api/groups/{quote(group)}", token=self.admin_token)
        if resp.status == 404:
            await self.hub_api("POST", f"groups/{quote(group)}")


@dataclass
class User:
    name: str
    token: str


def write_config(workdir: Path, *, hub_port: int, hub_api_port: int, services: dict, admin_token: str,
                 external: dict, extra: str, forget_tokens: dict | None = None) -> Path:
    """`services`: name -> (port, db_url), hub-managed; `external`: name -> (port, token)."""
    config = workdir / "jupyterhub_config.py"
    booking_calls = "\n".join(
        f"configure_booking_service(c, name={name!r}, url='http://127.0.0.1:{port}', db_url={db!r}, "
        f"managed=True, extra_args=['--log-level=INFO'], forget_token={(forget_tokens or {}).get(name)!r})"
        for name, (port, db) in services.items()
    ) + "\n" + "\n".join(
        f"configure_booking_service(c, name={name!r}, url='http://127.0.0.1:{port}', managed=False, "
        f"api_token={token!r}, forget_token={(forget_tokens or {}).get(name)!r})"
        for name, (port, token) in external.items()
    ) + (
        # the external services start once the hub answers (start_hub): the hub need not
        # wait its 30 s for each of them at start-up
        f"\nfor _service in c.JupyterHub.services:\n"
        f"    if _service['name'] in {sorted(external)!r}:\n"
        f"        _service['timeout'] = 1"
        if external else ""
    )
    config.write_text(textwrap.dedent(f"""\
        import sys
        sys.path.insert(0, {str(REPO)!r})
        from hub_extension.config.booking import configure_booking_service
        c = get_config()
        c.JupyterHub.bind_url = 'http://127.0.0.1:{hub_port}/'
        c.JupyterHub.hub_bind_url = 'http://127.0.0.1:{hub_api_port}'
        c.ConfigurableHTTPProxy.api_url = 'http://127.0.0.1:{free_port()}'
        c.ConfigurableHTTPProxy.command = [{proxy_command()!r}]
        c.JupyterHub.db_url = 'sqlite:///{workdir}/jupyterhub.sqlite'
        c.JupyterHub.cookie_secret = bytes.fromhex({secrets.token_hex(32)!r})
        c.JupyterHub.authenticator_class = 'dummy'
        c.Authenticator.allow_all = True
        c.JupyterHub.log_level = 'INFO'
        """) + booking_calls + textwrap.dedent(f"""
        # the tests' stand-in for a hub admin's program: creates users, admins and tokens
        c.JupyterHub.services.append({{'name': 'test-admin', 'api_token': {admin_token!r}}})
        roles = c.JupyterHub.load_roles if 'load_roles' in c.JupyterHub else []
        roles.append({{'name': 'admin', 'services': ['test-admin']}})
        # a booking admin who is not a hub admin
        c.Authenticator.allowed_users = {{'operator'}}
        for role in roles:
            if role['name'] == 'booking-admin':
                role['users'] = ['operator']
        c.JupyterHub.load_roles = roles
        """) + textwrap.dedent(extra))
    return config


class BookingProcess:
    """An external booking service (its own process), started with the environment the
    hub gives services, so a test can stop and restart it while the hub runs."""

    def __init__(self, workdir: Path, *, name: str, port: int, token: str, hub_api: str, db_url: str, args=()):
        self.workdir, self.name, self.port, self.token = workdir, name, port, token
        self.hub_api, self.db_url, self.args = hub_api, db_url, list(args)
        self.process: subprocess.Popen | None = None
        self.log = workdir / f"{name}.log"

    def start(self) -> None:
        prefix = f"/services/{self.name}/"
        env = dict(
            os.environ,
            JUPYTERHUB_API_TOKEN=self.token, JUPYTERHUB_API_URL=self.hub_api, JUPYTERHUB_SERVICE_NAME=self.name,
            JUPYTERHUB_SERVICE_PREFIX=prefix, JUPYTERHUB_SERVICE_URL=f"http://127.0.0.1:{self.port}",
            JUPYTERHUB_CLIENT_ID=f"service-{self.name}", JUPYTERHUB_OAUTH_CALLBACK_URL=prefix + "oauth_callback",
            JUPYTERHUB_OAUTH_ACCESS_SCOPES=json.dumps([f"access:services!service={self.name}", "access:services"]),
            JUPYTERHUB_BASE_URL="/",
        )
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "booking_service", f"--db-url={self.db_url}", "--log-level=INFO", *self.args],
                cwd=self.workdir, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        wait_for_http(f"http://127.0.0.1:{self.port}{prefix}api/v1/openapi.json", self.process, self.log)

    def stop(self) -> None:
        if self.process is not None:
            stop_hub(self.process)
            self.process = None


def wait_for_http(url: str, process: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the hub exited with {process.returncode}:\n{log.read_text()[-4000:]}")
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:  # refused, or the proxy's 404 until the hub adds its routes
            time.sleep(0.2)
    raise RuntimeError(f"the hub did not come up in {timeout}s:\n{log.read_text()[-4000:]}")


# External booking services in tests: a fast lifecycle loop, and the shared pool "shared"
# for walk-in servers.
EXTERNAL_ARGS = ("--BookingService.lifecycle_interval=1", "--BookingService.orphan_grace_seconds=3",
                 "--BookingService.walk_in_pool=shared")


def start_hub(workdir: Path, services: dict, *, external: dict | None = None, extra_config: str = "",
              external_args=EXTERNAL_ARGS) -> Hub:
    """Start a hub whose hub-managed booking services are `services` (name -> db url);
    `external` (name -> db url) are started as BookingProcess with `external_args`, in
    `hub.external`."""
    hub_port, hub_api_port = free_port(), free_port()
    admin_token = secrets.token_hex(16)
    ports = {name: (free_port(), db) for name, db in services.items()}
    outside = {name: (free_port(), secrets.token_hex(16), db) for name, db in (external or {}).items()}
    forget_tokens = {name: secrets.token_hex(16) for name in [*services, *(external or {})]}
    config = write_config(workdir, hub_port=hub_port, hub_api_port=hub_api_port, services=ports,
                          admin_token=admin_token, external={n: (p, t) for n, (p, t, _) in outside.items()},
                          extra=extra_config, forget_tokens=forget_tokens)
    log = workdir / "hub.log"
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}")
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "jupyterhub", "-f", str(config)],
            cwd=workdir, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True,
        )
    url = f"http://127.0.0.1:{hub_port}/"
    processes = {}
    try:
        wait_for_http(url + "hub/api/", process, log)
        for name, (port, token, db) in outside.items():
            processes[name] = BookingProcess(workdir, name=name, port=port, token=token, db_url=db,
                                             hub_api=f"http://127.0.0.1:{hub_api_port}/hub/api",
                                             args=external_args)
            processes[name].start()
        for name in list(services) + list(outside):
            wait_for_http(url + f"services/{name}/api/v1/openapi.json", process, log)
    except Exception:
        for booking in processes.values():
            booking.stop()
        stop_hub(process)
        raise
    hub = Hub(url=url, admin_token=admin_token, services={**services, **(external or {})}, workdir=workdir,
              process=process)
    hub.external = processes
    hub.forget_tokens = forget_tokens
    hub.direct_url = f"http://127.0.0.1:{hub_api_port}/"
    return hub


def stop_hub(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture(scope="session")
def hub(tmp_path_factory, postgres_cluster):
    """One hub for the session, with booking services on SQLite and on PostgreSQL
    (two processes sharing one PostgreSQL database, as the service scales out)."""
    workdir = tmp_path_factory.mktemp("hub")
    pg_url = postgres_cluster.url(postgres_cluster.create_database("booking"))
    services = {
        "booking": f"sqlite+aiosqlite:///{workdir}/booking.sqlite",
        "booking-pg": pg_url,
        "booking-pg2": pg_url,
    }
    running = start_hub(workdir, services)
    yield running
    stop_hub(running.process)
    log = workdir / "hub.log"
    tracebacks = log.read_text().count("Traceback") if log.exists() else 0
    assert tracebacks == 0, f"the hub or a booking service logged {tracebacks} tracebacks: {log}"
