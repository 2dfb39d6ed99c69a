"""The retention job on Kubernetes (--pvc-name-template) against a STAND-IN for the Kubernetes
API (tests/kube_standin.py: kmock 0.8's in-memory emulator served over HTTP, reached through a
kubeconfig), since no real API server runs here. The hub, its users, groups and activity, and
the SMTP server are real (conftest.py). The PVC names are the ones a real KubeSpawner 7.1 object
gives, so the job is checked against the spawner, not against itself."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub_extension.retention.job import RetentionJob
from hub_extension.retention.kube import pvc_name
from tests.hub import REPO
from tests.kube_standin import StandInCluster
from tests.retention.test_job import LEVEL_1, group

pytestmark = pytest.mark.kubernetes
NAMESPACE = "aglais"
TEMPLATE = "claim-{username}{servername}"  # z2jh's default, which the chart keeps
GIB = 2**30


@pytest.fixture
def standin(tmp_path):
    with StandInCluster(namespace=NAMESPACE) as cluster:
        cluster.kubeconfig = cluster.write_kubeconfig(tmp_path / "kubeconfig")
        yield cluster


@pytest.fixture(scope="module")
def kubeconfig_for_spawners(tmp_path_factory):
    """KubeSpawner loads a client configuration as it is made (it contacts nothing);
    kubernetes_asyncio read $KUBECONFIG when imported, so its default is set instead, as
    its own tests do."""
    from kubernetes_asyncio.config import kube_config

    path = tmp_path_factory.mktemp("spawner") / "kubeconfig"
    path.write_text(json.dumps({  # JSON is YAML; an address nothing answers at
        "apiVersion": "v1", "kind": "Config", "current-context": "nowhere",
        "clusters": [{"name": "nowhere", "cluster": {"server": "http://127.0.0.1:9"}}],
        "users": [{"name": "nowhere", "user": {"token": "nowhere"}}],
        "contexts": [{"name": "nowhere", "context": {"cluster": "nowhere", "user": "nowhere"}}],
    }))
    old, kube_config.KUBE_CONFIG_DEFAULT_LOCATION = kube_config.KUBE_CONFIG_DEFAULT_LOCATION, str(path)
    yield
    kube_config.KUBE_CONFIG_DEFAULT_LOCATION = old


async def spawner_pvc_name(username: str, template: str = TEMPLATE, slug_scheme: str = "safe") -> str:
    """The name a real KubeSpawner 7.1 gives the user's default server's PVC (made on a
    running event loop, as in the hub)."""
    from kubespawner import KubeSpawner

    user = SimpleNamespace(name=username, id=7, url=f"/user/{username}/")
    return KubeSpawner(_mock=True, user=user, pvc_name_template=template, slug_scheme=slug_scheme).pvc_name


@pytest.mark.parametrize("template", [TEMPLATE, "claim-{user_server}", "home-{escaped_username}-{hubnamespace}",
                                      "{safe_username}--{unescaped_username}-{namespace}"])
@pytest.mark.parametrize("slug_scheme", ["safe", "escape"])
@settings(max_examples=40, deadline=None)
@given(username=st.text(min_size=1, max_size=70))
async def test_the_job_names_a_claim_as_kubespawner_does(kubeconfig_for_spawners, template, slug_scheme, username):
    assert pvc_name(template, username, namespace="default", slug_scheme=slug_scheme) == \
        await spawner_pvc_name(username, template, slug_scheme)


def test_a_template_needing_more_than_the_user_name_is_refused():
    with pytest.raises(ValueError, match=r"may not use \{userid\}"):
        RetentionJob(pvc_name_template="claim-{userid}")


def add_claim(cluster, name: str, username: str, size: str = "10Gi") -> None:
    """A claim as KubeSpawner makes it (with its username annotation); the stand-in binds it."""
    cluster.create("persistentvolumeclaims", {
        "apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": {"name": name, "annotations": {"hub.jupyter.org/username": username}},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}},
    })


def exists(cluster, name: str) -> bool:
    return cluster.pvc(name) is not None


async def run_job(hub, standin, state_dir, *args) -> str:
    """The job once, as a process (the stand-in serves from a thread of its own)."""
    env = dict(os.environ, JUPYTERHUB_API_TOKEN=hub.retention_token, JUPYTERHUB_API_URL=hub.url + "hub/api",
               KUBECONFIG=str(standin.kubeconfig))
    env.pop("KUBERNETES_SERVICE_HOST", None)
    job = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hub_extension.retention", "--once", f"--pvc-name-template={TEMPLATE}",
        f"--namespace={NAMESPACE}", f"--state-dir={state_dir}", *args, cwd=REPO, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    _, err = await asyncio.wait_for(job.communicate(), 120)
    log = err.decode()
    assert job.returncode == 0, log
    assert "Traceback" not in log, log
    return log


async def user_with_address(hub, name: str, idle_days: float | None) -> None:
    await hub.hub_api("POST", "accounts", {"name": name, "email": f"{uuid.uuid4().hex[:8]}@example.org",
                                           "email_confirmed": True})
    await group(hub, "level-1", LEVEL_1, [name])
    if idle_days is not None:
        moment = datetime.now(timezone.utc) - timedelta(days=idle_days)
        await hub.hub_api("POST", f"users/{quote(name, safe='')}/activity", {"last_activity": moment.isoformat()})


def deleted(log: str, user: str, claim: str) -> bool:
    return f"Deleted user={json.dumps(user)} pvc={json.dumps(claim)} reason=saved size={10 * GIB}" in log


async def test_a_due_claim_goes_after_a_warning_others_stay_and_a_refusal_does_not_stop_the_job(
        retention_hub, smtp, standin, tmp_path, kubeconfig_for_spawners):
    hub, api, tag = retention_hub, standin, uuid.uuid4().hex[:6]
    # the refused one first: the job goes on to the users after it
    refused, due, odd, fresh = f"k-refused-{tag}", f"k-due-{tag}", f"k.odd_{tag}", f"k-fresh-{tag}"
    for name, idle in ((refused, 200), (due, 200), (odd, 200), (fresh, 1)):
        await user_with_address(hub, name, idle)
    claims = {name: await spawner_pvc_name(name) for name in (refused, due, odd, fresh)}
    assert claims[due] == f"claim-{due}" and claims[odd] != f"claim-{odd}"  # escaped, as the spawner does
    for name, claim in claims.items():
        add_claim(api, claim, name)
    add_claim(api, "claim-nobody-we-know", "someone-else")
    smtp_args = ["--smtp-host=127.0.0.1", f"--smtp-port={smtp.port}", "--smtp-from=aglais <retention@example.org>"]
    state = tmp_path / "state"

    # first the warnings; nothing is deleted yet
    log = await run_job(hub, standin, state, *smtp_args)
    mails = {m["To"]: m for m in smtp.messages}
    addresses = {name: (await hub.hub_api("GET", f"accounts/{quote(name, safe='')}"))["email"] for name in claims}
    assert set(mails) == {addresses[n] for n in (refused, due, odd)}, log
    body = mails[addresses[due]].get_content()
    assert f"its volume {claims[due]}, {10 * GIB:,} bytes" in body, body
    assert all(exists(api, claim) for claim in claims.values()) and "Deleted" not in log

    # after the warning period: the due claims go, one deletion refused by the API
    api.refuse_deletes(claims[refused])
    later = (datetime.now(timezone.utc) + timedelta(days=15)).isoformat()
    log = await run_job(hub, standin, state, *smtp_args, f"--now={later}")
    assert deleted(log, due, claims[due]) and deleted(log, odd, claims[odd]), log
    assert not exists(api, claims[due]) and not exists(api, claims[odd])
    assert (f"Did not delete user={json.dumps(refused)} pvc={json.dumps(claims[refused])}: "
            f"the Kubernetes API answered 403 Forbidden") in log, log
    assert exists(api, claims[refused]) and exists(api, claims[fresh]) and exists(api, "claim-nobody-we-know")
    assert f"user={json.dumps(fresh)}" not in log
    assert set(api.deletes()) == {claims[refused], claims[due], claims[odd]}  # what the stand-in received


async def test_a_user_whose_server_runs_keeps_their_claim_until_it_stops(retention_hub, standin, tmp_path,
                                                                          kubeconfig_for_spawners):
    """Warned long enough ago for the claim to be due, the user runs a server: it stays.
    Once the server is stopped the same run deletes it (what kept it was the server)."""
    hub, api, name = retention_hub, standin, f"k-running-{uuid.uuid4().hex[:6]}"
    await user_with_address(hub, name, None)
    claim = await spawner_pvc_name(name)
    add_claim(api, claim, name)
    resp = await hub.request("POST", f"hub/api/users/{name}/server", token=hub.admin_token)
    assert resp.status in (201, 202), resp.body
    for _ in range(60):
        if (await hub.hub_api("GET", f"users/{name}"))["servers"].get("", {}).get("ready"):
            break
        await asyncio.sleep(1)
    else:
        raise AssertionError(f"{name}'s server did not start")

    async def due_with_a_warning() -> str:
        """The state a warning sent 20 days ago for the user's last activity leaves, and
        a now that makes the claim due (6 months and more after that activity)."""
        last = datetime.fromisoformat((await hub.hub_api("GET", f"users/{name}"))["last_activity"])
        (tmp_path / "state").mkdir(exist_ok=True)
        (tmp_path / "state" / "warnings.json").write_text(json.dumps({"warnings": {name: {
            "last_activity": last.isoformat(), "sent": (last + timedelta(days=180)).isoformat(),
            "due": (last + timedelta(days=194)).isoformat()}}}))
        return (last + timedelta(days=200)).isoformat()

    log = await run_job(hub, standin, tmp_path / "state", f"--now={await due_with_a_warning()}")
    assert exists(api, claim) and f"user={json.dumps(name)}" not in log, log
    await hub.hub_api("DELETE", f"users/{name}/server")
    for _ in range(60):
        if not (await hub.hub_api("GET", f"users/{name}"))["servers"]:
            break
        await asyncio.sleep(0.5)
    log = await run_job(hub, standin, tmp_path / "state", f"--now={await due_with_a_warning()}")
    assert deleted(log, name, claim) and not exists(api, claim), log
