"""The retention job on Kubernetes: a user's saved data is their home's PersistentVolumeClaim,
named as KubeSpawner names it (its `pvc_name_template`), read and deleted through the
Kubernetes API with the hub pod's service account (or $KUBECONFIG outside a cluster).

Temp data needs nothing here: a pod's /tmp is an emptyDir that goes with the pod.
Imported only when the job runs with a PVC name template, so a hub without the
`kubernetes` extra never needs kubespawner or kubernetes_asyncio."""

from __future__ import annotations

import string
from dataclasses import dataclass
from datetime import datetime, timezone
from types import SimpleNamespace

from kubernetes_asyncio import client, config
from kubernetes_asyncio.client.rest import ApiException
from kubernetes_asyncio.config import ConfigException
from kubespawner import KubeSpawner

from aglais_common.quota import quantity_bytes

from .rules import Entry

__all__ = ["USERNAME_ANNOTATION", "ApiException", "Claim", "Claims", "api_error", "check_template", "pod_namespace",
           "pvc_name"]

SERVICE_ACCOUNT_NAMESPACE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
# KubeSpawner's fields that need more than the user's name (the hub's user id, the
# spawner's other names), which the hub's REST API does not give the job
UNKNOWN_FIELDS = {"userid", "pod_name", "pvc_name"}
USERNAME_ANNOTATION = "hub.jupyter.org/username"  # KubeSpawner's, on the PVCs it makes


def pod_namespace() -> str:
    """The namespace this pod runs in (as KubeSpawner's default), else 'default'."""
    try:
        with open(SERVICE_ACCOUNT_NAMESPACE) as f:
            return f.read().strip()
    except OSError:
        return "default"


def check_template(template: str) -> str:
    """`template` if the job can format it from a user's name alone, else ValueError."""
    fields = {name.split(".")[0].split("[")[0] for _, name, _, _ in string.Formatter().parse(template) if name}
    unknown = sorted(fields & UNKNOWN_FIELDS)
    if unknown:
        raise ValueError(f"RetentionJob.pvc_name_template may not use {{{unknown[0]}}}: the hub's API does not "
                         f"tell the job a user's {unknown[0]}")
    return template


# --- upstream private API, fenced -------------------------------------------------------
# KubeSpawner 7.1 has no public function that formats its name templates: the spawner does
# it in KubeSpawner._expand_user_properties, escaping the name by its slug_scheme (hashes
# and length limits included), see
# https://github.com/jupyterhub/kubespawner/blob/7.1.0/kubespawner/spawner.py#L2092
# Calling it (rather than copying it) keeps the job's names the spawner's. It reads these
# attributes of the spawner; the user's default server (name '') is the one with a home.
def pvc_name(template: str, username: str, *, namespace: str, slug_scheme: str = "safe") -> str:
    """The PVC name KubeSpawner gives `username`'s default server under `template`."""
    spawner = SimpleNamespace(slug_scheme=slug_scheme, name="", user=SimpleNamespace(name=username, id=None),  # {userid}: refused
                              namespace=namespace, _namespace_default=pod_namespace)
    return KubeSpawner._expand_user_properties(spawner, template)
# --- end of the fenced upstream private API ----------------------------------------------


def parse_quantity(text: str | None) -> int:
    """Bytes in a Kubernetes quantity ('10Gi', '500M'); 0 if there is none."""
    try:
        return int(quantity_bytes(text or ""))
    except ValueError:
        return 0


@dataclass(frozen=True)
class Claim:
    """A user's home volume as the job read it."""

    name: str
    uid: str
    size: int  # bytes: the capacity bound, else the size requested
    created: datetime
    username: str | None  # KubeSpawner's annotation of whose it is, if it has one

    @property
    def entries(self) -> list[Entry]:
        """The home as the planner sees it: one entry, all saved data (no temp data)."""
        return [Entry(self.name, self.size, self.created)]


class Claims:
    """The PersistentVolumeClaims of one namespace, through the Kubernetes API."""

    def __init__(self, namespace: str):
        self.namespace = namespace
        self._api: client.ApiClient | None = None

    async def __aenter__(self) -> "Claims":
        try:
            config.load_incluster_config()  # the pod's service account
        except ConfigException:
            await config.load_kube_config()  # $KUBECONFIG, else ~/.kube/config
        self._api = client.ApiClient()
        self.core = client.CoreV1Api(self._api)
        return self

    async def __aexit__(self, *exc) -> None:
        await self._api.close()

    async def get(self, name: str) -> Claim | None:
        """The claim, or None if there is none (a level without a saved home, say)."""
        try:
            pvc = await self.core.read_namespaced_persistent_volume_claim(name, self.namespace)
        except ApiException as e:
            if e.status == 404:
                return None
            raise
        capacity = (pvc.status and pvc.status.capacity) or {}
        requests = (pvc.spec.resources and pvc.spec.resources.requests) or {}
        return Claim(name=name, uid=pvc.metadata.uid or "",
                     size=parse_quantity(capacity.get("storage") or requests.get("storage")),
                     created=pvc.metadata.creation_timestamp or datetime.now(timezone.utc),
                     username=(pvc.metadata.annotations or {}).get(USERNAME_ANNOTATION))

    async def delete(self, claim: Claim) -> None:
        """Delete it if it is still the claim that was read (same uid); ApiException if
        the API refuses. Kubernetes keeps a claim a pod still uses until that pod is gone."""
        preconditions = client.V1Preconditions(uid=claim.uid) if claim.uid else None
        await self.core.delete_namespaced_persistent_volume_claim(
            claim.name, self.namespace, body=client.V1DeleteOptions(preconditions=preconditions))


def api_error(e: ApiException) -> str:
    """What the API said, short, for the log."""
    return f"{e.status} {e.reason}"

