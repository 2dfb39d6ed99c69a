"""The retention job as the hub runs it: from an empty data directory (no homes yet), until
the hub stops it; and where it looks for homes (`--homes`, with system accounts)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from hub_extension.retention.job import RetentionJob
from spawner import system_users
from tests.hub import REPO, free_port
from tests.spawner.conftest import remove_accounts


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_it_starts_without_any_home_and_a_signal_ends_it_cleanly(tmp_path, sig):
    """A fresh `make run`: no home exists until a first server makes one, and the hub is
    not answering yet. The job keeps running (it used to exit: "is not a directory", and
    the hub restarted it in a loop); the hub stops services with SIGINT, then SIGTERM."""
    env = dict(os.environ, JUPYTERHUB_API_TOKEN="t", JUPYTERHUB_API_URL=f"http://127.0.0.1:{free_port()}/hub/api")
    log = tmp_path / "job.log"
    with open(log, "wb") as out:
        job = subprocess.Popen([sys.executable, "-m", "hub_extension.retention", f"--homes={tmp_path}/none/{{username}}",
                                f"--state-dir={tmp_path}/run/retention", "--interval=3600"],
                               cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while "Retention run failed" not in log.read_text():
            assert job.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        time.sleep(0.5)
        assert job.poll() is None, log.read_text()  # waiting for its next run, not crashed
        assert (tmp_path / "run" / "retention").is_dir()
        job.send_signal(sig)
        assert job.wait(10) == 0, log.read_text()
    finally:
        if job.poll() is None:
            job.kill()
            job.wait()
    text = log.read_text()
    assert "Traceback" not in text and "Stopping" in text, text


@pytest.fixture
def accounts():
    prefix, homes = f"r{uuid.uuid4().hex[:6]}-", tempfile.mkdtemp(prefix="aglais-homes-", dir="/tmp")
    os.chmod(homes, 0o755)
    yield prefix, homes
    remove_accounts(prefix)
    subprocess.run(["userdel", "--remove", system_users.system_name(prefix, "squatted")], capture_output=True)
    shutil.rmtree(homes, ignore_errors=True)


async def test_homes_of_system_accounts_are_found_and_only_the_hubs_own(accounts):
    prefix, homes = accounts
    job = RetentionJob(homes=f"{homes}/{{system_user}}", system_user_prefix=prefix)
    assert job.home_of("never-spawned") == f"{homes}/{prefix}never-spawned"  # not there: skipped
    ours = await system_users.ensure(prefix, "ada@example.org", homes)
    assert job.home_of("ada@example.org") == ours.pw_dir == f"{homes}/{system_users.system_name(prefix, 'ada@example.org')}"
    # an account of that name the hub did not make: never touched
    subprocess.run(["useradd", "--base-dir", homes, "--create-home", system_users.system_name(prefix, "squatted")],
                   check=True)
    assert job.home_of("squatted") is None
    assert Path(job.home_of("never-spawned")).exists() is False


@pytest.mark.parametrize("homes, name, expected", [
    ("/h", "ada", "/h/ada"),  # a directory: <homes>/<username>, as before
    ("/h/{username}/work", "ada", "/h/ada/work"),
], ids=["directory", "template"])
def test_shared_user_homes(homes, name, expected):
    assert RetentionJob(homes=homes).home_of(name) == expected


def test_a_template_with_other_fields_is_refused():
    with pytest.raises(Exception, match="RetentionJob.homes"):
        RetentionJob(homes="/h/{user}")
