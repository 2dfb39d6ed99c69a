"""A server's volumes by the user's level (pure): the home, /tmp and an optional
read-only /data, sized by the quota of the user's groups (aglais_common.quota.effective),
so that a project group that adds quota adds storage; and the file layout's read-only
examples (aglais_common.layout): a volume, or a git repository cloned by an init
container into an emptyDir that the notebook container mounts read-only."""

from __future__ import annotations

import posixpath

from aglais_common import layout
from aglais_common.quota import effective

HOME, TMP, DATA, EXAMPLES = "aglais-home", "aglais-tmp", "aglais-data", "aglais-examples"
OURS = (HOME, TMP, DATA, EXAMPLES)
CLONE = "aglais-examples-clone"  # the init container
CLONE_PATH = "/srv/examples"  # where it sees the examples volume

# The init container's command. The repository and ref come in its environment, never in
# this text, so no URL is ever read as shell. A clone that fails (the host is down, the
# ref is gone) must not cost the user their server: the examples then hold a note saying
# so, and the server starts without them.
CLONE_SCRIPT = """\
export GIT_TERMINAL_PROMPT=0 HOME=/tmp
if git clone --quiet --depth 1 ${AGLAIS_EXAMPLES_REF:+--branch "$AGLAIS_EXAMPLES_REF"} -- \
    "$AGLAIS_EXAMPLES_GIT" "$AGLAIS_EXAMPLES_PATH"; then
  rm -rf "$AGLAIS_EXAMPLES_PATH/.git"
else
  echo "The examples could not be fetched from $AGLAIS_EXAMPLES_GIT when this server started." \
    > "$AGLAIS_EXAMPLES_PATH/EXAMPLES-UNAVAILABLE.txt"
fi
exit 0
"""


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


def volume_spec(source: str | dict, read_only: bool = True) -> dict:
    """A volume (without its name) from a claim's name or a volume spec."""
    if isinstance(source, str):
        return {"persistentVolumeClaim": {"claimName": source, "readOnly": read_only}}
    return {key: value for key, value in source.items() if key != "name"}


def volumes(*, saved_mb: int, temp_mb: int, persistent: bool, home: str,
            data: str | dict | None, data_path: str,
            examples: str | dict | None = None) -> tuple[list[dict], list[dict]]:
    """(volumes, volumeMounts) of the notebook container: the home (KubeSpawner's claim
    when `persistent`, else an emptyDir of saved_mb), /tmp (an emptyDir of temp_mb, also
    at ~/tmp: the layout's temp area), /data read-only when `data` names a PVC or is a
    volume spec (also at ~/data), and ~/examples read-only when `examples` does."""
    if persistent:
        # KubeSpawner expands {pvc_name} when it makes the pod, after it settled the name
        # (its state, a legacy name): the claim it ensures is the claim mounted
        home_volume = {"name": HOME, "persistentVolumeClaim": {"claimName": "{pvc_name}"}}
    else:
        home_volume = {"name": HOME, "emptyDir": {"sizeLimit": mebibytes(saved_mb)}}
    vols = [home_volume, {"name": TMP, "emptyDir": {"sizeLimit": mebibytes(temp_mb)}}]
    mounts = [{"name": HOME, "mountPath": home}, {"name": TMP, "mountPath": "/tmp"},
              {"name": TMP, "mountPath": posixpath.join(home, layout.TEMP)}]
    if data:
        vols.append({"name": DATA, **volume_spec(data)})
        mounts.append({"name": DATA, "mountPath": data_path, "readOnly": True})
        mounts.append({"name": DATA, "mountPath": posixpath.join(home, layout.DATA), "readOnly": True})
    if examples:
        vols.append({"name": EXAMPLES, **volume_spec(examples)})
        mounts.append({"name": EXAMPLES, "mountPath": posixpath.join(home, layout.EXAMPLES), "readOnly": True})
    return vols, mounts


def literal(text: str) -> str:
    """`text` as a KubeSpawner template that formats to `text` itself."""
    return text.replace("{", "{{").replace("}", "}}")


def examples_clone(*, url: str, ref: str, image: str, uid: int | None, size_mb: int) -> tuple[dict, dict]:
    """(the examples' emptyDir, the init container that clones `url` at `ref` into it):
    the only container that can write it; the notebook container mounts it read-only.
    KubeSpawner formats its init containers' strings as templates ({username} and so on:
    get_pod_manifest's _expand_all, kubespawner 7.1.0 spawner.py), so every brace here is
    doubled: the script's and the URL's reach the container as they are."""
    container = {
        "name": CLONE,
        "image": literal(image),
        "command": ["sh", "-c", literal(CLONE_SCRIPT)],
        "env": [{"name": "AGLAIS_EXAMPLES_GIT", "value": literal(url)},
                {"name": "AGLAIS_EXAMPLES_REF", "value": literal(ref)},
                {"name": "AGLAIS_EXAMPLES_PATH", "value": CLONE_PATH}],
        "volumeMounts": [{"name": EXAMPLES, "mountPath": CLONE_PATH}],
        "securityContext": {"runAsNonRoot": True, "allowPrivilegeEscalation": False,
                            "capabilities": {"drop": ["ALL"]}, **({"runAsUser": uid} if uid is not None else {})},
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}},
    }
    return {"emptyDir": {"sizeLimit": mebibytes(size_mb)}}, container


def without_ours(items: list[dict]) -> list[dict]:
    """Configured volumes or mounts without ours (a previous session's)."""
    return [item for item in items if item.get("name") not in OURS]
