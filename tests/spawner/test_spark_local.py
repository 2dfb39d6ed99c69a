"""A session's own Spark cluster in the embedded default, all of it real: the hub (as root,
an account per user), the booking service, the servers, their kernels (driven through the
kernel API's websocket), Java and Spark from the servers' Python."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
import requests

from spawner import system_users
from tests.spawner.conftest import booked_now, new_user, wait_for
from tests.test_embedded import execute

pytestmark = pytest.mark.spark

SPAWN_HUB_SPARK = True  # this module's hub runs the clusters (tests/spawner/conftest.py)
SPARK_SHOT = Path(__file__).resolve().parents[2] / "docs" / "screenshots" / "spark.png"

# In the owner's kernel: SparkSession with no arguments, a job, what Spark says it ran on.
OWNER_JOB = """
import json
from pyspark.sql import SparkSession
spark = SparkSession.builder.getOrCreate()
sc = spark.sparkContext
total = sc.parallelize(range(1000), 4).map(lambda x: x * x).sum()
executors = [e.host() + ":" + str(e.port()) for e in sc._jsc.sc().statusTracker().getExecutorInfos()]
print("SPARK" + json.dumps({"sum": total, "master": sc.master, "app": sc.applicationId, "executors": executors,
                            "driver": sc.getConf().get("spark.driver.host") + ":" + sc.getConf().get("spark.driver.port")}))
"""

# In another user's kernel: the owner's master, with that user's own secret (their
# spark-defaults.conf) or without any, and the owner's master UI.
INTRUDER_JOB = """
import json, os, time, urllib.request
from pyspark import SparkConf, SparkContext
conf = SparkConf().setMaster({master!r}).setAppName("intruder-{mode}")
if {mode!r} == "no-secret":
    conf.set("spark.authenticate", "false")
outcome = {{}}
started = time.monotonic()
try:
    sc = SparkContext(conf=conf)
    outcome["sum"] = sc.parallelize(range(10), 2).sum()
except Exception as e:
    outcome["refused"] = type(e).__name__
outcome["seconds"] = time.monotonic() - started
try:
    outcome["ui"] = urllib.request.urlopen("http://127.0.0.1:{ui_port}/json/", timeout=10).status
except urllib.error.HTTPError as e:
    outcome["ui"] = e.code
print("INTRUDER" + json.dumps(outcome))
"""


def java_processes(uid: int) -> list[int]:
    """The live processes of `uid` running Java (Spark's daemons and executors, a driver)."""
    found = []
    for pid in system_users.running_as(uid):
        try:
            if Path(f"/proc/{pid}/exe").resolve().name == "java":
                found.append(pid)
        except (FileNotFoundError, PermissionError):
            pass
    return found


async def no_java_left(uid: int, timeout: float = 15) -> None:
    """No Java of `uid` runs within `timeout`: the daemons and executors go at once; a kernel's
    driver JVM goes when it sees its kernel gone (pyspark's gateway watches its stdin)."""
    async def none():
        return not java_processes(uid)
    try:
        await wait_for(none, timeout, "")
    except AssertionError:
        left = {pid: Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")[:300] for pid in java_processes(uid)}
        raise AssertionError(f"Java processes of uid {uid} outlived the server: {left}") from None


def cgroup_of(pid: int, controller: str) -> str:
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if controller in controllers.split(","):
            return path
    raise AssertionError(f"{pid} is in no {controller} group")


async def test_a_session_gets_its_own_spark_cluster_that_only_its_owner_can_use(spawn_hub, servers, booking_api):
    hub, url = spawn_hub, spawn_hub.url.rstrip("/")
    # the owner: a walk-in of the seeded "small" package, 1 Spark worker of 0.5 cores and 2 GiB
    owner = await new_user(hub, "level-1")
    started = time.monotonic()
    assert (await servers.start(owner)).status in (201, 202)
    start_seconds = time.monotonic() - started
    model = (await servers.model(owner))["servers"][""]
    cluster = model["state"]["spark"]
    account = pwd_entry(hub, owner.name)

    # as the owner's account, on loopback, ports of its own, capped by a cgroup
    daemons = java_processes(account.pw_uid)
    assert len(daemons) == 2, daemons  # the master and the one worker
    cmdlines = {pid: Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0") for pid in daemons}
    assert not any(b"secret" in arg.lower() for args in cmdlines.values() for arg in args)
    worker = next(pid for pid, args in cmdlines.items() if b"org.apache.spark.deploy.worker.Worker" in args)
    quota = Path("/sys/fs/cgroup/cpu", cgroup_of(worker, "cpu").lstrip("/"), "cpu.cfs_quota_us").read_text()
    period = Path("/sys/fs/cgroup/cpu", cgroup_of(worker, "cpu").lstrip("/"), "cpu.cfs_period_us").read_text()
    assert int(quota) / int(period) == 0.5  # the package's half core
    assert cluster["master"].startswith("spark://127.0.0.1:") and cluster["master"] != "spark://127.0.0.1:7077"
    conf = Path(account.pw_dir, ".aglais/spark/spark-defaults.conf")
    st = conf.stat()
    assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (account.pw_uid, 0o600)
    assert "spark.authenticate true" in conf.read_text() and "spark.authenticate.secret " in conf.read_text()

    # the owner's notebook: no arguments, and Spark runs the job on the package's executor
    token = await hub.token_for(owner.name, [f"access:servers!user={owner.name}"])
    out = await asyncio.to_thread(execute, url, owner.name, token, OWNER_JOB)
    job = json.loads(out.split("SPARK", 1)[1].splitlines()[0])
    assert job["sum"] == sum(x * x for x in range(1000)) and job["master"] == cluster["master"]
    assert len(job["executors"]) == 2  # the driver's block manager and one executor
    assert all(e.startswith("127.0.0.1:") for e in job["executors"]) and job["driver"].startswith("127.0.0.1:")
    # the master's own account of it, through the owner's server (jupyter-server-proxy)
    master = requests.get(f"{url}/user/{owner.name}/spark/json/", headers={"Authorization": f"token {token}"},
                          timeout=30)
    assert master.status_code == 200, master.text[:500]
    state = master.json()
    [app] = [a for a in state["activeapps"] if a["id"] == job["app"]]
    [node] = state["workers"]
    assert (node["cores"], node["memory"], node["state"]) == (1, 2048 - 384, "ALIVE")
    assert (app["cores"], app["memoryperexecutor"]) == (1, 2048 - 384)  # heap; overhead 384 MiB: 2 GiB in all
    page = requests.get(f"{url}/user/{owner.name}/spark/", headers={"Authorization": f"token {token}"}, timeout=30)
    assert page.status_code == 200 and "Spark Master at spark://127.0.0.1:" in page.text
    assert f'href="/user/{owner.name}/spark/static/' in page.text or f"/user/{owner.name}/spark/static/" in page.text
    # the UI itself, without the server's token: refused to any local process
    assert requests.get(f"http://127.0.0.1:{cluster['ui_port']}/json/", timeout=10).status_code == 403

    # another user, with a cluster and a secret of their own, whose kernel knows the owner's master
    other, _ = await booked_now(hub, booking_api, "small", timedelta(hours=1))
    assert (await servers.start(other)).status in (201, 202)
    other_conf = Path(pwd_entry(hub, other.name).pw_dir, ".aglais/spark/spark-defaults.conf").read_text()
    assert secret_of(other_conf) != secret_of(conf.read_text())
    other_token = await hub.token_for(other.name, [f"access:servers!user={other.name}"])
    probes = [INTRUDER_JOB.format(master=cluster["master"], ui_port=cluster["ui_port"], mode=mode)
              for mode in ("no-secret", "their-secret")]
    with ThreadPoolExecutor(2) as pool:  # Spark gives up on a master after 3 x 20 s: both at once
        outs = await asyncio.gather(*(asyncio.wrap_future(pool.submit(execute, url, other.name, other_token, code))
                                      for code in probes))
    for out in outs:
        outcome = json.loads(out.split("INTRUDER", 1)[1].splitlines()[0])
        assert "sum" not in outcome and outcome["refused"], outcome
        assert outcome["ui"] == 403, outcome
    state = requests.get(f"{url}/user/{owner.name}/spark/json/", headers={"Authorization": f"token {token}"},
                         timeout=30).json()
    names = [a["name"] for a in state["activeapps"] + state["completedapps"]]
    assert not [n for n in names if n.startswith("intruder")], names
    master_log = Path(account.pw_dir, ".aglais/spark/logs/master.log").read_text()
    assert "Mismatched response" in master_log  # SASL refused the wrong secret

    # the server stops: no Spark of the owner's is left, nor its cgroups
    await servers.stop(owner)
    await no_java_left(account.pw_uid)
    assert not Path("/sys/fs/cgroup/cpu", cgroup_of(os.getpid(), "cpu").lstrip("/")).joinpath(
        Path(cluster["cgroups"][0][0]).name).exists()
    await servers.stop(other)
    print(f"\nthe server with its Spark cluster started in {start_seconds:.1f} s")


async def test_a_server_that_dies_takes_its_spark_cluster_with_it(spawn_hub, servers):
    owner = await new_user(spawn_hub, "level-1")
    assert (await servers.start(owner)).status in (201, 202)
    account = pwd_entry(spawn_hub, owner.name)
    assert len(java_processes(account.pw_uid)) == 2
    os.kill((await servers.process(owner)).pid, 9)
    await servers.wait_stopped(owner, timeout=30)  # the hub's poll found it gone
    await no_java_left(account.pw_uid)


def secret_of(conf: str) -> str:
    [secret] = [line.split(" ", 1)[1] for line in conf.splitlines() if line.startswith("spark.authenticate.secret ")]
    return secret


def pwd_entry(hub, name: str):
    import pwd

    return pwd.getpwnam(system_users.system_name(hub.system_user_prefix, name))


@pytest.mark.browser
async def test_the_spark_ui_of_a_session_in_the_browser(spawn_hub, servers, page):
    """What a user sees at /user/<name>/spark/ after a job: their own master, its one worker
    of the package's size and the notebook's application (saved for the README)."""
    from playwright.async_api import expect

    owner = await new_user(spawn_hub, "level-1")
    assert (await servers.start(owner)).status in (201, 202)
    token = await spawn_hub.token_for(owner.name, [f"access:servers!user={owner.name}"])
    await asyncio.to_thread(execute, spawn_hub.url.rstrip("/"), owner.name, token, OWNER_JOB)  # the app stays on
    target = f"/user/{owner.name}/spark/"
    await page.goto(f"{spawn_hub.url}hub/login?next={target}")
    await page.locator("#username_input").fill(owner.name)
    await page.locator("#password_input").fill("any password")
    await page.locator("#login_submit").click()
    await page.wait_for_url(f"**{target}", timeout=60_000)
    await expect(page.get_by_text("Spark Master at spark://127.0.0.1:")).to_be_visible(timeout=30_000)
    await expect(page.get_by_text("1 Alive, 0 Dead")).to_be_visible()  # the package's one worker
    await expect(page.get_by_text("1664.0 MiB Total")).to_be_visible()  # 2 GiB: heap, plus 384 MiB overhead
    await expect(page.get_by_text("pyspark-shell").first).to_be_visible()  # the notebook's application
    await page.screenshot(path=str(SPARK_SHOT), full_page=False)
    await servers.stop(owner)
