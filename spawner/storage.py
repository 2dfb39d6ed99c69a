"""A server's volumes by the user's level (pure): the home, /tmp and an optional
read-only /data, sized by the quota of the user's groups (aglais_common.quota.effective),
so that a project group that adds quota adds storage."""

from __future__ import annotations

from aglais_common.quota import effective

HOME, TMP, DATA = "aglais-home", "aglais-tmp", "aglais-data"
OURS = (HOME, TMP, DATA)


class NoQuota(ValueError):
    pass


def quota(group_properties: list[dict]) -> tuple[int, int]:
    """(saved_mb, temp_mb) the groups grant together; NoQuota when either is missing or
    not above zero (a server without a size would get the node's whole disk)."""
    granted = effective(group_properties).get("quota", {})
    sizes = tuple(granted.get(key) for key in ("saved_mb", "temp_mb"))
    if not all(isinstance(size, (int, float)) and size > 0 for size in sizes):
        raise NoQuota(f"the user's groups grant saved_mb={sizes[0]!r}, temp_mb={sizes[1]!r}: storage needs both")
    return int(sizes[0]), int(sizes[1])


def mebibytes(mb: int) -> str:
    """The project's MB are MiB (hub_extension/accounts/usage.py): a Kubernetes quantity."""
    return f"{int(mb)}Mi"


def volumes(*, saved_mb: int, temp_mb: int, persistent: bool, home: str,
            data: str | dict | None, data_path: str) -> tuple[list[dict], list[dict]]:
    """(volumes, volumeMounts) of the notebook container: the home (KubeSpawner's claim
    when `persistent`, else an emptyDir of saved_mb), /tmp (an emptyDir of temp_mb), and
    /data read-only when `data` names a PVC or is a volume spec."""
    if persistent:
        # KubeSpawner expands {pvc_name} when it makes the pod, after it settled the name
        # (its state, a legacy name): the claim it ensures is the claim mounted
        home_volume = {"name": HOME, "persistentVolumeClaim": {"claimName": "{pvc_name}"}}
    else:
        home_volume = {"name": HOME, "emptyDir": {"sizeLimit": mebibytes(saved_mb)}}
    vols = [home_volume, {"name": TMP, "emptyDir": {"sizeLimit": mebibytes(temp_mb)}}]
    mounts = [{"name": HOME, "mountPath": home}, {"name": TMP, "mountPath": "/tmp"}]
    if data:
        spec = ({"persistentVolumeClaim": {"claimName": data, "readOnly": True}} if isinstance(data, str)
                else {key: value for key, value in data.items() if key != "name"})
        vols.append({"name": DATA, **spec})
        mounts.append({"name": DATA, "mountPath": data_path, "readOnly": True})
    return vols, mounts


def without_ours(items: list[dict]) -> list[dict]:
    """Configured volumes or mounts without ours (a previous session's)."""
    return [item for item in items if item.get("name") not in OURS]
