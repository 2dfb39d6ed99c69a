"""The embedded default as `make run` starts it (hub_extension/embedded/jupyterhub_config.py), driven
by the README's own curl examples, run as written, and attacked from a trial user's kernel."""

from __future__ import annotations

import json
import os
import pwd
import random
import re
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from spawner import system_users
from tests.hub import REPO, stop_hub, wait_for_http
from tests.hub_extension.conftest import Browser
from tests.spawner.conftest import remove_accounts


def readme_api_blocks() -> list[str]:
    text = (REPO / "README.md").read_text()
    section = text.split("## Using the booking API", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.*?)```", section, re.S)


def free_port_block(size: int = 7) -> int:
    """A port P with P..P+size-1 free: the embedded config uses PORT to PORT+6. Below the
    kernel's ephemeral range, so that no outgoing connection of another test takes one of
    them between this check and the hub's bind (it did once, as the booking service's)."""
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    for _ in range(50):
        base = random.randrange(max(1024, low - 12000), low - size)
        try:
            for offset in range(size):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", base + offset))
            return base
        except OSError:
            continue
    raise RuntimeError("no block of free ports")


@dataclass
class Embedded:
    """A running `make run` hub: its address, environment, data directory, log and process."""

    url: str
    env: dict
    data_dir: Path
    log: Path
    process: subprocess.Popen

    def account(self, name: str) -> pwd.struct_passwd:
        """The system account the hub made for hub user `name` (it runs as root here)."""
        return pwd.getpwnam(system_users.system_name(self.env["AGLAIS_SYSTEM_USER_PREFIX"], name))

    def mailed_link(self, address: str, path: str = "hub/accounts/confirm") -> str | None:
        """The link to `path` in the newest message the hub mailed to `address`: the embedded
        default keeps its mail in the Maildir <data dir>/mail/ (hub_extension/embedded/demo.py)."""
        import mailbox

        newest = None
        for message in mailbox.Maildir(self.data_dir / "mail", create=False):
            if message["To"] == address:
                newest = message  # Maildir keys sort by time of delivery, roughly: take the last match
        if newest is None:
            return None
        found = re.search(r"(http://\S+/" + re.escape(path) + r"\?code=\S+)", newest.get_payload(decode=True).decode())
        return found.group(1) if found else None

    def put(self, name: str, path: str, text: str) -> Path:
        """A file in the user's home, theirs as if their server had written it."""
        account = self.account(name)
        target = Path(account.pw_dir) / path
        target.write_text(text)
        os.chown(target, account.pw_uid, account.pw_gid)
        return target


@pytest.fixture
def embedded_hub(tmp_path):
    port = free_port_block()
    # the config's own default is jupyter-<name> in /home; a prefix and homes of the test's
    # own keep runs apart, and every account made is removed afterwards
    prefix, homes = f"e{uuid.uuid4().hex[:6]}-", tempfile.mkdtemp(prefix="aglais-homes-", dir="/tmp")
    os.chmod(homes, 0o755)
    env = dict(os.environ, PORT=str(port),
               AGLAIS_DATA_DIR=str(tmp_path / "run"), AGLAIS_ADMIN_PASSWORD="correct horse battery staple",
               AGLAIS_SYSTEM_USER_PREFIX=prefix, AGLAIS_SYSTEM_HOMES=homes,
               AGLAIS_STAGE_ALLOWED_HOSTS="127.0.0.1",  # the test's own file server
               PATH=f"{REPO / 'node_modules' / '.bin'}:{Path(sys.executable).parent}:{os.environ['PATH']}")
    log = tmp_path / "hub.log"
    with open(log, "wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "jupyterhub", "-f", str(REPO / "hub_extension" / "embedded" / "jupyterhub_config.py")],
                                   cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(url + "/services/booking/api/v1/openapi.json", process, log)
        yield Embedded(url, env, tmp_path / "run", log, process)
    finally:
        stop_hub(process)
        remove_accounts(prefix)
        shutil.rmtree(homes, ignore_errors=True)


def test_readme_curl_examples_work_as_written(embedded_hub):
    url, env, data_dir = embedded_hub.url, embedded_hub.env, embedded_hub.data_dir
    script = "\n".join(readme_api_blocks()).replace("HUB=http://127.0.0.1:8000", f"HUB={url}")
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert '"name": "local"' in out and '"kind": "reserved"' in out
    assert re.search(r"^small  (=== ){6}===$", out, re.M), out
    assert '"package": {"name": "small", "version": 1}' in out
    assert '"status": 409' in out and "Pool 'local' has only" in out
    assert '"kind": "booking"' in out  # the entitlement: the small package booked for now
    decoder = json.JSONDecoder()  # curl prints answers back to back, without newlines
    answers = [decoder.raw_decode(out, m.start())[0] for m in re.finditer(r'\{"(admin|groups|kind|name)"', out)]
    models = [a for a in answers if a.get("kind") == "user" and "servers" in a]
    assert models, f"no user model in the answers: {out[-3000:]}"
    assert models[0]["servers"][""]["ready"] is True, models[0]
    assert models[-1]["servers"] == {}, "shortening the booking to now must stop the server"
    # everything the embedded default keeps is under the data directory
    kept = {"jupyterhub.sqlite", "booking.sqlite", "jupyterhub_cookie_secret", "booking_feed_secret"}
    assert kept <= {p.name for p in data_dir.iterdir()}


def trial_in_lab(url: str) -> tuple[Browser, str]:
    """Give it a try, as a person does: on to /hub/spawn, then JupyterLab, through the
    server's OAuth with the hub."""
    browser = Browser(url + "/")
    browser.get("hub/login")
    browser.post("hub/try", timeout=120)
    name = browser.whoami()
    assert name.startswith("try-")
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:  # as the spawn-pending page waits for the server
        lab = browser.get(f"user/{name}/lab")
        if lab.url.endswith(f"/user/{name}/lab") and lab.status_code == 200:
            return browser, name
        time.sleep(0.5)
    raise AssertionError(f"{name}'s JupyterLab did not open: {lab.url}")


def test_a_trial_runs_a_server_and_logging_out_deletes_it_with_its_files(embedded_hub):
    """Give it a try, as a person does in `make run`: a server starts (the walk-in package
    of level 0) as a system account of the trial's own, the user's files are kept in its
    home, and logging out deletes the account, the home and all."""
    url = embedded_hub.url
    browser, name = trial_in_lab(url)
    account = embedded_hub.account(name)
    home = Path(account.pw_dir)
    embedded_hub.put(name, "notes.txt", "my work")
    warning = browser.get("hub/logout")
    assert "Your notebooks and data will be deleted" in warning.text
    assert browser.post("hub/logout").status_code == 200
    deadline = time.monotonic() + 30
    while home.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not home.exists()
    with pytest.raises(KeyError):
        embedded_hub.account(name)
    # the server is gone: the proxy has no route for it, so the hub answers instead
    gone = requests.get(url + f"/user/{name}/api/status", allow_redirects=False)
    assert gone.status_code == 302 and gone.headers["Location"].startswith(f"/hub/user/{name}/")
    assert Browser(url + "/").login(name, "").status_code == 403


# What a trial user's kernel tries, and prints as one JSON line.
PROBE = """
import json, os
def can(what, path):
    try:
        os.listdir(path) if what == "list" else open(path, "rb").read(1)
        return True
    except OSError:
        return False
data, others, hub = {data!r}, {others!r}, {hub_pids!r}
print("PROBE" + json.dumps({{
    "uid": os.getuid(), "euid": os.geteuid(), "groups": os.getgroups(),
    "read": {{p: can("read", os.path.join(data, p)) for p in {files!r}}},
    "list": {{p: can("list", p) for p in [data] + others}},
    "environ": {{str(pid): can("read", f"/proc/{{pid}}/environ") for pid in hub}},
    "env": dict(os.environ),
    "server_env": open(f"/proc/{{os.getppid()}}/environ").read(),
}}))
"""


def execute(url: str, name: str, token: str, code: str) -> str:
    """Run `code` in a new kernel of `name`'s server through the proxy and the Jupyter
    kernel API (REST to start it, the channels websocket to execute); its stdout."""
    import websocket

    auth = {"Authorization": f"token {token}"}
    kernel = requests.post(f"{url}/user/{name}/api/kernels", headers=auth, json={}, timeout=60)
    assert kernel.status_code == 201, kernel.text
    ws = websocket.create_connection(
        f"{url.replace('http', 'ws', 1)}/user/{name}/api/kernels/{kernel.json()['id']}/channels",
        header=[f"Authorization: token {token}"], timeout=60)
    try:
        msg_id = uuid.uuid4().hex
        ws.send(json.dumps({"channel": "shell", "buffers": [], "metadata": {}, "parent_header": {},
                            "header": {"msg_id": msg_id, "msg_type": "execute_request", "username": "test",
                                       "session": uuid.uuid4().hex, "version": "5.3", "date": ""},
                            "content": {"code": code, "silent": False, "store_history": False,
                                        "user_expressions": {}, "allow_stdin": False}}))
        out = []
        while True:
            reply = json.loads(ws.recv())
            if reply.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind = reply["msg_type"]
            if kind == "stream":
                out.append(reply["content"]["text"])
            elif kind == "error":
                raise AssertionError("\n".join(reply["content"]["traceback"]))
            elif kind == "status" and reply["content"]["execution_state"] == "idle":
                return "".join(out)
    finally:
        ws.close()


def environ_of(pid: int) -> dict:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode(errors="replace").split("=", 1) for item in raw if b"=" in item)


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
        except (FileNotFoundError, ProcessLookupError):
            pass
    return found


def test_a_trial_kernel_is_not_root_and_reads_nothing_of_the_hub_or_the_others(embedded_hub):
    """The attack of issue 9, item 1: from a one-click trial's kernel, through the real
    proxy, server and kernel API, try the hub's secrets, its databases, its environment
    and another user's home. Also: no hub secret is in the server's environment, and
    everything the hub writes in its data directory is the hub's alone."""
    url, data_dir = embedded_hub.url, embedded_hub.data_dir
    _, other = trial_in_lab(url)
    embedded_hub.put(other, "private.txt", "the other trial's work")
    _, name = trial_in_lab(url)
    # the hub, and what it runs as itself: the proxy and the services (not the servers)
    hub_pids = [pid for pid in [embedded_hub.process.pid, *children_of(embedded_hub.process.pid)]
                if Path(f"/proc/{pid}").stat().st_uid == os.geteuid()]
    secrets = {environ_of(embedded_hub.process.pid)["AGLAIS_ADMIN_PASSWORD"],
               (data_dir / "jupyterhub_cookie_secret").read_text().strip()}
    for pid in hub_pids[1:]:  # the proxy's token, each service's own API token
        env = environ_of(pid)
        secrets |= {env[k] for k in ("CONFIGPROXY_AUTH_TOKEN", "JUPYTERHUB_API_TOKEN", "AGLAIS_STAGE_FILE_TOKEN")
                    if env.get(k)}
    assert len(secrets) >= 5, secrets  # admin password, cookie secret, proxy, booking, culler, retention
    token = requests.post(f"{url}/hub/api/users/admin/tokens", json={
        "auth": {"username": "admin", "password": embedded_hub.env["AGLAIS_ADMIN_PASSWORD"]},
        "scopes": [f"access:servers!user={name}"], "expires_in": 600}).json()["token"]
    files = sorted(p.name for p in data_dir.iterdir() if p.is_file())
    assert {"jupyterhub_cookie_secret", "jupyterhub.sqlite", "accounts.sqlite", "booking.sqlite"} <= set(files)
    others = [embedded_hub.account(other).pw_dir, str(data_dir / "retention")]
    out = execute(url, name, token, PROBE.format(data=str(data_dir), others=others, hub_pids=hub_pids, files=files))
    probe = json.loads(out.split("PROBE", 1)[1])
    account = embedded_hub.account(name)
    assert probe["uid"] == probe["euid"] == account.pw_uid != 0
    assert 0 not in probe["groups"]
    assert not any(probe["read"].values()), probe["read"]
    assert not any(probe["list"].values()), probe["list"]
    assert not any(probe["environ"].values()), probe["environ"]
    server_env = dict(item.split("=", 1) for item in probe["server_env"].split("\0") if "=" in item)
    for env in (probe["env"], server_env):
        leaked = [k for k, v in env.items() if any(s in v for s in secrets)]
        assert not leaked, leaked
        assert not [k for k in env if k in ("AGLAIS_ADMIN_PASSWORD", "JPY_COOKIE_SECRET", "CONFIGPROXY_AUTH_TOKEN")]
    assert server_env["JUPYTERHUB_API_TOKEN"]  # its own, which is not one of the hub's
    # the hub's data directory and all in it: 0700 / 0600, the hub's user's
    for path in [data_dir, *data_dir.rglob("*")]:
        st = path.lstat()
        assert st.st_uid == os.geteuid(), path
        assert stat.S_IMODE(st.st_mode) & 0o077 == 0, (path, oct(st.st_mode))
    # the retention service started from an empty data directory and keeps running
    log = embedded_hub.log.read_text()
    assert "is not a directory" not in log and "GET /hub/api/groups" in log
    assert embedded_hub.process.poll() is None


def test_a_login_lands_on_the_home_page_and_starts_nothing(embedded_hub):
    """JupyterHub's default sends a login to /hub/spawn, which starts a walk-in server
    before the user can choose a booking."""
    browser = Browser(embedded_hub.url + "/")
    landed = browser.login("admin", embedded_hub.env["AGLAIS_ADMIN_PASSWORD"])
    assert landed.status_code == 200 and landed.url.endswith("/hub/home"), landed.url
    assert browser.get("").url.endswith("/hub/home")
    time.sleep(2)
    model = browser.get("hub/api/user", headers={"Accept": "application/json"}).json()
    assert model["name"] == "admin" and not model["servers"], model


def test_mail_is_kept_private_and_the_demo_provider_answers(embedded_hub):
    """The hub's mail is in the 0700 data directory, each message 0600; the hub's output says
    to whom it went and where, never the link (a hub log is often readable by others)."""
    url, log = embedded_hub.url, embedded_hub.log
    browser = Browser(url + "/")
    login_page = browser.get("hub/login").text
    assert "Give it a try" in login_page and "Sign in with Demo provider" in login_page
    assert "Authorize" in browser.get("hub/oauth/demo/oauth_login").text  # the provider's own page
    browser.get("hub/accounts/signup")
    assert "Check your mail" in browser.post("hub/accounts/signup", {
        "email": "reader@example.org", "password": "a long enough password"}).text
    deadline = time.monotonic() + 15
    while (link := embedded_hub.mailed_link("reader@example.org")) is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert link, "no confirmation mail in the data directory's Maildir"
    assert "Confirm" in browser.get(link).text
    code = link.split("code=", 1)[1]
    # the hub's own request log writes code=[secret] (jupyterhub.log._scrub_uri)
    assert code not in log.read_text() and "Mail to reader@example.org" in log.read_text()
    mail = embedded_hub.data_dir / "mail"
    assert stat.S_IMODE(mail.stat().st_mode) == 0o700
    assert [stat.S_IMODE(f.stat().st_mode) for f in (mail / "new").iterdir()] == [0o600]


@pytest.mark.parametrize("allow_try, expected, line", [
    (None, False, '"Give it a try" is off: the hub runs as'),
    (True, True, '"Give it a try" is on, and every server runs as the hub\'s own OS user'),
], ids=["default", "turned-on-knowingly"])
def test_without_root_give_it_a_try_is_off_unless_set_and_the_hub_says_so(tmp_path, monkeypatch, caplog,
                                                                          allow_try, expected, line):
    """A hub that is not root runs every local server as itself (the embedded default's
    shared-user mode): a stranger's trial server could read everyone's files."""
    import logging

    from traitlets.config import Config, LoggingConfigurable

    from hub_extension.accounts.authenticator import AglaisAuthenticator
    from spawner.local import BookingLocalProcessSpawner

    class Hub(LoggingConfigurable):  # what the authenticator reads of its JupyterHub parent
        spawner_class = BookingLocalProcessSpawner

    config = Config()
    config.AglaisAuthenticator.db_url = f"sqlite:///{tmp_path}/accounts.sqlite"
    if allow_try is not None:
        config.AglaisAuthenticator.allow_try = allow_try
    monkeypatch.setattr(os, "geteuid", lambda: os.getuid() + 1000 if os.getuid() == 0 else os.getuid())
    log = logging.getLogger("test-allow-try")
    with caplog.at_level(logging.WARNING, logger=log.name):
        authenticator = AglaisAuthenticator(parent=Hub(config=config), config=config, log=log)
    assert authenticator.allow_try is expected
    said = [r.getMessage() for r in caplog.records if "Give it a try" in r.getMessage()]
    assert len(said) == 1 and said[0].startswith(line), said
    monkeypatch.undo()  # as root: each server runs as an account of its own; on, and nothing to say
    caplog.clear()
    plain = Config()
    plain.AglaisAuthenticator.db_url = config.AglaisAuthenticator.db_url
    with caplog.at_level(logging.WARNING, logger=log.name):
        assert AglaisAuthenticator(parent=Hub(config=plain), config=plain, log=log).allow_try is True
    assert not [r for r in caplog.records if "Give it a try" in r.getMessage()]


def test_the_retention_job_mails_through_the_hubs_smtp_server_with_its_password_in_its_environment(tmp_path):
    """A hub-managed service gets only `env_keep` and its own `environment` of the hub's: the
    SMTP password must be in the latter (never on the command line, which /proc shows)."""
    port = free_port_block()
    env = dict(os.environ, PORT=str(port), AGLAIS_DATA_DIR=str(tmp_path / "run"), AGLAIS_SMTP_HOST="smtp.example.org",
               AGLAIS_SMTP_PORT="2525", AGLAIS_SMTP_USERNAME="hub", AGLAIS_SMTP_PASSWORD="s3cret-smtp",
               AGLAIS_ADMIN_PASSWORD="correct horse battery staple")
    script = ("import json, sys; from traitlets.config.loader import PyFileConfigLoader; "
              "c = PyFileConfigLoader(sys.argv[1]).load_config(); "
              "print(json.dumps([s for s in c.JupyterHub.services if s['name'] == 'retention']))")
    done = subprocess.run([sys.executable, "-c", script, str(REPO / "hub_extension" / "embedded" / "jupyterhub_config.py")],
                          env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    [service] = json.loads(done.stdout.strip().splitlines()[-1])
    assert service["environment"] == {"AGLAIS_SMTP_PASSWORD": "s3cret-smtp"}
    assert {"--Mailer.smtp_host=smtp.example.org", "--Mailer.smtp_port=2525", "--Mailer.smtp_username=hub"} <= set(service["command"])
    assert not any("s3cret-smtp" in arg for arg in service["command"])


def test_a_booking_is_prepared_by_the_embedded_stage_file_worker(embedded_hub):
    """The embedded default's wiring end to end: a booking with a stage_file step enters
    PREPARING a quote before its start (the real lifecycle loop, the real clock), the
    hub-managed worker fetches the file into ~/saved as the user's system account and
    calls back, and the booking is WAITING."""
    import asyncio
    import hashlib
    import http.server
    import threading
    from datetime import datetime, timedelta, timezone
    from functools import partial

    content = b"x,y\n1,2\n"
    served = Path(tempfile.mkdtemp(prefix="aglais-files-"))
    (served / "table.csv").write_bytes(content)
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    files = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=files.serve_forever, daemon=True).start()
    try:
        account = asyncio.run(system_users.ensure(embedded_hub.env["AGLAIS_SYSTEM_USER_PREFIX"], "admin",
                                                  embedded_hub.env["AGLAIS_SYSTEM_HOMES"]))
        url = embedded_hub.url
        token = requests.post(f"{url}/hub/api/users/admin/tokens", json={
            "auth": {"username": "admin", "password": embedded_hub.env["AGLAIS_ADMIN_PASSWORD"]},
            "scopes": ["custom:booking:write", "access:services!service=booking"], "expires_in": 600}).json()["token"]
        api = f"{url}/services/booking/api/v1/"
        headers = {"Authorization": f"token {token}"}
        start = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(seconds=75)
        booking = requests.post(api + "bookings", headers=headers, json={
            "pool": "local", "package": "tiny", "start": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "end": (start + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "steps": [{"kind": "stage_file", "url": f"http://127.0.0.1:{files.server_port}/table.csv",
                       "path": "inputs/table.csv", "size": len(content),
                       "sha256": hashlib.sha256(content).hexdigest()}]})
        assert booking.status_code == 201, booking.text
        deadline = time.monotonic() + 150  # the quote (61 s) and the loop's round (30 s)
        while True:
            seen = requests.get(api + f"bookings/{booking.json()['id']}", headers=headers).json()
            if seen["phase"] in ("WAITING", "FAILED") or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert seen["phase"] == "WAITING", (seen["transitions"], seen["steps"])
        staged = Path(account.pw_dir) / "saved" / "inputs" / "table.csv"
        assert staged.read_bytes() == content and staged.stat().st_uid == account.pw_uid
    finally:
        files.shutdown()
        shutil.rmtree(served, ignore_errors=True)
