"""The retention job against a real hub: levels as groups with properties, users made
idle through the hub's activity API, real files with old mtimes, a real SMTP server
(aiosmtpd) receiving the warning, and a second run after the warning period (--now).
The hub and the SMTP server are in conftest.py."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import quote

from tests.hub import REPO

DAY = 86400
LEVEL_1 = {"quota": {"notebooks": 50, "notebook_mb": 50, "saved_mb": 5120, "temp_mb": 10240},
           "retention": {"temp_days": 7, "saved_months": 6, "warn_days": 14}}
LEVEL_N = {"quota": {"notebooks": 500, "notebook_mb": 200, "saved_mb": 102400, "temp_mb": 102400},
           "retention": {"temp_days": 30, "saved_months": None, "warn_days": 30}}
HOSTILE = "testuser<'&\">"


def put(home: Path, path: str, days: float, text: str = "x" * 100) -> Path:
    """A file `days` old (its directories too, unless they already exist)."""
    target = home / path
    made = [home / p for p in reversed(target.relative_to(home).parents[:-1]) if not (home / p).exists()]
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    for made_path in [target, *reversed(made)]:  # a directory's mtime changes as things go in
        os.utime(made_path, (time.time() - days * DAY,) * 2)
    return target


def run_job(hub, *args) -> str:
    env = dict(os.environ, JUPYTERHUB_API_TOKEN=hub.retention_token, JUPYTERHUB_API_URL=hub.url + "hub/api")
    done = subprocess.run([sys.executable, "-m", "hub_extension.retention", "--once", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    return done.stderr


def deleted(log: str, user: str, path: str, reason: str) -> bool:
    return f"Deleted user={json.dumps(user)} path={json.dumps(path)} reason={reason} size=" in log


async def group(hub, name, properties, users):
    """The group `name` (the level groups exist already) with these properties and users."""
    if name not in {g["name"] for g in await hub.hub_api("GET", "groups")}:
        await hub.hub_api("POST", f"groups/{name}")
    await hub.hub_api("PUT", f"groups/{name}/properties", properties)
    await hub.hub_api("POST", f"groups/{name}/users", {"users": users})


async def test_temp_data_goes_saved_data_after_a_warning(retention_hub, smtp):
    hub, homes, now = retention_hub, retention_hub.workdir / "homes", datetime.now(timezone.utc)
    people = ["alice", "bob", "carol", "dave", "erin", "frank", "gina", HOSTILE]
    # alice has a confirmed address, erin none; every hub user gets an account (and the
    # level-1 group) when the hub adds it, so frank's account is removed to play a user
    # the accounts do not know (404: the job falls back on --email-template)
    await hub.hub_api("POST", "accounts", {"name": "alice", "email": "alice@example.org", "email_confirmed": True})
    for name in people[1:]:
        await hub.hub_api("POST", f"users/{quote(name, safe='')}")
    accounts = sqlite3.connect(hub.workdir / "accounts.sqlite")
    accounts.execute("DELETE FROM accounts WHERE name = 'frank'")
    accounts.commit()
    accounts.close()
    await hub.hub_api("DELETE", "groups/level-1/users", {"users": ["carol"]})  # carol: no rule at all
    await group(hub, "level-1", LEVEL_1, ["alice", "bob", "dave", "erin", "frank", "gina", HOSTILE])
    await group(hub, "level-n", LEVEL_N, ["bob"])
    await group(hub, "broken", {"retention": {"temp_days": "soon"}}, ["gina"])
    for name in people:
        idle = 1 if name == HOSTILE else 200 if name != "bob" else 400
        await hub.hub_api("POST", f"users/{quote(name, safe='')}/activity",
                          {"last_activity": (now - timedelta(days=idle)).isoformat()})

    alice = homes / "alice"
    put(alice, "tmp/old.csv", 10), put(alice, "tmp/new.csv", 1)
    put(alice, "tmp/olddir/x", 10), put(alice, "tmp/kept.csv", 10), put(alice, "tmp/kept.csv.aglais-keep", 10)
    put(alice, "notebooks/a.ipynb", 200), put(alice, "data/keep/x.fits", 200), put(alice, "data/keep/.aglais-keep", 200)
    put(alice, "results.csv", 200), put(alice, "results.csv.aglais-keep", 200)
    outside = put(hub.workdir, "outside/precious.txt", 200)
    (alice / "link").symlink_to(outside.parent)
    for name in ("bob", "carol", "dave", "erin", "frank", "gina", HOSTILE):
        put(homes / name, "tmp/old", 100), put(homes / name, "notebooks/n.ipynb", 400)
    put(homes / "bob", "tmp/recent", 10)
    put(hub.workdir / "homes-dry", "alice/tmp/old.csv", 10)

    # dave's server runs: nothing of his is touched
    resp = await hub.request("POST", "hub/api/users/dave/server", token=hub.admin_token)
    assert resp.status in (201, 202), resp.body
    for _ in range(60):
        if (await hub.hub_api("GET", "users/dave"))["servers"].get("", {}).get("ready"):
            break
        await asyncio.sleep(1)

    smtp_args = [f"--homes={homes}", f"--state-dir={hub.workdir}/state", "--smtp-host=127.0.0.1",
                 f"--smtp-port={smtp.port}", "--smtp-from=aglais <retention@example.org>",
                 "--email-template={username}.retention@example.org"]
    log = run_job(hub, *smtp_args)

    # temp data older than 7 days, one line each; the marked temp file stays
    for path in ("tmp/old.csv", "tmp/olddir/x", "tmp/olddir/"):
        assert deleted(log, "alice", path, "temp"), log
    assert not (alice / "tmp/old.csv").exists() and (alice / "tmp/new.csv").exists()
    assert (alice / "tmp/kept.csv").exists() and (alice / "notebooks/a.ipynb").exists()
    assert deleted(log, HOSTILE, "tmp/old", "temp") and not (homes / HOSTILE / "tmp/old").exists()
    assert deleted(log, "erin", "tmp/old", "temp")
    # the most generous group: bob keeps temp data 30 days and saved data for good
    assert deleted(log, "bob", "tmp/old", "temp") and (homes / "bob/tmp/recent").exists()
    for name in ("carol", "dave", "gina"):  # no rule, a running server, a malformed rule
        assert (homes / name / "tmp/old").exists() and f'user="{name}"' not in log
    assert 'Group "broken": retention.temp_days must be' in log

    # warnings: alice through the accounts API, frank through the template; erin has no address
    mails = {m["To"]: m for m in smtp.messages}
    assert set(mails) == {"alice@example.org", "frank.retention@example.org"}, log
    due = (now + timedelta(days=14)).date().isoformat()
    body = mails["alice@example.org"].get_content()
    assert due in mails["alice@example.org"]["Subject"] and due in body
    for path in ("notebooks", "link", "tmp/new.csv"):
        assert f"  {path}  (" in body
    for path in ("data", "results.csv", "tmp/kept.csv", "tmp  ("):
        assert f"  {path}" not in body
    assert 'Could not warn user="erin"' in log and "no email address" in log
    assert set(json.loads((hub.workdir / "state/warnings.json").read_text())["warnings"]) == {"alice", "frank"}

    # not yet: the warning is a day short of warn_days
    log = run_job(hub, *smtp_args, f"--now={(now + timedelta(days=13)).isoformat()}")
    assert "reason=saved" not in log and (alice / "notebooks/a.ipynb").exists()
    assert deleted(log, "alice", "tmp/new.csv", "temp")  # 14 days old by then
    assert len(smtp.messages) == 2  # once per due date

    # after the warning period: saved data goes, except what is marked; the link, not its target
    log = run_job(hub, *smtp_args, f"--now={(now + timedelta(days=15)).isoformat()}")
    for path in ("notebooks/a.ipynb", "notebooks/", "link"):
        assert deleted(log, "alice", path, "saved"), log
    assert sorted(p.relative_to(alice).as_posix() for p in alice.rglob("*")) == [
        "data", "data/keep", "data/keep/.aglais-keep", "data/keep/x.fits", "results.csv",
        "results.csv.aglais-keep", "tmp", "tmp/kept.csv", "tmp/kept.csv.aglais-keep"]
    assert outside.exists() and alice.is_dir()
    assert deleted(log, "frank", "notebooks/n.ipynb", "saved")
    # no warning delivered, no deletion; bob's are kept for good
    assert (homes / "erin/notebooks/n.ipynb").exists() and (homes / "bob/notebooks/n.ipynb").exists()
    assert (homes / "dave/tmp/old").exists() and (homes / "carol/tmp/old").exists()
    assert set(json.loads((hub.workdir / "state/warnings.json").read_text())["warnings"]) == set()

    # the managed variant (retention_service's command and role), run by the hub on
    # homes-dry with --dry-run every second: it says what it would do and does nothing
    log_file = hub.workdir / "hub.log"
    for _ in range(30):
        if 'Would delete user="alice" path="tmp/old.csv" reason=temp' in log_file.read_text():
            break
        await asyncio.sleep(1)
    text = log_file.read_text()
    assert 'Would delete user="alice" path="tmp/old.csv" reason=temp' in text
    assert 'Would warn user="alice"' in text
    assert (hub.workdir / "homes-dry/alice/tmp/old.csv").exists()
    assert "Traceback" not in text
