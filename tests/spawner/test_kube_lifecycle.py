"""BookingKubeSpawner's whole lifecycle in a real hub, against the stand-in cluster
(tests/kube_standin.py: kmock's in-memory Kubernetes API and a fake kubelet; NOT a
Kubernetes API server), with the real booking service in its own process.

What is real: the hub, its proxy, KubeSpawner and our spawner talking to an API over
HTTP with watches, the booking service and its lifecycle loop, and each pod's server:
the stand-in kubelet runs the container's `jupyterhub-singleuser` as a local process on
the pod's own (loopback) address, so the hub waits for, proxies to and stops a server
that answers. What is not: images, scheduling, volumes and limits are never applied by
a kubelet here, so those tests read what the spawner asked of the API (the pod and claim
objects), as a cluster's admission would see them.
"""

from __future__ import annotations

import os
import uuid
from datetime import datetime, timedelta, timezone
from urllib.parse import quote

import pytest

from tests.booking_service.conftest import BookingAPI, day_start, iso
from tests.hub import start_hub, stop_hub
from tests.kube_standin import StandInCluster
from tests.spawner.conftest import SERVERS_CONFIG, new_user, releases, servers_env, wait_for

pytestmark = pytest.mark.kubernetes

NAMESPACE = "aglais"
LEASED_POOL = "leased"  # a pool whose nodes a Blazar lease holds (BookingKubeSpawner.blazar_reservations)
RESERVATION = "5c3e9ad4-6b41-4f55-9d0a-2e7f8c1b0a93"
GIB = 1024**3


@pytest.fixture(scope="module")
async def kube_hub(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("kube-hub")
    cluster = StandInCluster(namespace=NAMESPACE, servers=servers_env()).__enter__()
    kubeconfig = cluster.write_kubeconfig(workdir / "kubeconfig")
    extra = f"""
        from hub_extension.levels import Levels
        c.JupyterHub.spawner_class = 'booking-kube'
        # the levels' quota, as configure_accounts loads them
        c.JupyterHub.load_groups = Levels().load_groups()
        c.KubeSpawner.namespace = {NAMESPACE!r}
        c.KubeSpawner.cmd = ['jupyterhub-singleuser']
        c.KubeSpawner.uid = 65534
        c.KubeSpawner.gid = 65534
        c.BookingKubeSpawner.flavour_images = {{'jupyter': 'aglais/singleuser:test', 'zeppelin': 'aglais/zeppelin:test'}}
        # the documented way to a Zeppelin the hub can reach: an image speaking the single-user protocol
        c.BookingKubeSpawner.zeppelin_cmd = ['jupyterhub-singleuser']
        c.BookingKubeSpawner.zeppelin_port = 8889
        c.BookingKubeSpawner.blazar_reservations = {{{LEASED_POOL!r}: {RESERVATION!r}}}
        c.BookingKubeSpawner.data_volume = 'survey-data'
        c.BookingKubeSpawner.examples_git_url = 'https://git.example/aglais/examples.git'
    """ + SERVERS_CONFIG
    os.environ["KUBECONFIG"] = str(kubeconfig)  # the hub finds the stand-in's API as it finds a cluster's
    try:
        hub = start_hub(workdir, {}, external={"booking": f"sqlite+aiosqlite:///{workdir}/booking.sqlite"},
                        extra_config=extra)
    except BaseException:
        cluster.__exit__(None, None, None)
        raise
    finally:
        del os.environ["KUBECONFIG"]
    api = BookingAPI(hub, "booking")
    admin = await hub.new_user(admin=True, prefix="admin")
    await api.ok("POST", "pools", admin, {"name": "shared", "kind": "shared"})
    await api.ok("POST", "pools/shared/capacity", admin, {
        "start": iso(day_start(-1)), "end": iso(day_start(30)), "cores": 8, "memory_gib": 32})
    await api.ok("POST", "pools", admin, {"name": LEASED_POOL, "kind": "reserved"})
    await api.ok("POST", f"pools/{LEASED_POOL}/capacity", admin, {
        "start": iso(day_start(-1)), "end": iso(day_start(30)), "cores": 8, "memory_gib": 32})
    hub.booking_admin, hub.cluster = admin, cluster
    yield hub
    for booking in hub.external.values():
        booking.stop()
    stop_hub(hub.process)
    cluster.__exit__(None, None, None)


@pytest.fixture(scope="module")
def spawn_hub(kube_hub):
    """The hub conftest's `servers` and `booking_api` use: this module's."""
    return kube_hub


async def running(hub, servers, user, flavour="jupyter") -> tuple[dict, dict, dict]:
    """Start the user's server; (its hub model, its pod, its booking session)."""
    resp = await servers.start(user, flavour)
    assert resp.status in (201, 202), resp.body
    server = (await servers.model(user))["servers"][""]
    pod = hub.cluster.pod(server["state"]["pod_name"])
    ent = await BookingAPI(hub, "booking").ok("GET", f"users/{user.name}/entitlement", user)
    (session,) = ent["sessions"]
    return server, pod, session


async def answers(hub, user) -> dict:
    """The server's own /api/status, through the hub's proxy (with the admin's token)."""
    resp = await hub.request("GET", f"user/{quote(user.name)}/api/status", token=hub.admin_token)
    assert resp.status == 200, (resp.status, resp.body[:300])
    return resp.json()


def pod_name(username: str) -> str:
    """KubeSpawner's default pod_name_template for a name that is a valid slug."""
    return f"jupyter-{username}"


def notebook(pod: dict) -> dict:
    (container,) = [c for c in pod["spec"]["containers"] if c["name"] == "notebook"]
    return container


def volumes(pod: dict) -> dict:
    return {v["name"]: {k: val for k, val in v.items() if k != "name"} for v in pod["spec"]["volumes"]}


async def gone(hub, pod_name: str) -> bool:
    return hub.cluster.pod(pod_name) is None


@pytest.mark.parametrize("flavour, image, port", [
    pytest.param("jupyter", "aglais/singleuser:test", 8888, id="jupyter"),
    pytest.param("zeppelin", "aglais/zeppelin:test", 8889, id="zeppelin"),
])
async def test_a_walk_in_starts_answers_and_stops(kube_hub, servers, flavour, image, port):
    user = await new_user(kube_hub, "level-1")
    server, pod, session = await running(kube_hub, servers, user, flavour)
    assert (notebook(pod)["image"], notebook(pod)["ports"][0]["containerPort"]) == (image, port)
    assert server["url"].startswith("/user/") and pod["status"]["phase"] == "Running"
    assert (await answers(kube_hub, user))["started"]  # a real server, at the pod's address
    # the small walk-in package: half a core and 2 GiB, requested and limited
    resources = notebook(pod)["resources"]
    assert resources["requests"] == resources["limits"] == {"cpu": 0.5, "memory": 2 * GIB}
    labels = pod["metadata"]["labels"]
    assert {k: v for k, v in labels.items() if k.startswith("aglais.io/")} == {
        "aglais.io/session": str(session["id"]), "aglais.io/package": "small", "aglais.io/pool": "shared",
        "aglais.io/kind": "walk-in", "aglais.io/level": "1", "aglais.io/spark": "driver"}  # small has a Spark worker
    assert "nodeSelector" not in pod["spec"] and "tolerations" not in pod["spec"]  # shared, untainted nodes
    await servers.stop(user)
    assert await gone(kube_hub, pod["metadata"]["name"])
    assert releases(kube_hub, session["id"]) == ["server stopped"]


async def test_a_booking_runs_on_its_lease_and_stops_when_it_ends(kube_hub, servers, booking_api):
    user = await new_user(kube_hub, "level-1")
    now = datetime.now(timezone.utc)
    booking = await booking_api.ok("POST", "bookings", user, {
        "pool": LEASED_POOL, "package": "medium", "start": iso(now), "end": iso(now + timedelta(minutes=30))})
    _, pod, session = await running(kube_hub, servers, user)
    assert pod["spec"]["nodeSelector"] == {"blazar.openstack.org/reservation_id": RESERVATION}
    assert pod["metadata"]["labels"]["blazar.openstack.org/reservation_id"] == RESERVATION
    assert pod["metadata"]["labels"]["aglais.io/booking"] == str(booking["id"])
    resources = notebook(pod)["resources"]
    assert resources["requests"] == resources["limits"] == {"cpu": 1.0, "memory": 4 * GIB}
    # the booking ends now: the booking service's lifecycle loop asks the hub to stop the server
    await booking_api.ok("PATCH", f"bookings/{booking['id']}", user, {"end": iso(datetime.now(timezone.utc))})
    await servers.wait_stopped(user, timeout=20)
    assert await wait_for(lambda: gone(kube_hub, pod["metadata"]["name"]), 10, "the pod is still there")
    assert releases(kube_hub, session["id"]) == ["server stopped"]


async def test_a_pod_that_dies_is_released_once_as_exited(kube_hub, servers, booking_api):
    user = await new_user(kube_hub, "level-1")
    _, pod, session = await running(kube_hub, servers, user)
    kube_hub.cluster.kill(pod["metadata"]["name"])  # the container dies (SIGKILL)
    await servers.wait_stopped(user, timeout=20)  # the hub's poll saw it
    assert await wait_for(lambda: gone(kube_hub, pod["metadata"]["name"]), 10, "KubeSpawner left the dead pod")

    async def released():
        ent = await booking_api.ok("GET", f"users/{user.name}/entitlement", user)
        return not ent["sessions"]
    await wait_for(released, 10, "the session was not released")
    assert releases(kube_hub, session["id"]) == ["server exited"]


async def test_a_pod_the_cluster_refuses_is_a_failed_spawn_released_once(kube_hub, servers, booking_api):
    user = await new_user(kube_hub, "level-1")
    username = user.name  # KubeSpawner's hub.jupyter.org/username label: the name itself, when it is a valid value
    kube_hub.cluster.refuse_pods("hub.jupyter.org/username", username)
    resp = await servers.start(user)
    assert resp.status == 503, resp.body
    assert resp.json()["message"] == (f'The cluster refused to start your server: pods "{pod_name(username)}" is '
                                      "forbidden: exceeded quota")
    await servers.wait_stopped(user, timeout=10)
    ent = await booking_api.ok("GET", f"users/{user.name}/entitlement", user)
    assert ent["sessions"] == []
    (pod,) = [p for p in kube_hub.cluster.refused() if p["metadata"]["labels"]["hub.jupyter.org/username"] == username]
    assert releases(kube_hub, int(pod["metadata"]["labels"]["aglais.io/session"])) == ["spawn failed"]


async def test_a_trial_user_gets_an_ephemeral_home_and_no_claim(kube_hub, servers):
    user = await new_user(kube_hub, "level-0")
    server, pod, _ = await running(kube_hub, servers, user)
    assert volumes(pod)["aglais-home"] == {"emptyDir": {"sizeLimit": "256Mi"}}
    assert volumes(pod)["aglais-tmp"] == {"emptyDir": {"sizeLimit": "1024Mi"}}
    assert volumes(pod)["aglais-data"] == {"persistentVolumeClaim": {"claimName": "survey-data", "readOnly": True}}
    mounts = {m["mountPath"]: (m["name"], m.get("readOnly", False)) for m in notebook(pod)["volumeMounts"]}
    assert mounts["/home/jovyan"] == ("aglais-home", False) and mounts["/tmp"] == ("aglais-tmp", False)
    assert mounts["/data"] == ("aglais-data", True)
    await servers.stop(user)
    username = pod["metadata"]["labels"]["hub.jupyter.org/username"]
    assert not [c for c in kube_hub.cluster.pvcs() if c["metadata"]["labels"].get("hub.jupyter.org/username") == username]


async def test_the_pod_has_the_file_layout_and_clones_the_examples_in_an_init_container(kube_hub, servers):
    user = await new_user(kube_hub, "level-1")
    server, pod, _ = await running(kube_hub, servers, user)
    (clone,) = pod["spec"]["initContainers"]
    assert clone["name"] == "aglais-examples-clone" and clone["image"] == "aglais/singleuser:test"
    assert clone["securityContext"]["runAsUser"] == 65534 and clone["securityContext"]["runAsNonRoot"] is True
    assert volumes(pod)["aglais-examples"] == {"emptyDir": {"sizeLimit": "200Mi"}}
    mounts = {m["mountPath"]: (m["name"], m.get("readOnly", False)) for m in notebook(pod)["volumeMounts"]}
    assert mounts["/home/jovyan/examples"] == ("aglais-examples", True)
    assert mounts["/home/jovyan/tmp"] == ("aglais-tmp", False) and mounts["/home/jovyan/data"] == ("aglais-data", True)
    variables = {e["name"]: e.get("value") for e in notebook(pod)["env"]}
    assert variables["AGLAIS_EXAMPLES"] == "/home/jovyan/examples" and variables["AGLAIS_DATA"] == "/data"
    assert variables["AGLAIS_TEMP"] == "/home/jovyan/tmp"
    await servers.stop(user)


async def test_a_registered_home_is_a_claim_that_grows_with_a_project_group_and_goes_with_the_user(kube_hub, servers):
    user = await new_user(kube_hub, "level-1")
    server, pod, _ = await running(kube_hub, servers, user)
    claim_name = volumes(pod)["aglais-home"]["persistentVolumeClaim"]["claimName"]
    claim = kube_hub.cluster.pvc(claim_name)
    assert claim["spec"]["resources"]["requests"]["storage"] == "5120Mi"  # level-1's saved_mb
    await servers.stop(user)
    assert kube_hub.cluster.pvc(claim_name), "stopping the server keeps the home"
    # a project group that adds quota adds storage, at the next start
    group = f"project-{uuid.uuid4().hex[:6]}"
    await kube_hub.hub_api("POST", f"groups/{group}")
    await kube_hub.hub_api("PUT", f"groups/{group}/properties", {"quota": {"saved_mb": 20480}})
    await kube_hub.hub_api("POST", f"groups/{group}/users", {"users": [user.name]})
    _, pod, _ = await running(kube_hub, servers, user)
    assert volumes(pod)["aglais-home"]["persistentVolumeClaim"]["claimName"] == claim_name
    assert kube_hub.cluster.pvc(claim_name)["spec"]["resources"]["requests"]["storage"] == "20480Mi"
    await servers.stop(user)
    await kube_hub.hub_api("DELETE", f"users/{quote(user.name)}")
    assert await wait_for(lambda: _no_claim(kube_hub, claim_name), 10, "the deleted user's claim is still there")


async def _no_claim(hub, name: str) -> bool:
    return hub.cluster.pvc(name) is None


# -- Spark on Kubernetes: the stand-in has no Spark and no garbage collector, so the test
# makes the executor pods a driver would (Spark's labels and ownerReference, ours) --------

def executor_pod(driver: dict, session: str, n: int) -> dict:
    """An executor pod as Spark's driver makes one (BasicExecutorFeatureStep): its labels,
    an ownerReference to the driver's pod, Spark's image and `executor` argument."""
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {
        "name": f"pyspark-shell-{session}-exec-{n}",
        "labels": {"spark-app-selector": "spark-0123", "spark-role": "executor", "spark-exec-id": str(n),
                   "aglais.io/session": session},
        "ownerReferences": [{"apiVersion": "v1", "kind": "Pod", "name": driver["metadata"]["name"],
                             "uid": driver["metadata"]["uid"], "controller": True}]},
        "spec": {"containers": [{"name": "spark-executor", "image": "aglais/singleuser:test", "args": ["executor"]}]}}


def secret(hub, name: str) -> dict | None:
    return hub.cluster.get(f"/api/v1/namespaces/{NAMESPACE}/secrets/{name}")


async def test_a_spark_sessions_executors_and_secret_go_when_its_server_stops(kube_hub, servers):
    user = await new_user(kube_hub, "level-1")  # the walk-in package "small": one Spark worker
    _, pod, session = await running(kube_hub, servers, user)
    name = pod["metadata"]["name"]
    assert (pod["spec"]["serviceAccountName"], pod["spec"]["automountServiceAccountToken"]) == (
        "aglais-spark-driver", True)
    assert pod["metadata"]["labels"]["aglais.io/spark"] == "driver"
    auth = secret(kube_hub, f"{name}-spark-auth")
    assert auth and auth["metadata"]["labels"]["aglais.io/session"] == str(session["id"])
    ours = [kube_hub.cluster.create("pods", executor_pod(pod, str(session["id"]), n)) for n in (1, 2)]
    # another session's executor (a session id of no server here) must stay
    other = kube_hub.cluster.create("pods", executor_pod(pod, "999999", 1))
    await servers.stop(user)
    assert await gone(kube_hub, name)
    assert [kube_hub.cluster.pod(p["metadata"]["name"]) for p in ours] == [None, None]
    assert kube_hub.cluster.pod(other["metadata"]["name"]) is not None
    assert secret(kube_hub, f"{name}-spark-auth") is None
    kube_hub.cluster.delete("pods", other["metadata"]["name"])


async def test_a_spark_drivers_pod_deleted_under_it_takes_its_executors(kube_hub, servers):
    user = await new_user(kube_hub, "level-1")
    _, pod, session = await running(kube_hub, servers, user)
    executor = kube_hub.cluster.create("pods", executor_pod(pod, str(session["id"]), 1))
    kube_hub.cluster.delete("pods", pod["metadata"]["name"])  # as `kubectl delete pod` (or an eviction) would
    await servers.wait_stopped(user, timeout=20)  # the hub's poll found the pod gone

    async def no_executor():
        return kube_hub.cluster.pod(executor["metadata"]["name"]) is None
    assert await wait_for(no_executor, 10, "the executor outlived its driver's pod")
    assert releases(kube_hub, session["id"]) == ["server exited"]


async def test_a_server_without_spark_workers_gets_no_service_account_token(kube_hub, servers):
    user = await new_user(kube_hub, "level-0")  # the walk-in package "tiny": no Spark workers
    _, pod, _ = await running(kube_hub, servers, user)
    assert pod["spec"]["automountServiceAccountToken"] is False
    assert "serviceAccountName" not in pod["spec"] and "aglais.io/spark" not in pod["metadata"]["labels"]
    assert not any(v["name"] == "aglais-spark-auth" for v in pod["spec"]["volumes"])
    await servers.stop(user)
