"""The embedded default as `make run` starts it (hub_extension/embedded_config.py), driven
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


def free_port_block(size: int = 4) -> int:
    """A port P with P..P+size-1 free: the embedded config uses PORT to PORT+3."""
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
        process = subprocess.Popen([sys.executable, "-m", "jupyterhub", "-f", str(REPO / "hub_extension" / "embedded_config.py")],
                                   cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(url + "/services/booking/api/v1/openapi.json", process, log)
        yield url, env, tmp_path / "run"
    finally:
        stop_hub(process)


def test_readme_curl_examples_work_as_written(embedded_hub):
    url, env, data_dir = embedded_hub
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
    answers = [decoder.raw_decode(out, m.start())[0] for m in re.finditer(r'\{"(admin|kind|name)"', out)]
    models = [a for a in answers if a.get("kind") == "user" and "servers" in a]
    assert models, f"no user model in the answers: {out[-3000:]}"
    assert models[0]["servers"][""]["ready"] is True, models[0]
    assert models[-1]["servers"] == {}, "shortening the booking to now must stop the server"
    # everything the embedded default keeps is under the data directory
    assert {"jupyterhub.sqlite", "booking.sqlite", "jupyterhub_cookie_secret"} <= {p.name for p in data_dir.iterdir()}
