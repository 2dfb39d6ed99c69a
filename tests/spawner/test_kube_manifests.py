"""BookingKubeSpawner's pods, built without a cluster: each grant's pod manifest is
checked for what the session means (size, labels, scheduling, environment, Spark hook)
and validated strictly against the newest Kubernetes schema kubernetes-validate ships."""

from __future__ import annotations

import copy
import os
import re
import subprocess
import types

import kubernetes_validate
import kubernetes_validate.utils
import pytest
from kubernetes_asyncio.client import ApiClient
from kubernetes_asyncio.config import kube_config

from hub_extension.levels import DEFAULT_PROPERTIES
from spawner.kube import BookingKubeSpawner, label_value

GIB = 1024**3
K8S_VERSION = kubernetes_validate.utils.latest_version()
# https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#syntax-and-character-set
K8S_LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")

# kubespawner reads a kubeconfig when the first spawner is created (and caches it); this
# one points nowhere, as nothing here talks to an API server.
KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters:
- name: nowhere
  cluster: {server: "https://127.0.0.1:9"}
users:
- name: nobody
  user: {token: not-a-token}
contexts:
- name: nowhere
  context: {cluster: nowhere, user: nobody, namespace: hub}
current-context: nowhere
"""

MEDIUM = {
    "name": "medium", "version": 1, "description": "One core and 4 GiB, two Spark workers like it",
    "notebook": {"cores": 1.0, "memory_gib": 4.0},
    "spark": {"workers": 2, "worker": {"cores": 1.0, "memory_gib": 4.0}},
    "footprint": {"cores": 3.0, "memory_gib": 12.0}, "created": "2026-01-01T00:00:00Z",
}
TINY = {
    "name": "tiny", "version": 3, "description": "Half a core, no Spark workers",
    "notebook": {"cores": 0.5, "memory_gib": 1.0}, "spark": {"workers": 0, "worker": None},
    "footprint": {"cores": 0.5, "memory_gib": 1.0}, "created": "2026-01-01T00:00:00Z",
}


def grant(**changes) -> dict:
    """A session as the booking service grants it: by default a booking of 'medium' on a reserved pool."""
    session = {
        "id": 7, "user": "alice", "server_name": "", "kind": "booking", "pool": "gpu-a", "booking_id": 12,
        "package": copy.deepcopy(MEDIUM), "resources": {"cores": 3.0, "memory_gib": 12.0}, "flavour": "jupyter",
        "state": "running", "started": "2026-11-22T10:00:00Z", "until": "2026-11-22T12:00:00Z",
        "stopped": None, "stop_reason": "", "level": 1,
    }
    session.update(changes)
    return session


BOOKING_URL = "http://booking.test/services/booking/api/v1"


@pytest.fixture
def make_spawner(tmp_path, monkeypatch):
    """A BookingKubeSpawner for alice, built as kubespawner's own tests do (`_mock=True`
    gives it a stand-in hub); no booking service, no API server."""
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(KUBECONFIG)
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    # kubernetes_asyncio reads $KUBECONFIG once, when it is imported
    monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(kubeconfig))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)  # not in-cluster

    def make(groups=("level-1",), **traits) -> BookingKubeSpawner:
        user = types.SimpleNamespace(name="alice", id=1, url="/user/alice/", groups=[group(g) if isinstance(g, str) else g for g in groups])
        return BookingKubeSpawner(_mock=True, user=user, **{"booking_api_url": BOOKING_URL, **traits})

    return make


def group(name: str, properties: dict | None = None):
    """A hub group as the spawner sees it (JupyterHub's orm.Group: name, properties);
    a level group has its default properties."""
    return types.SimpleNamespace(name=name, properties=copy.deepcopy(
        DEFAULT_PROPERTIES.get(name, {}) if properties is None else properties))


def stub_booking_service(monkeypatch, spawner, flavours, calls=None):
    """A stand-in for the booking service: the spawner's `_booking` answers the
    entitlement with `flavours`, and a session request with a grant of what was asked."""
    async def answer(method, path, body=None):
        if calls is not None:
            calls.append((method, path, body))
        if method == "GET" and path.endswith("/entitlement"):
            return 200, {"kind": "booking", "reason": "Your booking", "flavours": list(flavours)}
        if method == "POST" and path.endswith("/sessions"):
            return 201, grant(flavour=body["flavour"])
        return 404, {"message": "no such thing"}
    monkeypatch.setattr(spawner, "_booking", answer)


async def pod_for(spawner, session: dict) -> dict:
    """What start() does with a grant, short of creating the pod: a plain, strictly valid manifest."""
    spawner.booking_session = session
    spawner.apply_session(session)
    await spawner.load_user_options()  # applies the flavour's profile
    async with ApiClient() as api:
        manifest = api.sanitize_for_serialization(await spawner.get_pod_manifest())
    kubernetes_validate.validate(manifest, K8S_VERSION, strict=True)
    # the schema does not check label syntax: the API server does
    for value in [*manifest["metadata"]["labels"].values(), *(manifest["spec"].get("nodeSelector") or {}).values(),
                  *(t.get("value", "") for t in manifest["spec"].get("tolerations") or [])]:
        assert len(value) <= 63 and K8S_LABEL_VALUE.fullmatch(value), f"invalid label value {value!r}"
    return manifest


def container(manifest: dict) -> dict:
    (notebook,) = manifest["spec"]["containers"]
    return notebook


def env(manifest: dict) -> dict:
    return {item["name"]: item.get("value", item.get("valueFrom")) for item in container(manifest)["env"]}


def ours(labels: dict) -> dict:
    return {key: value for key, value in labels.items() if key.startswith("aglais.io/")}


async def test_a_booking_on_a_reserved_pool(make_spawner):
    manifest = await pod_for(make_spawner(), grant())
    resources = container(manifest)["resources"]
    # kubespawner sends numbers; the API server stores them as the quantities "1" and "4Gi"
    assert resources["requests"] == resources["limits"] == {"cpu": 1.0, "memory": 4 * GIB}
    assert manifest["spec"]["nodeSelector"] == {"aglais.io/pool": "gpu-a"}
    assert manifest["spec"]["tolerations"] == [
        {"key": "aglais.io/pool", "operator": "Equal", "value": "gpu-a", "effect": "NoSchedule"}]
    assert ours(manifest["metadata"]["labels"]) == {
        "aglais.io/session": "7", "aglais.io/booking": "12", "aglais.io/package": "medium",
        "aglais.io/pool": "gpu-a", "aglais.io/kind": "booking", "aglais.io/level": "1",
        "aglais.io/spark": "driver"}  # its Spark workers are executor pods it drives (test_kube_spark.py)
    variables = env(manifest)
    assert variables["AGLAIS_PACKAGE"] == "medium"
    assert variables["AGLAIS_BOOKING_END"] == "2026-11-22T12:00:00Z"
    assert variables["SPARK_EXECUTOR_INSTANCES"] == "2"
    assert variables["SPARK_CONF_DIR"] == "/home/jovyan/.aglais/spark"
    assert "spark.executor.instances 2\n" in variables["AGLAIS_SPARK_DEFAULTS"]
    command = container(manifest)["lifecycle"]["postStart"]["exec"]["command"]
    assert command[:2] == ["sh", "-c"]
    assert 'mkdir -p "$SPARK_CONF_DIR"' in command[2] and "$AGLAIS_SPARK_DEFAULTS" in command[2]
    assert container(manifest)["image"] == "jupyter/pyspark-notebook:latest"


@pytest.mark.parametrize("session, notebook, package_name", [
    pytest.param(grant(kind="walk-in", pool="shared", booking_id=None, until=None, package=copy.deepcopy(TINY),
                       resources={"cores": 0.5, "memory_gib": 1.0}),
                 {"cpu": 0.5, "memory": GIB}, "tiny", id="walk-in-tiny-on-the-shared-pool"),
    pytest.param(grant(kind="walk-in", pool="shared", booking_id=None, until=None, package=None,
                       resources={"cores": 2.0, "memory_gib": 6.0}),
                 {"cpu": 2.0, "memory": 6 * GIB}, "custom", id="custom-resources-without-a-package"),
])
async def test_walk_in_sessions_share_the_untainted_nodes(make_spawner, session, notebook, package_name):
    manifest = await pod_for(make_spawner(), session)
    resources = container(manifest)["resources"]
    assert resources["requests"] == resources["limits"] == notebook
    assert "nodeSelector" not in manifest["spec"] and "tolerations" not in manifest["spec"]
    labels = ours(manifest["metadata"]["labels"])
    assert "aglais.io/booking" not in labels
    assert (labels["aglais.io/kind"], labels["aglais.io/package"]) == ("walk-in", package_name)
    variables = env(manifest)
    assert (variables["AGLAIS_PACKAGE"], variables["AGLAIS_BOOKING_END"]) == (package_name, "")
    assert "SPARK_EXECUTOR_INSTANCES" not in variables and variables["AGLAIS_SPARK_DEFAULTS"] == ""


@pytest.mark.parametrize("groups, label", [
    pytest.param(("level-n",), "2", id="the-users-level-from-their-groups"),
    pytest.param((group("no-level", {"quota": {"saved_mb": 10, "temp_mb": 10}}),), None, id="no-level-no-label"),
])
async def test_without_a_level_from_the_booking_service_the_hub_names_it(make_spawner, groups, label):
    session = grant()
    del session["level"]  # the booking service's sessions do not say it
    manifest = await pod_for(make_spawner(groups=groups), session)
    assert manifest["metadata"]["labels"].get("aglais.io/level") == label


async def test_reserved_pool_scheduling_can_be_turned_off(make_spawner):
    spawner = make_spawner(reserved_pool_scheduling=False, node_selector={"disk": "ssd"})
    manifest = await pod_for(spawner, grant())
    assert manifest["spec"]["nodeSelector"] == {"disk": "ssd"}
    assert "tolerations" not in manifest["spec"]


async def test_a_second_session_replaces_the_first_ones_labels_and_scheduling(make_spawner):
    spawner = make_spawner()
    await pod_for(spawner, grant())
    manifest = await pod_for(spawner, grant(id=8, kind="walk-in", pool="shared", booking_id=None))
    assert "aglais.io/booking" not in manifest["metadata"]["labels"]
    assert "nodeSelector" not in manifest["spec"] and "tolerations" not in manifest["spec"]


@pytest.mark.parametrize("user_options", [
    pytest.param({"profile": "zeppelin"}, id="from-kubespawner-form"),
    pytest.param({"flavour": "zeppelin"}, id="from-rest-api"),
])
async def test_the_zeppelin_profile_sets_image_command_port_and_landing_page(make_spawner, monkeypatch, user_options):
    """`_booking` is stubbed on the instance: a stand-in for the booking service granting what is asked."""
    spawner = make_spawner()
    calls = []
    stub_booking_service(monkeypatch, spawner, ["jupyter", "zeppelin"], calls)
    spawner.user_options = user_options
    session = await spawner.claim_session()
    assert calls == [("POST", "/users/alice/sessions", {"server_name": "", "flavour": "zeppelin"})]
    manifest = await pod_for(spawner, session)
    notebook = container(manifest)
    assert notebook["image"] == "aglais/zeppelin:0.1.0"  # images/zeppelin/Dockerfile
    # kubespawner passes `cmd` as the container's args: the image's entrypoint (tini) stays;
    # the single-user server, in which jupyter-server-proxy runs Zeppelin
    assert notebook["args"][0] == "jupyterhub-singleuser" and "command" not in notebook
    assert notebook["ports"][0]["containerPort"] == 8888
    assert (env(manifest)["AGLAIS_FLAVOUR"], env(manifest)["JUPYTERHUB_DEFAULT_URL"]) == ("zeppelin", "/zeppelin/")
    assert [c for c in calls if c[0] == "GET"] == []  # the grant decided the profile, not a second question


async def test_a_jupyter_server_after_a_zeppelin_one_gets_jupyters_command_port_and_landing_page(
        make_spawner, monkeypatch):
    """KubeSpawner applies a profile onto the spawner, which the hub reuses for the next start."""
    spawner = make_spawner(cmd=["start-notebook.py"], default_url="/lab")
    stub_booking_service(monkeypatch, spawner, ["jupyter", "zeppelin"], [])
    pods = {}
    for flavour in ("jupyter", "zeppelin", "jupyter"):
        spawner.user_options = {"flavour": flavour}
        manifest = await pod_for(spawner, await spawner.claim_session())
        pods.setdefault(flavour, []).append((container(manifest)["args"][0], container(manifest)["ports"][0][
            "containerPort"], env(manifest)["JUPYTERHUB_DEFAULT_URL"]))
    assert pods["zeppelin"] == [("jupyterhub-singleuser", 8888, "/zeppelin/")]
    assert pods["jupyter"] == [("start-notebook.py", 8888, "/lab")] * 2


@pytest.mark.parametrize("pool, package_name", [
    pytest.param("GPU pool #1 (night)", "medium", id="spaces-and-punctuation"),
    pytest.param("p" * 80, "x" * 64, id="too-long"),
    pytest.param("-pool-", "_pkg.", id="bad-first-and-last-characters"),
    pytest.param("café/ünïcode", "{username}", id="non-ascii-and-template-braces"),
])
async def test_hostile_names_make_valid_labels(make_spawner, pool, package_name):
    package = dict(copy.deepcopy(MEDIUM), name=package_name)
    manifest = await pod_for(make_spawner(), grant(pool=pool, package=package, level="level 1!"))
    labels = ours(manifest["metadata"]["labels"])
    assert labels["aglais.io/pool"] == manifest["spec"]["nodeSelector"]["aglais.io/pool"] == label_value(pool)
    assert manifest["spec"]["tolerations"][0]["value"] == label_value(pool)
    assert labels["aglais.io/package"] == label_value(package_name)
    assert env(manifest)["AGLAIS_POOL"] == pool  # the environment keeps the real name


def test_label_values_keep_valid_names_and_tell_sanitised_ones_apart():
    assert label_value("gpu-a") == "gpu-a" and label_value(12) == "12" and label_value("") == ""
    assert label_value("gpu a") != label_value("gpu/a") != label_value("gpu-a")
    assert label_value("a" * 63) == "a" * 63 and label_value("a" * 63 + "b") != label_value("a" * 63 + "c")
    for hostile in ["!!!", "é", "a" * 200, ".x.", "x" * 62 + "-"]:
        value = label_value(hostile)
        assert len(value) <= 63 and K8S_LABEL_VALUE.fullmatch(value), value


@pytest.mark.parametrize("allowed, slugs", [
    pytest.param(["jupyter"], ["jupyter"], id="jupyter-only"),
    pytest.param(["jupyter", "zeppelin"], ["jupyter", "zeppelin"], id="jupyter-and-zeppelin"),
    pytest.param(["zeppelin"], ["zeppelin"], id="zeppelin-only"),
    pytest.param([], ["jupyter"], id="nothing-allowed-start-will-refuse"),
])
async def test_profiles_are_the_flavours_the_entitlement_allows(make_spawner, monkeypatch, allowed, slugs):
    """`_booking` is stubbed on the instance: a stand-in for the booking service's entitlement answer."""
    spawner = make_spawner()
    stub_booking_service(monkeypatch, spawner, allowed)
    profiles = await spawner.profile_list(spawner)
    assert [p["slug"] for p in profiles] == slugs
    form = await spawner.options_form(spawner)
    if len(slugs) > 1:
        assert 'name="profile"' in form and all(f'value="{slug}"' in form for slug in slugs)
    else:
        assert form == ""  # nothing to choose: no form, the one profile is the default
    assert spawner.options_from_form({"profile": [slugs[-1]]}) == {"profile": slugs[-1]}


async def test_without_the_booking_service_only_jupyter_is_offered(make_spawner, monkeypatch):
    """`_booking` is stubbed on the instance: a stand-in for a booking service that does not answer."""
    from spawner.mixin import BookingServiceDown

    spawner = make_spawner()

    async def down(method, path, body=None):
        raise BookingServiceDown("connection refused")
    monkeypatch.setattr(spawner, "_booking", down)
    assert [p["slug"] for p in await spawner.profile_list(spawner)] == ["jupyter"]


async def test_a_flavour_without_an_image_is_not_offered(make_spawner):
    spawner = make_spawner(flavour_images={"jupyter": "jupyter/pyspark-notebook:latest"})
    assert spawner.supported_flavours() == ("jupyter",)


@pytest.mark.parametrize("image_defaults", [
    pytest.param(True, id="image-with-spark-conf"),
    pytest.param(False, id="image-without-spark"),
])
async def test_the_post_start_hook_writes_spark_defaults(make_spawner, tmp_path, image_defaults):
    """Runs the hook's own command with sh, in a scratch directory standing in for the container."""
    manifest = await pod_for(make_spawner(spark_conf_dir=str(tmp_path / "home/.aglais/spark")), grant())
    variables = env(manifest)
    process_env = {"PATH": os.environ["PATH"], "SPARK_CONF_DIR": variables["SPARK_CONF_DIR"],
                   "AGLAIS_SPARK_DEFAULTS": variables["AGLAIS_SPARK_DEFAULTS"]}
    if image_defaults:
        (tmp_path / "spark/conf").mkdir(parents=True)
        (tmp_path / "spark/conf/spark-defaults.conf").write_text(
            "spark.driver.extraJavaOptions -Dio.netty.tryReflectionSetAccessible=true\nspark.executor.instances 9")
        (tmp_path / "spark/conf/log4j2.properties").write_text("rootLogger.level = warn\n")
        process_env["SPARK_HOME"] = str(tmp_path / "spark")
    command = container(manifest)["lifecycle"]["postStart"]["exec"]["command"]
    subprocess.run(command, env=process_env, check=True, timeout=10)
    conf = tmp_path / "home/.aglais/spark"
    written = (conf / "spark-defaults.conf").read_text()
    assert written.endswith(variables["AGLAIS_SPARK_DEFAULTS"])  # ours last: they win
    if image_defaults:
        assert written.startswith("spark.driver.extraJavaOptions")
        assert (conf / "log4j2.properties").exists()
    else:
        assert written == variables["AGLAIS_SPARK_DEFAULTS"]


def test_a_post_start_hook_that_cannot_write_does_not_fail(tmp_path):
    from spawner.kube import SPARK_CONF_SCRIPT

    blocker = tmp_path / "file"
    blocker.write_text("")
    done = subprocess.run(["sh", "-c", SPARK_CONF_SCRIPT], timeout=10, capture_output=True, env={
        "PATH": os.environ["PATH"], "SPARK_CONF_DIR": str(blocker / "spark"), "AGLAIS_SPARK_DEFAULTS": "x 1\n"})
    assert done.returncode == 0  # a failing postStart hook would get the container killed


# -- Blazar leases ---------------------------------------------------------------------------

@pytest.mark.parametrize("session", [
    pytest.param(grant(), id="booked"),
    pytest.param(grant(kind="walk-in", booking_id=None, until=None), id="walk-in"),
])
async def test_a_pool_on_a_blazar_lease_selects_the_leases_nodes(make_spawner, session):
    spawner = make_spawner(blazar_reservations={"gpu-a": "9f0c8a52-2f0e-4d4b-9d1e-3c1a7e0b5a11"},
                           blazar_project_id="CHI-231", node_selector={"disk": "ssd"})
    manifest = await pod_for(spawner, session)
    assert manifest["spec"]["nodeSelector"] == {
        "disk": "ssd", "blazar.openstack.org/reservation_id": "9f0c8a52-2f0e-4d4b-9d1e-3c1a7e0b5a11",
        "blazar.openstack.org/project_id": "CHI-231"}
    assert "tolerations" not in manifest["spec"]  # a lease labels its nodes, it does not taint them
    labels = manifest["metadata"]["labels"]
    assert labels["blazar.openstack.org/reservation_id"] == "9f0c8a52-2f0e-4d4b-9d1e-3c1a7e0b5a11"
    # the next session, on a pool without a lease, keeps nothing of it
    manifest = await pod_for(spawner, grant(pool="gpu-b"))
    assert manifest["spec"]["nodeSelector"] == {"disk": "ssd", "aglais.io/pool": "gpu-b"}
    assert "blazar.openstack.org/reservation_id" not in manifest["metadata"]["labels"]


# -- storage by level -----------------------------------------------------------------------

def volumes(manifest: dict) -> dict:
    return {v["name"]: {k: val for k, val in v.items() if k != "name"} for v in manifest["spec"]["volumes"]}


def mounts(manifest: dict) -> dict:
    return {m["mountPath"]: m for m in container(manifest)["volumeMounts"]}


async def test_level_0_gets_an_ephemeral_home_sized_by_its_quota(make_spawner):
    spawner = make_spawner(groups=("level-0",))
    manifest = await pod_for(spawner, grant(level=0))
    assert volumes(manifest)["aglais-home"] == {"emptyDir": {"sizeLimit": "256Mi"}}
    assert volumes(manifest)["aglais-tmp"] == {"emptyDir": {"sizeLimit": "1024Mi"}}
    assert mounts(manifest)["/home/jovyan"]["name"] == "aglais-home"
    assert mounts(manifest)["/tmp"]["name"] == "aglais-tmp"
    assert "/data" not in mounts(manifest)
    assert spawner.storage_pvc_ensure is False  # no claim is made for it


@pytest.mark.parametrize("groups, size", [
    pytest.param(("level-1",), "5120Mi", id="level-1"),
    pytest.param(("level-n",), "102400Mi", id="level-n"),
    pytest.param(("level-1", group("gaia", {"quota": {"saved_mb": 51200}})), "51200Mi",
                 id="a-project-group-adds-quota"),
    pytest.param(("level-1", group("small-project", {"quota": {"saved_mb": 10}})), "5120Mi",
                 id="a-smaller-group-quota-takes-nothing-away"),
])
async def test_higher_levels_get_a_claim_of_their_quota(make_spawner, groups, size):
    spawner = make_spawner(groups=groups)
    manifest = await pod_for(spawner, grant())
    assert volumes(manifest)["aglais-home"] == {"persistentVolumeClaim": {"claimName": "claim-alice"}}
    assert spawner.storage_pvc_ensure is True
    async with ApiClient() as api:
        claim = api.sanitize_for_serialization(spawner.get_pvc_manifest())
    kubernetes_validate.validate(claim, K8S_VERSION, strict=True)
    assert claim["metadata"]["name"] == "claim-alice"
    assert claim["spec"]["resources"]["requests"]["storage"] == size


async def test_a_trial_user_in_a_project_group_still_gets_an_ephemeral_home(make_spawner):
    spawner = make_spawner(groups=("level-0", group("gaia", {"quota": {"saved_mb": 51200}})))
    manifest = await pod_for(spawner, grant(level=0))
    assert volumes(manifest)["aglais-home"] == {"emptyDir": {"sizeLimit": "51200Mi"}}


@pytest.mark.parametrize("data, spec", [
    pytest.param("gaia-dr3", {"persistentVolumeClaim": {"claimName": "gaia-dr3", "readOnly": True}}, id="a-claim"),
    pytest.param({"nfs": {"server": "nfs.example", "path": "/export/data"}},
                 {"nfs": {"server": "nfs.example", "path": "/export/data"}}, id="a-volume-spec"),
])
async def test_a_configured_data_volume_is_mounted_read_only(make_spawner, data, spec):
    manifest = await pod_for(make_spawner(data_volume=data), grant())
    assert volumes(manifest)["aglais-data"] == spec
    assert mounts(manifest)["/data"] == {"name": "aglais-data", "mountPath": "/data", "readOnly": True}


async def test_configured_volumes_stay_and_a_second_session_replaces_ours(make_spawner):
    shared = {"name": "shm", "emptyDir": {"medium": "Memory"}}
    spawner = make_spawner(volumes=[shared], volume_mounts=[{"name": "shm", "mountPath": "/dev/shm"}])
    await pod_for(spawner, grant())
    manifest = await pod_for(spawner, grant(id=8))
    # once each: the first session's are replaced (the Spark secret's: test_kube_spark.py)
    assert [v["name"] for v in manifest["spec"]["volumes"]] == ["shm", "aglais-home", "aglais-tmp", "aglais-spark-auth"]


async def test_without_a_storage_quota_no_server_starts(make_spawner):
    from jupyterhub.spawner import SpawnException

    spawner = make_spawner(groups=(group("no-level", {}),))
    with pytest.raises(SpawnException) as refused:
        spawner.apply_session(grant())
    assert refused.value.status_code == 503 and "no storage quota" in refused.value.message


async def test_persistent_homes_default_to_every_level_above_the_trial_one(make_spawner):
    from traitlets.config import Config

    assert make_spawner().persistent_home_groups == ["level-1", "level-n"]
    config = Config()
    config.Levels.groups = ["try", "member", "staff"]
    assert make_spawner(config=config).persistent_home_groups == ["member", "staff"]


async def test_storage_by_level_can_be_turned_off(make_spawner):
    # a package without Spark workers: no Spark secret's volume either
    manifest = await pod_for(make_spawner(storage_by_level=False, groups=()), grant(package=copy.deepcopy(TINY)))
    assert "volumes" not in manifest["spec"] or not manifest["spec"]["volumes"]


def test_storage_quantities_in_bytes():
    from aglais_common.quota import quantity_bytes

    assert quantity_bytes("5Gi") == quantity_bytes("5120Mi") == 5 * 1024**3
    assert quantity_bytes("5G") == 5 * 10**9 and quantity_bytes("512") == 512
    with pytest.raises(ValueError):
        quantity_bytes("lots")


# -- the file layout (aglais_common.layout) ------------------------------------------------

from spawner.storage import CLONE_SCRIPT  # noqa: E402

async def test_the_layout_is_in_the_home_with_temp_and_shared_data_as_the_same_volumes(make_spawner):
    spawner = make_spawner(data_volume="gaia-dr3")
    manifest = await pod_for(spawner, grant())
    found = {path: (m["name"], m.get("readOnly", False)) for path, m in mounts(manifest).items()}
    assert found["/tmp"] == found["/home/jovyan/tmp"] == ("aglais-tmp", False)  # the temp area is /tmp
    assert found["/data"] == found["/home/jovyan/data"] == ("aglais-data", True)
    assert "/home/jovyan/examples" not in found and not manifest["spec"].get("initContainers")
    variables = env(manifest)
    assert (variables["AGLAIS_NOTEBOOKS"], variables["AGLAIS_SAVED"], variables["AGLAIS_TEMP"]) == (
        "/home/jovyan/notebooks", "/home/jovyan/saved", "/home/jovyan/tmp")
    assert variables["AGLAIS_DATA"] == "/data" and "AGLAIS_EXAMPLES" not in variables


async def test_examples_from_a_volume_are_mounted_read_only(make_spawner):
    manifest = await pod_for(make_spawner(examples_volume={"nfs": {"server": "nfs.example", "path": "/examples"}},
                                          examples_git_url="https://git.example/ignored.git"), grant())
    assert volumes(manifest)["aglais-examples"] == {"nfs": {"server": "nfs.example", "path": "/examples"}}
    assert mounts(manifest)["/home/jovyan/examples"] == {
        "name": "aglais-examples", "mountPath": "/home/jovyan/examples", "readOnly": True}
    assert not manifest["spec"].get("initContainers")  # the volume wins over the git repository
    assert env(manifest)["AGLAIS_EXAMPLES"] == "/home/jovyan/examples"


async def test_examples_from_git_are_cloned_by_an_init_container_only_it_can_write(make_spawner):
    url = "https://git.example/{username}/examples.git; rm -rf ~"  # never read as shell, nor as a template
    spawner = make_spawner(examples_git_url=url, examples_git_ref="v1", uid=1000,
                           init_containers=[{"name": "theirs", "image": "busybox", "command": ["true"]}])
    await pod_for(spawner, grant())
    manifest = await pod_for(spawner, grant(id=8))  # a second session replaces ours, keeps theirs
    theirs, clone = manifest["spec"]["initContainers"]
    assert theirs["name"] == "theirs" and clone["name"] == "aglais-examples-clone"
    assert clone["image"] == spawner.flavour_images["jupyter"] and url not in " ".join(clone["command"])
    assert clone["command"] == ["sh", "-c", CLONE_SCRIPT]  # formatted by KubeSpawner back to itself
    assert {e["name"]: e["value"] for e in clone["env"]} == {
        "AGLAIS_EXAMPLES_GIT": url, "AGLAIS_EXAMPLES_REF": "v1", "AGLAIS_EXAMPLES_PATH": "/srv/examples"}
    assert clone["volumeMounts"] == [{"name": "aglais-examples", "mountPath": "/srv/examples"}]
    assert clone["securityContext"] == {"runAsNonRoot": True, "runAsUser": 1000, "allowPrivilegeEscalation": False,
                                        "capabilities": {"drop": ["ALL"]}}
    assert volumes(manifest)["aglais-examples"] == {"emptyDir": {"sizeLimit": "200Mi"}}
    assert mounts(manifest)["/home/jovyan/examples"]["readOnly"] is True


def test_the_clone_script_clones_or_leaves_a_note_and_never_fails(tmp_path):
    import subprocess

    repo = tmp_path / "repo"
    repo.mkdir()
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.org"]
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    (repo / "a.ipynb").write_text("{}")
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "one"], check=True)
    for url, ref, found in ((f"file://{repo}", "main", ["a.ipynb"]), (f"file://{repo}", "", ["a.ipynb"]),
                            (f"file://{tmp_path}/gone", "", ["EXAMPLES-UNAVAILABLE.txt"])):
        target = tmp_path / f"examples-{len(list(tmp_path.iterdir()))}"
        target.mkdir()  # the emptyDir
        done = subprocess.run(["sh", "-c", CLONE_SCRIPT], capture_output=True, text=True, env={
            "PATH": "/usr/bin:/bin", "AGLAIS_EXAMPLES_GIT": url, "AGLAIS_EXAMPLES_REF": ref,
            "AGLAIS_EXAMPLES_PATH": str(target)})
        assert done.returncode == 0, done.stderr
        assert sorted(p.name for p in target.iterdir()) == found
