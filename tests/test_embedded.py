"""The embedded default as `make run` starts it (hub_extension/embedded/jupyterhub_config.py), driven
by the README's own curl examples, run as written."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.hub import REPO, free_port, stop_hub, wait_for_http


def readme_api_blocks() -> list[str]:
    text = (REPO / "README.md").read_text()
    section = text.split("## Using the booking API", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.*?)```", section, re.S)


def free_port_block(size: int = 6) -> int:
    """A port P with P..P+size-1 free: the embedded config uses PORT to PORT+5."""
    for _ in range(50):
        base = free_port()
        try:
            for offset in range(size):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", base + offset))
            return base
        except OSError:
            continue
    raise RuntimeError("no block of free ports")


@pytest.fixture
def embedded_hub(tmp_path):
    port = free_port_block()
    env = dict(os.environ, PORT=str(port),
               AGLAIS_DATA_DIR=str(tmp_path / "run"), AGLAIS_ADMIN_PASSWORD="correct horse battery staple",
               PATH=f"{REPO / 'node_modules' / '.bin'}:{Path(sys.executable).parent}:{os.environ['PATH']}")
    log = tmp_path / "hub.log"
    with open(log, "wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "jupyterhub", "-f", str(REPO / "hub_extension" / "embedded" / "jupyterhub_config.py")],
                                   cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(url + "/services/booking/api/v1/openapi.json", process, log)
        yield url, env, tmp_path / "run", log
    finally:
        stop_hub(process)


def test_readme_curl_examples_work_as_written(embedded_hub):
    url, env, data_dir, _ = embedded_hub
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
    assert {"jupyterhub.sqlite", "booking.sqlite", "jupyterhub_cookie_secret"} <= {p.name for p in data_dir.iterdir()}


def test_a_trial_runs_a_server_and_logging_out_deletes_it_with_its_files(embedded_hub):
    """Give it a try, as a person does in `make run`: a server starts (the walk-in package
    of level 0), the user's files are kept in their home, and logging out deletes all."""
    import time

    import requests

    from tests.hub_extension.conftest import Browser

    url, _, data_dir, _ = embedded_hub
    browser = Browser(url + "/")
    browser.get("hub/login")
    browser.post("hub/try", timeout=120)  # on to /hub/spawn: the server starts
    name = browser.whoami()
    assert name.startswith("try-")
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:  # as the spawn-pending page waits for the server
        lab = browser.get(f"user/{name}/lab")  # through the server's OAuth with the hub
        if lab.url.endswith(f"/user/{name}/lab") and lab.status_code == 200:
            break
        time.sleep(0.5)
    assert lab.url.endswith(f"/user/{name}/lab"), lab.url
    home = data_dir / "homes" / name
    (home / "notes.txt").write_text("my work")
    warning = browser.get("hub/logout")
    assert "Your notebooks and data will be deleted" in warning.text
    assert browser.post("hub/logout").status_code == 200
    deadline = time.monotonic() + 30
    while home.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not home.exists()
    # the server is gone: the proxy has no route for it, so the hub answers instead
    gone = requests.get(url + f"/user/{name}/api/status", allow_redirects=False)
    assert gone.status_code == 302 and gone.headers["Location"].startswith(f"/hub/user/{name}/")
    assert Browser(url + "/").login(name, "").status_code == 403


def test_mail_is_printed_on_the_console_and_the_demo_provider_answers(embedded_hub):
    import re as _re
    import time

    from tests.hub_extension.conftest import Browser

    url, _, _, log = embedded_hub
    browser = Browser(url + "/")
    login_page = browser.get("hub/login").text
    assert "Give it a try" in login_page and "Sign in with Demo provider" in login_page
    assert "Authorize" in browser.get("hub/oauth/demo/oauth_login").text  # the provider's own page
    browser.get("hub/accounts/signup")
    assert "Check your mail" in browser.post("hub/accounts/signup", {
        "email": "reader@example.org", "password": "a long enough password"}).text
    deadline = time.monotonic() + 15
    while "accounts/confirm?code=" not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.2)
    link = _re.search(r"(http://\S+accounts/confirm\?code=\S+)", log.read_text()).group(1)
    assert "Confirm" in browser.get(link).text
