"""A real hub with AglaisAuthenticator, and the real parts around it:

- a real SMTP server (aiosmtpd) collecting the hub's mail;
- a real OpenID Connect provider (oidc-provider-mock, in a thread of this process);
- stand-ins for GitHub and Google: a small HTTP server answering as their OAuth and user
  endpoints do (the way oauthenticator's own tests route its HTTP client), reached by
  the hub over real HTTP through the providers' URL settings.

Tests drive the hub like a browser: a requests.Session with cookies and the _xsrf token.
"""

from __future__ import annotations

import email
from contextlib import contextmanager
import json
import re
import secrets
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlparse

import pytest
import requests

from tests.hub import free_port, start_hub, stop_hub

ADMIN_PASSWORD = "admin-password-for-tests"
READER_TOKEN = secrets.token_hex(16)
LINKER_TOKEN = secrets.token_hex(16)


class Mailbox:
    """aiosmtpd's Controller with a handler that keeps every message."""

    def __init__(self):
        from aiosmtpd.controller import Controller

        self.messages: list[email.message.Message] = []
        self.port = free_port()
        mailbox = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                mailbox.messages.append(email.message_from_bytes(envelope.content))
                return "250 OK"

        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def wait_for(self, to: str, subject: str | None = None, after: int = 0, timeout: float = 15):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for message in self.messages[after:]:
                if message["To"] == to and (subject is None or message["Subject"] == subject):
                    return message
            time.sleep(0.05)
        raise AssertionError(f"no mail to {to} ({subject}) in {timeout}s; got {[m['To'] for m in self.messages]}")

    @staticmethod
    def link(message) -> str:
        return re.search(r"(http://\S+)", message.get_payload(decode=True).decode()).group(1)

    def stop(self):
        self.controller.stop()


class StandIn(BaseHTTPRequestHandler):
    """GitHub's and Google's OAuth and user endpoints, as far as oauthenticator uses them.

    /gh/... is GitHub Enterprise's layout (github_url); /google/... answers Google's
    authorize, token and userinfo URLs. Who logs in is chosen per test: the authorize
    URL's `login_hint` (or the server's `next_user`) names a user of USERS.
    """

    USERS = {
        "octocat": {"id": 583231, "login": "octocat", "email": "octocat@example.org", "name": "The Octocat"},
        "gina": {"sub": "109876543210", "email": "gina@example.org", "email_verified": True},
        "fiona": {"id": "10223344556677", "name": "Fiona Fb", "email": "fiona@example.org"},
        "unverified": {"sub": "555", "email": "victim@example.org", "email_verified": False},
    }
    codes: dict = {}
    tokens: dict = {}
    next_user = {"gh": "octocat", "google": "gina", "fb": "fiona"}

    def log_message(self, *args):
        pass

    def reply(self, status, body=None, headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        data = json.dumps(body).encode() if body is not None else b""
        if body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        url = urlparse(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        site = url.path.split("/")[1]
        if url.path in ("/gh/login/oauth/authorize", "/google/auth", "/fb/dialog/oauth"):
            code = secrets.token_hex(8)
            self.codes[code] = self.next_user[site]
            target = query["redirect_uri"] + "?" + urlencode({"code": code, "state": query.get("state", "")})
            return self.reply(302, headers=[("Location", target)])
        user = self.tokens.get(self.headers.get("Authorization", "").split(" ")[-1])
        if user is None:
            return self.reply(401, {"message": "Bad credentials"})
        if url.path in ("/gh/api/v3/user", "/google/userinfo", "/fb/me"):
            return self.reply(200, self.USERS[user])
        if url.path == "/gh/api/v3/user/emails":
            return self.reply(200, [{"email": self.USERS[user]["email"], "primary": True, "verified": True}])
        self.reply(404, {"message": "Not Found"})

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
        if self.path in ("/gh/login/oauth/access_token", "/google/token", "/fb/oauth/access_token"):
            user = self.codes.pop(form.get("code", ""), None)
            if user is None:
                return self.reply(400, {"error": "bad_verification_code"})
            token = secrets.token_hex(16)
            self.tokens[token] = user
            return self.reply(200, {"access_token": token, "token_type": "bearer",
                                    "scope": "read:user,user:email" if self.path.startswith("/gh") else "openid email"})
        self.reply(404, {"message": "Not Found"})


@pytest.fixture(scope="session")
def mailbox():
    box = Mailbox()
    yield box
    box.stop()


@pytest.fixture(scope="session")
def oidc_provider():
    from oidc_provider_mock import User, run_server_in_thread

    users = [User(sub="olive-sub", claims={"email": "olive@example.org", "email_verified": True,
                                           "preferred_username": "olive"})]
    with run_server_in_thread(port=free_port(), user_claims=users) as server:
        yield f"http://localhost:{server.server_port}"


@pytest.fixture(scope="session")
def stand_in():
    server = ThreadingHTTPServer(("127.0.0.1", 0), StandIn)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def accounts_config(workdir, *, smtp_port: int, oidc: str, stand_in: str, extra: str = "") -> str:
    providers = {
        "demo": {"kind": "oidc", "label": "Demo provider", "issuer": oidc, "client_id": "aglais-test",
                 "client_secret": "not-checked-by-the-mock"},
        "github": {"kind": "github", "github_url": stand_in + "/gh", "client_id": "gh-id", "client_secret": "gh-secret"},
        "google": {"kind": "google", "authorize_url": stand_in + "/google/auth", "token_url": stand_in + "/google/token",
                   "userdata_url": stand_in + "/google/userinfo", "client_id": "g-id", "client_secret": "g-secret"},
        # the Facebook preset, its Graph API URLs pointed at the stand-in
        "facebook": {"kind": "facebook", "authorize_url": stand_in + "/fb/dialog/oauth",
                     "token_url": stand_in + "/fb/oauth/access_token", "userdata_url": stand_in + "/fb/me?fields=id,name",
                     "client_id": "fb-id", "client_secret": "fb-secret"},
    }
    return f"""
from hub_extension.config.accounts import configure_accounts
# no spawner here: after login, the hub's home page, trial accounts too (configure_accounts
# sends those on to their server otherwise)
c.JupyterHub.default_url = '/hub/home'
configure_accounts(c, trial_culler_timeout=None)
c.Authenticator.allow_all = False
c.JupyterHub.redirect_to_server = False
c.Authenticator.admin_users = {{'admin'}}
c.AglaisAuthenticator.db_url = 'sqlite:///{workdir}/accounts.sqlite'
c.AglaisAuthenticator.local_accounts = {{'admin': {ADMIN_PASSWORD!r}}}
c.AglaisAuthenticator.providers = {providers!r}
c.AglaisAuthenticator.try_limit = '4/h'
# every test reaches the hub through the proxy, from one address: the per-address limits
# are tested with addresses of their own (Browser(hub, address))
c.AglaisAuthenticator.mail_limit_address = '1000/h'
c.AglaisAuthenticator.signup_limit_address = '1000/h'
c.AglaisAuthenticator.max_trial_accounts = 1000
# programs with one account scope each: a reader, and a service that may make login
# links for members of the group "linkable" only
c.JupyterHub.services.append({{'name': 'account-reader', 'api_token': {READER_TOKEN!r}}})
c.JupyterHub.services.append({{'name': 'link-maker', 'api_token': {LINKER_TOKEN!r}}})
c.JupyterHub.load_groups['linkable'] = {{}}
c.JupyterHub.load_roles.append({{'name': 'account-reader', 'scopes': ['custom:accounts:read'], 'services': ['account-reader']}})
c.JupyterHub.load_roles.append({{'name': 'link-maker', 'scopes': ['custom:accounts:login-links!group=linkable'],
                                'services': ['link-maker']}})
c.Mailer.smtp_port = {smtp_port}
c.Mailer.from_address = 'hub@example.org'
{extra}
"""


@contextmanager
def own_accounts_hub(workdir, *, smtp_port: int, oidc: str, stand_in: str, extra: str = ""):
    """A hub of one test's own (accounts_config and `extra`), stopped when the block ends;
    on the same `workdir` again, it is the same hub restarted."""
    hub = start_hub(workdir, {"booking": f"sqlite+aiosqlite:///{workdir}/booking.sqlite"},
                    extra_config=accounts_config(workdir, smtp_port=smtp_port, oidc=oidc, stand_in=stand_in,
                                                 extra=extra))
    try:
        yield hub
    finally:
        stop_hub(hub.process)


@pytest.fixture(scope="session")
def accounts_hub(tmp_path_factory, mailbox, oidc_provider, stand_in):
    workdir = tmp_path_factory.mktemp("accounts-hub")
    hub = start_hub(workdir, {"booking": f"sqlite+aiosqlite:///{workdir}/booking.sqlite"},
                    extra_config=accounts_config(workdir, smtp_port=mailbox.port, oidc=oidc_provider,
                                                 stand_in=stand_in))
    yield hub
    stop_hub(hub.process)
    log = (workdir / "hub.log").read_text()
    assert log.count("Traceback") == 0, f"the hub logged tracebacks: {workdir / 'hub.log'}"


class Browser:
    """A requests.Session that behaves like a browser towards the hub: cookies, _xsrf."""

    def __init__(self, hub, address: str | None = None):
        """Through the proxy, as a browser comes; or, given an `address`, straight to the
        hub as a client at that address (X-Forwarded-For is what the hub reads behind a
        proxy), so per-address limits can be tested without one test meeting another's."""
        self.session = requests.Session()
        if isinstance(hub, str):
            self.url = hub  # a hub known only by its public URL (tests/test_embedded.py)
        elif address is None:
            self.url = hub.url
        else:
            self.url = hub.direct_url
            self.session.headers["X-Forwarded-For"] = address

    def xsrf(self) -> str:
        return self.session.cookies.get("_xsrf", path="/hub/") or self.session.cookies.get("_xsrf")

    def get(self, path: str, **kw) -> requests.Response:
        return self.session.get(path if path.startswith("http") else self.url + path.lstrip("/"), **kw)

    def post(self, path: str, data=None, xsrf=True, **kw) -> requests.Response:
        data = dict(data or {})
        if xsrf:
            data.setdefault("_xsrf", self.xsrf())
        return self.session.post(path if path.startswith("http") else self.url + path.lstrip("/"), data=data, **kw)

    def form_post(self, page: requests.Response, data=None, **kw) -> requests.Response:
        """Submit the page's form the way a browser would: its action, hidden fields and all."""
        form = re.search(r'<form action="([^"]+)" method="post"[^>]*id="code-form".*?</form>', page.text, re.S)
        assert form, page.text[:2000]
        fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form.group(0)))
        fields.update(data or {})
        action = form.group(1).replace("&amp;", "&")
        return self.session.post(self.url.rstrip("/") + action, data=fields, **kw)

    def login(self, username: str, password: str, **kw) -> requests.Response:
        self.get("hub/login")
        return self.post("hub/login", {"username": username, "password": password}, **kw)

    def whoami(self) -> str | None:
        resp = self.get("hub/api/user", headers={"Accept": "application/json"})
        return resp.json()["name"] if resp.status_code == 200 else None


def some_address() -> str:
    n = uuid.uuid4().int
    return f"10.{n % 250}.{(n >> 8) % 250}.{(n >> 16) % 250}"


@pytest.fixture
def browser(accounts_hub):
    return Browser(accounts_hub)
