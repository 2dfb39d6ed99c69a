"""Spark on Kubernetes at manifest level: a session whose package has Spark workers gets a
pod that is a client-mode driver (its spark-defaults, environment, service account and
token, the auth Secret's volume, its label), built without a cluster and validated
strictly (test_kube_manifests.py's helpers); a session without workers gets none of it.
The postStart hook is run with sh, as the container would run it."""

from __future__ import annotations

import copy
import json
import os
import subprocess

import kubernetes_validate
import pytest
from kubernetes_asyncio.client import ApiClient

from spawner import package
from spawner.spark_kube import auth_secret, millicores
from tests.spawner.test_kube_manifests import K8S_VERSION, MEDIUM, TINY, container, env, grant, make_spawner, pod_for

__all__ = ["make_spawner"]  # the fixture, imported for this module's tests

SMALL_WORKERS = dict(copy.deepcopy(MEDIUM), name="half", spark={"workers": 3, "worker": {"cores": 0.5, "memory_gib": 2.0}})


def defaults(manifest: dict) -> dict:
    """The spark-defaults.conf the hook writes, as Spark reads it (key, value per line)."""
    text = env(manifest)["AGLAIS_SPARK_DEFAULTS"]
    return dict(line.split(" ", 1) for line in text.splitlines() if line)


async def test_a_spark_session_is_a_client_mode_driver_of_the_packages_executors(make_spawner):
    spawner = make_spawner(flavour_images={"jupyter": "aglais/singleuser:0.1.0"}, namespace="aglais")
    manifest = await pod_for(spawner, grant(package=copy.deepcopy(SMALL_WORKERS)))
    conf = defaults(manifest)
    # the package's three workers of half a core and 2 GiB: one executor each, one Spark core,
    # half a CPU requested and limited, heap + overhead = 2 GiB (package.py's sizing, as locally)
    assert (conf["spark.executor.instances"], conf["spark.executor.cores"]) == ("3", "1")
    assert conf["spark.kubernetes.executor.request.cores"] == conf["spark.kubernetes.executor.limit.cores"] == "500m"
    _, heap, overhead = package.executor_sizes(0.5, 2048)
    assert (conf["spark.executor.memory"], conf["spark.executor.memoryOverhead"]) == (f"{heap}m", f"{overhead}m")
    assert heap + overhead == 2048
    assert conf["spark.dynamicAllocation.enabled"] == "false"
    # client mode on the cluster's API; this pod is the driver, its executors in its namespace
    assert conf["spark.master"] == "k8s://https://kubernetes.default.svc"
    assert conf["spark.submit.deployMode"] == "client"
    assert conf["spark.kubernetes.driver.pod.name"] == manifest["metadata"]["name"] == "jupyter-alice"
    assert conf["spark.kubernetes.namespace"] == "aglais"  # KubeSpawner's, the pod's
    assert conf["spark.kubernetes.container.image"] == container(manifest)["image"] == "aglais/singleuser:0.1.0"
    assert conf["spark.driver.bindAddress"] == "0.0.0.0"
    assert (conf["spark.driver.port"], conf["spark.driver.blockManager.port"], conf["spark.blockManager.port"]) == (
        "7078", "7079", "7079")
    assert "spark.driver.host" not in conf  # the pod's IP: the hook adds it (below)
    assert env(manifest)["AGLAIS_SPARK_DRIVER_HOST"] == {"fieldRef": {"fieldPath": "status.podIP"}}
    # executors labelled with the session (Spark adds spark-role=executor itself)
    labels = {k[len("spark.kubernetes.executor.label."):]: v for k, v in conf.items()
              if k.startswith("spark.kubernetes.executor.label.")}
    assert labels["aglais.io/session"] == "7" and labels["aglais.io/booking"] == "12"
    assert conf["spark.kubernetes.authenticate.executor.serviceAccountName"] == "aglais-spark-executor"
    assert conf["spark.kubernetes.executor.disableConfigMap"] == "true"


async def test_the_auth_secret_is_a_file_on_both_sides_never_in_a_pod_spec(make_spawner):
    spawner = make_spawner()
    manifest = await pod_for(spawner, grant())
    conf = defaults(manifest)
    assert conf["spark.authenticate"] == "true" and conf["spark.network.crypto.enabled"] == "true"
    assert "spark.authenticate.secret" not in conf
    path = "/var/run/aglais/spark-auth/secret"
    assert conf["spark.authenticate.secret.driver.file"] == conf["spark.authenticate.secret.executor.file"] == path
    assert conf["spark.kubernetes.executor.secrets.jupyter-alice-spark-auth"] == "/var/run/aglais/spark-auth"
    (volume,) = [v for v in manifest["spec"]["volumes"] if v["name"] == "aglais-spark-auth"]
    assert volume["secret"] == {"secretName": "jupyter-alice-spark-auth", "defaultMode": 0o444}
    (mount,) = [m for m in container(manifest)["volumeMounts"] if m["name"] == "aglais-spark-auth"]
    assert (mount["mountPath"], mount.get("readOnly")) == ("/var/run/aglais/spark-auth", True)
    # the Secret the spawner creates before the pod: its name, a fresh value each time
    first, second = auth_secret("jupyter-alice", {"aglais.io/session": "7"}), auth_secret("jupyter-alice", {})
    async with ApiClient() as api:
        kubernetes_validate.validate(api.sanitize_for_serialization(first), K8S_VERSION, strict=True)
    assert first["metadata"]["name"] == "jupyter-alice-spark-auth" and first["data"] != second["data"]
    assert first["data"]["secret"] not in json.dumps(manifest)


async def test_only_spark_sessions_get_the_drivers_service_account_token(make_spawner):
    spawner = make_spawner(service_account="users")
    spark = await pod_for(spawner, grant())
    assert spark["spec"]["serviceAccountName"] == "aglais-spark-driver"
    assert spark["spec"]["automountServiceAccountToken"] is True
    assert spark["metadata"]["labels"]["aglais.io/spark"] == "driver"
    # the next session on the same spawner has no workers: the configured account, no token,
    # no Spark label, secret or settings
    plain = await pod_for(spawner, grant(id=8, package=copy.deepcopy(TINY)))
    assert plain["spec"]["serviceAccountName"] == "users"
    assert plain["spec"]["automountServiceAccountToken"] is False
    assert "aglais.io/spark" not in plain["metadata"]["labels"]
    assert "aglais-spark-auth" not in [v["name"] for v in plain["spec"].get("volumes") or []]
    assert env(plain)["AGLAIS_SPARK_DEFAULTS"] == "" and "AGLAIS_SPARK_DRIVER_HOST" not in env(plain)


@pytest.mark.parametrize("session", [
    pytest.param(grant(package=copy.deepcopy(TINY)), id="a-package-without-workers"),
    pytest.param(grant(package=None, resources={"cores": 2.0, "memory_gib": 6.0}), id="custom-resources"),
])
async def test_sessions_without_workers_get_no_token(make_spawner, session):
    manifest = await pod_for(make_spawner(), session)
    assert manifest["spec"]["automountServiceAccountToken"] is False
    assert "serviceAccountName" not in manifest["spec"]


async def test_spark_executors_can_be_turned_off(make_spawner):
    manifest = await pod_for(make_spawner(spark_executors=False), grant())
    assert manifest["spec"]["automountServiceAccountToken"] is False
    assert set(defaults(manifest)) == set(package.spark(grant()))  # the sizing alone


async def test_settings_are_configurable(make_spawner):
    spawner = make_spawner(spark_master="k8s://https://10.0.0.1:6443", spark_executor_image="apache/spark:4.0.1",
                           spark_service_account="drivers", spark_executor_service_account="")
    manifest = await pod_for(spawner, grant())
    conf = defaults(manifest)
    assert conf["spark.master"] == "k8s://https://10.0.0.1:6443"
    assert conf["spark.kubernetes.container.image"] == "apache/spark:4.0.1"
    assert "spark.kubernetes.authenticate.executor.serviceAccountName" not in conf
    assert manifest["spec"]["serviceAccountName"] == "drivers"


async def test_the_hook_adds_the_pods_ip_and_writes_the_executors_template(make_spawner, tmp_path):
    """The hook's own command with sh, in a scratch directory standing in for the container;
    the downward API's value given as the kubelet would."""
    spawner = make_spawner(spark_conf_dir=str(tmp_path / "spark"))
    manifest = await pod_for(spawner, grant())  # booked: the pool's node selector and toleration
    variables = env(manifest)
    process_env = {"PATH": os.environ["PATH"], "SPARK_CONF_DIR": variables["SPARK_CONF_DIR"],
                   "AGLAIS_SPARK_DEFAULTS": variables["AGLAIS_SPARK_DEFAULTS"], "AGLAIS_SPARK_DRIVER_HOST": "10.1.2.3",
                   "AGLAIS_SPARK_EXECUTOR_TEMPLATE": variables["AGLAIS_SPARK_EXECUTOR_TEMPLATE"]}
    subprocess.run(container(manifest)["lifecycle"]["postStart"]["exec"]["command"], env=process_env, check=True,
                   timeout=10)
    written = (tmp_path / "spark" / "spark-defaults.conf").read_text()
    assert written.endswith("spark.driver.host 10.1.2.3\n")
    conf = dict(line.split(" ", 1) for line in written.splitlines() if line)
    template_path = conf["spark.kubernetes.executor.podTemplateFile"]
    assert template_path == str(tmp_path / "spark" / "executor-pod-template.json")
    template = json.loads((tmp_path / "spark" / "executor-pod-template.json").read_text())
    # a valid pod (for the schema, a template's container needs its image: Spark sets it)
    pod = copy.deepcopy(template)
    pod["metadata"] = {"name": "x"}
    pod["spec"]["containers"][0]["image"] = "spark"
    kubernetes_validate.validate(pod, K8S_VERSION, strict=True)
    spec = template["spec"]
    assert spec["nodeSelector"] == manifest["spec"]["nodeSelector"] == {"aglais.io/pool": "gpu-a"}
    assert spec["tolerations"] == manifest["spec"]["tolerations"]
    assert spec["automountServiceAccountToken"] is False
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["containers"][0]["securityContext"]["capabilities"] == {"drop": ["ALL"]}


def test_cores_are_millicores():
    assert [millicores(c) for c in (0.5, 1, 2.25, 0.0001)] == ["500m", "1000m", "2250m", "1m"]
