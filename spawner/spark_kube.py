"""Spark on Kubernetes for one session: the notebook pod is the Spark driver in client
mode and the package's workers are executor pods that the driver creates in the pod's
namespace, sized as package.py sizes every spawner's executors. What the pod needs for
it (settings, environment, the auth Secret's volume) is built here (pure); `remove`
deletes a session's executors and Secret when its server stops, whatever the driver did
(docs/spawner.md, "Spark on Kubernetes").

The authentication secret: on Kubernetes Spark ignores `spark.authenticate.secret`,
makes a secret per application and hands it to the executors in an environment
variable of their pod spec (SPARK_AUTHENTICATE_SECRET), which anyone who may read pods
in the namespace reads, every other session's driver included. So each session gets a
Kubernetes Secret of its own, mounted as a file in the notebook pod and, through
`spark.kubernetes.executor.secrets.*`, in its executors: Spark then reads it from the
file on both sides and puts nothing in the pod spec.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets

from kubernetes_asyncio.client.rest import ApiException

from . import package

SESSION_LABEL = "aglais.io/session"
# the driver pods: the chart's NetworkPolicy admits executors' traffic to these alone
DRIVER_LABEL, DRIVER_VALUE = "aglais.io/spark", "driver"
ROLE_LABEL, EXECUTOR = "spark-role", "executor"  # Spark's own label on its executor pods
# Fixed ports, so that NetworkPolicies can name them (Spark's Kubernetes defaults): the
# driver's RPC and block manager, and every executor's block manager. A second driver in
# the same pod (a second kernel) takes the next free ports: at most PORT_RETRIES above.
DRIVER_PORT, BLOCK_MANAGER_PORT, PORT_RETRIES = 7078, 7079, 16
AUTH_VOLUME = "aglais-spark-auth"
AUTH_DIR = "/var/run/aglais/spark-auth"
AUTH_KEY = "secret"
TEMPLATE_FILE = "executor-pod-template.json"
EXECUTOR_CONTAINER = "spark-executor"


def wanted(grant: dict | None) -> bool:
    """Whether the session's package has Spark workers (executors to run)."""
    return bool(grant) and package.spark_workers(grant)[0] > 0


def secret_name(pod_name: str) -> str:
    return f"{pod_name}-spark-auth"


def millicores(cores: float) -> str:
    """A Kubernetes CPU quantity: 0.5 -> "500m" (Kubernetes takes fractions, Spark does not)."""
    return f"{max(1, round(cores * 1000))}m"


def settings(grant: dict, *, master: str, namespace: str, pod_name: str, image: str, labels: dict,
             executor_service_account: str, template_path: str) -> dict:
    """The Spark settings (spark-defaults.conf) of a session's driver, besides
    package.spark's sizing: client mode on `master`, the executors' pods (namespace, owner,
    image, cores, labels, template, account) and authentication from the session's Secret.
    `spark.driver.host` is the pod's IP, known only in the pod (the postStart hook adds it)."""
    _, cores, _ = package.spark_workers(grant)
    auth_file = f"{AUTH_DIR}/{AUTH_KEY}"
    conf = {
        "spark.master": master,
        "spark.submit.deployMode": "client",
        "spark.driver.bindAddress": "0.0.0.0",
        "spark.driver.port": str(DRIVER_PORT),
        "spark.driver.blockManager.port": str(BLOCK_MANAGER_PORT),
        "spark.blockManager.port": str(BLOCK_MANAGER_PORT),
        "spark.port.maxRetries": str(PORT_RETRIES),
        "spark.kubernetes.namespace": namespace,
        # executors get an ownerReference to this pod: the cluster's garbage collector
        # removes them with it
        "spark.kubernetes.driver.pod.name": pod_name,
        "spark.kubernetes.container.image": image,
        "spark.kubernetes.executor.request.cores": millicores(cores),
        "spark.kubernetes.executor.limit.cores": millicores(cores),
        "spark.kubernetes.executor.podTemplateFile": template_path,
        # no ConfigMap of the driver's conf directory for the executors: the driver needs
        # no right on ConfigMaps
        "spark.kubernetes.executor.disableConfigMap": "true",
        "spark.authenticate": "true",
        "spark.authenticate.secret.driver.file": auth_file,
        "spark.authenticate.secret.executor.file": auth_file,
        f"spark.kubernetes.executor.secrets.{secret_name(pod_name)}": AUTH_DIR,
        "spark.network.crypto.enabled": "true",  # RPC and block transfers encrypted (AES)
    }
    if executor_service_account:
        conf["spark.kubernetes.authenticate.executor.serviceAccountName"] = executor_service_account
    for key, value in labels.items():
        conf[f"spark.kubernetes.executor.label.{key}"] = value
    return conf


def executor_template(*, node_selector: dict, tolerations: list) -> dict:
    """The executors' pod template (spark.kubernetes.executor.podTemplateFile): what Spark
    has no setting for. The session's pool scheduling (a taint needs a toleration), no
    service account token, and the restricted Pod Security profile's lock-down."""
    return {
        "apiVersion": "v1", "kind": "Pod",
        "spec": {
            "automountServiceAccountToken": False,
            "nodeSelector": dict(node_selector),
            "tolerations": list(tolerations),
            "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{"name": EXECUTOR_CONTAINER, "securityContext": {
                "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}}],
        },
    }


def environment(*, template: dict) -> dict:
    """What the postStart hook needs besides the settings: the pod's IP (the downward API)
    for spark.driver.host, and the executors' pod template to write."""
    return {
        "AGLAIS_SPARK_DRIVER_HOST": {"valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        "AGLAIS_SPARK_EXECUTOR_TEMPLATE": json.dumps(template, sort_keys=True),
    }


def auth_volume(pod_name: str) -> tuple[dict, dict]:
    """(volume, mount) of the session's Secret in the notebook pod. Readable by every user
    in the pod (0444): the pod's processes are all its owner's."""
    volume = {"name": AUTH_VOLUME, "secret": {"secretName": secret_name(pod_name), "defaultMode": 0o444}}
    return volume, {"name": AUTH_VOLUME, "mountPath": AUTH_DIR, "readOnly": True}


def auth_secret(pod_name: str, labels: dict) -> dict:
    """A new Secret of the session: one random key, never in a pod spec or a log."""
    value = base64.b64encode(secrets.token_urlsafe(32).encode()).decode()
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": secret_name(pod_name), "labels": dict(labels)}, "data": {AUTH_KEY: value}}


async def create_secret(api, namespace: str, body: dict, timeout: float) -> None:
    """Create the session's Secret; one left by an earlier start is replaced (deleted,
    then created: the hub's Role has no update)."""
    name = body["metadata"]["name"]
    try:
        await asyncio.wait_for(api.create_namespaced_secret(namespace, body), timeout)
        return
    except ApiException as e:
        if e.status != 409:
            raise
    await asyncio.wait_for(api.delete_namespaced_secret(name, namespace), timeout)
    await asyncio.wait_for(api.create_namespaced_secret(namespace, body), timeout)


def _session_executors(pods, session: str) -> list[str]:
    """The names of `pods` that are the session's executors. The label selector is
    checked here again: the API server applies it, a stand-in may not, and deleting
    another session's pods is worse than listing too many."""
    return [pod.metadata.name for pod in pods.items
            if (pod.metadata.labels or {}).get(SESSION_LABEL) == session
            and (pod.metadata.labels or {}).get(ROLE_LABEL) == EXECUTOR]


async def remove(api, namespace: str, session: str, pod_name: str, timeout: float, log) -> list[str]:
    """Delete the session's executor pods (label `aglais.io/session=<session>`,
    `spark-role=executor`) and its auth Secret; the names of the executors deleted.
    The cluster's garbage collector would delete executors whose owner is gone, but a
    driver killed hard may leave executors it made after its pod was deleted, and a
    cluster may collect late: this does it at once. Failures are logged, not raised: the
    server is stopped either way."""
    selector = f"{SESSION_LABEL}={session},{ROLE_LABEL}={EXECUTOR}"
    deleted = []
    try:
        pods = await asyncio.wait_for(api.list_namespaced_pod(namespace, label_selector=selector), timeout)
        for name in _session_executors(pods, session):
            try:
                await asyncio.wait_for(api.delete_namespaced_pod(name, namespace, grace_period_seconds=0), timeout)
                deleted.append(name)
            except ApiException as e:
                if e.status != 404:
                    raise
    except (ApiException, asyncio.TimeoutError, OSError) as e:
        log.warning("Could not remove the Spark executors of session %s in %s: %s", session, namespace,
                    getattr(e, "reason", None) or type(e).__name__)
    if deleted:
        log.info("Deleted the Spark executors of session %s (%s): %s", session, pod_name, ", ".join(deleted))
    try:
        await asyncio.wait_for(api.delete_namespaced_secret(secret_name(pod_name), namespace), timeout)
    except ApiException as e:
        if e.status != 404:
            log.warning("Could not delete the Spark secret %s: %s %s", secret_name(pod_name), e.status, e.reason)
    except (asyncio.TimeoutError, OSError) as e:
        log.warning("Could not delete the Spark secret %s: %s", secret_name(pod_name), type(e).__name__)
    return deleted
