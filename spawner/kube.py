"""BookingKubeSpawner: the booking-aware spawner on Kubernetes. A server's pod gets the
flavour's image (KubeSpawner profiles), the package's CPU and memory as requests and
limits, labels naming its session, on a booked pool that pool's nodes (or its Blazar
lease's), and volumes sized by the user's level (storage.py)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import posixpath
import re

from jupyterhub.spawner import SpawnException
from kubernetes_asyncio.client.rest import ApiException
from kubespawner import KubeSpawner
from traitlets import Bool, Dict, Integer, List, Unicode, Union, default

from . import package, spark_kube, storage
from aglais_common import layout
from aglais_common.facts import FLAVOUR_LABELS, FLAVOURS, LEVEL_GROUPS
from aglais_common.quota import quantity_bytes

from .mixin import BookingServiceDown, BookingSpawnerMixin, _inside

PREFIX = "aglais.io/"
POOL_KEY = PREFIX + "pool"
# The labels a Blazar lease puts on the nodes it reserves, as Chameleon Cloud's
# Kubernetes sites (CHI@Edge) select them for a reservation's workloads.
BLAZAR_PREFIX = "blazar.openstack.org/"
BLAZAR_RESERVATION = BLAZAR_PREFIX + "reservation_id"
BLAZAR_PROJECT = BLAZAR_PREFIX + "project_id"

_LABEL_VALUE = re.compile(r"(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?")

# Runs in the container right after it starts. SPARK_CONF_DIR replaces $SPARK_HOME/conf
# as a whole, so the image's own files (log4j2, its spark-defaults such as the JVM options
# the docker-stacks images need) are copied first and the package's settings appended:
# in a properties file the last value of a key wins. A failing postStart hook gets the
# container killed, so a home that cannot be written must not cost the user the server:
# the SPARK_EXECUTOR_* variables still carry the sizing. With Spark executors on
# Kubernetes (spark_kube.py) it adds the driver's address, the pod's IP, which only the
# pod knows, and writes the executors' pod template.
SPARK_CONF_SCRIPT = """\
mkdir -p "$SPARK_CONF_DIR" || exit 0
base=""
if [ -n "$SPARK_HOME" ] && [ -d "$SPARK_HOME/conf" ] && [ "$SPARK_HOME/conf" != "$SPARK_CONF_DIR" ]; then
  cp -n "$SPARK_HOME"/conf/* "$SPARK_CONF_DIR"/ 2>/dev/null
  base="$SPARK_HOME/conf/spark-defaults.conf"
fi
new="$SPARK_CONF_DIR/spark-defaults.conf.new"
{ if [ -f "$base" ]; then cat "$base"; echo; fi; printf '%s' "$AGLAIS_SPARK_DEFAULTS"
  if [ -n "$AGLAIS_SPARK_DRIVER_HOST" ]; then printf 'spark.driver.host %s\\n' "$AGLAIS_SPARK_DRIVER_HOST"; fi
} > "$new" && mv "$new" "$SPARK_CONF_DIR/spark-defaults.conf"
if [ -n "$AGLAIS_SPARK_EXECUTOR_TEMPLATE" ]; then
  printf '%s' "$AGLAIS_SPARK_EXECUTOR_TEMPLATE" > "$SPARK_CONF_DIR/executor-pod-template.json"
fi
exit 0
"""


def label_value(value) -> str:
    """A valid label value (<= 63 characters of [A-Za-z0-9-_.], alphanumeric at both
    ends): `value` itself if it is one, else its valid characters plus a hash of the
    original, so that two different names never share a label."""
    text = "" if value is None else str(value)
    if _LABEL_VALUE.fullmatch(text):
        return text
    digest = hashlib.sha256(text.encode()).hexdigest()[:8]
    cleaned = re.sub(r"[^A-Za-z0-9_.-]+", "-", text)[: 63 - 1 - len(digest)].strip("-_.")
    return f"{cleaned}-{digest}" if cleaned else digest


def session_labels(grant: dict) -> dict:
    """aglais.io/* labels naming the session (booking and level only when there is one)."""
    labels = {
        "session": grant["id"],
        "booking": grant.get("booking_id"),
        "package": (grant.get("package") or {}).get("name", "custom"),
        "pool": grant["pool"],
        "kind": grant["kind"],
        "level": grant.get("level"),  # newer booking services send it; older ones do not
    }
    return {PREFIX + key: label_value(value) for key, value in labels.items() if value is not None}


def pool_scheduling(grant: dict) -> tuple[dict, list]:
    """Node selector and toleration that put a booked session on its pool's nodes,
    labelled ``aglais.io/pool=<pool>`` and tainted ``aglais.io/pool=<pool>:NoSchedule``
    so that nothing else lands there; walk-in sessions share the untainted nodes."""
    if grant.get("kind") != "booking":  # only bookings hold a reserved pool
        return {}, []
    pool = label_value(grant["pool"])
    return {POOL_KEY: pool}, [{"key": POOL_KEY, "operator": "Equal", "value": pool, "effect": "NoSchedule"}]


def blazar_scheduling(reservation_id: str, project_id: str = "") -> dict:
    """The node selector of a pool held by a Blazar lease: its nodes are labelled with
    the reservation (and the lessee's project). No toleration: a lease does not taint."""
    selector = {BLAZAR_RESERVATION: label_value(reservation_id)}
    if project_id:
        selector[BLAZAR_PROJECT] = label_value(project_id)
    return selector


def api_message(error: ApiException) -> str:
    """The message of the API server's Status answer (its reason if it sent none)."""
    try:
        return json.loads(error.body).get("message") or error.reason
    except (TypeError, ValueError, AttributeError):
        return str(error.reason)


def spark_environment(grant: dict, conf_dir: str, extra: dict | None = None) -> dict:
    """The variables the postStart hook turns into $SPARK_CONF_DIR/spark-defaults.conf
    (`extra`: the settings of Spark on Kubernetes, spark_kube.py)."""
    return {"SPARK_CONF_DIR": conf_dir, "AGLAIS_SPARK_DEFAULTS": package.spark_defaults(grant, extra)}


def spark_conf_hook() -> dict:
    return {"exec": {"command": ["sh", "-c", SPARK_CONF_SCRIPT]}}


def without_ours(mapping: dict) -> dict:
    """`mapping` without aglais.io/ and blazar.openstack.org/ keys: what the configuration
    set, before a session's own."""
    return {key: value for key, value in mapping.items() if not str(key).startswith((PREFIX, BLAZAR_PREFIX))}


class BookingKubeSpawner(BookingSpawnerMixin, KubeSpawner):
    flavour_images = Dict(
        {"jupyter": "jupyter/pyspark-notebook:latest", "zeppelin": "aglais/zeppelin:0.1.0"},
        config=True,
        help="""Image of each flavour ("jupyter", "zeppelin"); a flavour without an image is
        not offered. Pin tags, and use your registry's copies: the Jupyter images' copies on
        Docker Hub are no longer updated (since late 2023). The Zeppelin image is
        images/zeppelin/Dockerfile's (Apache Zeppelin behind jupyterhub-singleuser).
        """,
    )
    zeppelin_cmd = List(
        ["jupyterhub-singleuser"], config=True,
        help="""Command of the Zeppelin container. Zeppelin is not a Jupyter server: the hub
        reaches it through jupyterhub-singleuser, in which jupyter-server-proxy runs Zeppelin
        at ``/zeppelin/`` (aglais_lab, images/zeppelin/Dockerfile).
        """,
    )
    zeppelin_port = Integer(
        8888, config=True,
        help="Port the Zeppelin container's single-user server listens on (jupyterhub-singleuser's, 8888).",
    )
    zeppelin_default_url = Unicode(
        "/zeppelin/", config=True,
        help="Where a Zeppelin server opens: Zeppelin itself, behind the single-user server.",
    )
    reserved_pool_scheduling = Bool(
        True, config=True,
        help="""Put booked sessions on their pool's nodes: a node selector
        ``aglais.io/pool=<pool>`` and a toleration of the taint
        ``aglais.io/pool=<pool>:NoSchedule``. Turn off where pools are not node groups.
        """,
    )
    blazar_reservations = Dict(
        key_trait=Unicode(), value_trait=Unicode(), config=True,
        help="""Pools whose nodes a Blazar lease holds: pool name -> the lease's reservation
        id. A session on such a pool (booked or walk-in) gets the node selector
        ``blazar.openstack.org/reservation_id=<id>`` (the label Blazar puts on the nodes
        it reserves, which Chameleon Cloud selects the same way) and the pod that label
        too, instead of the ``aglais.io/pool`` selector and toleration.
        """,
    )
    blazar_project_id = Unicode(
        "", config=True,
        help="""With `blazar_reservations`: also select nodes labelled
        ``blazar.openstack.org/project_id=<this>``, the project holding the leases.""",
    )
    storage_by_level = Bool(
        True, config=True,
        help="""Give each server a home, /tmp and (with `data_volume`) /data sized by the
        quota of the user's groups: the home an emptyDir of ``quota.saved_mb`` MiB for
        users in none of `persistent_home_groups`, else a PersistentVolumeClaim of that
        size (KubeSpawner's `pvc_name_template`, grown when the quota grows); /tmp an
        emptyDir of ``quota.temp_mb`` MiB, mounted at ~/tmp too, as /data is at ~/data
        (the layout of aglais_common.layout). Turn off to configure KubeSpawner's storage
        yourself.
        """,
    )
    persistent_home_groups = List(
        Unicode(), config=True,
        help="""Members of these hub groups get a PersistentVolumeClaim for their home,
        everyone else an emptyDir that goes with the pod. Default: every level of
        `Levels.groups` but the first (the trial level).
        """,
    )
    home_mount_path = Unicode(
        "/home/jovyan", config=True,
        help="Where the home volume is mounted in the notebook container (the docker-stacks images' home).",
    )
    data_volume = Union(
        [Unicode(), Dict()], default_value="", config=True,
        help="""A read-only data volume for every server, mounted at `data_mount_path`:
        the name of a PersistentVolumeClaim in the servers' namespace, or a volume spec
        without its name (e.g. ``{"nfs": {"server": "nfs.example", "path": "/data"}}``).
        Empty: no data volume.
        """,
    )
    data_mount_path = Unicode("/data", config=True, help="Where `data_volume` is mounted, read-only.")
    examples_volume = Union(
        [Unicode(), Dict()], default_value="", config=True,
        help="""Example notebooks for every server, mounted read-only at ~/examples: the
        name of a PersistentVolumeClaim in the servers' namespace, or a volume spec without
        its name (as `data_volume`). Takes precedence over `examples_git_url`.""",
    )
    examples_git_url = Unicode(
        "", config=True,
        help="""A git repository of example notebooks: an init container clones it (depth 1)
        into an emptyDir at every start, which the notebook container mounts read-only at
        ~/examples. A clone that fails leaves a note there instead, and the server starts.
        The image must have git (the docker-stacks images do).""",
    )
    examples_git_ref = Unicode("", config=True, help="The branch or tag of `examples_git_url` (empty: its default branch).")
    examples_git_image = Unicode(
        "", config=True,
        help="""Image of the init container that clones `examples_git_url` (it needs git). Empty:
        the Jupyter flavour's image (`flavour_images`), whichever flavour the server is.""",
    )
    examples_size_mb = Integer(
        200, config=True, help="Size limit (MiB) of the emptyDir `examples_git_url` is cloned into.",
    )
    spark_conf_dir = Unicode(
        "/home/jovyan/.aglais/spark", config=True,
        help="""SPARK_CONF_DIR in the container, where a postStart hook writes the
        session's spark-defaults.conf (after the image's own Spark configuration).
        """,
    )

    spark_executors = Bool(
        True, config=True,
        help="""Run a package's Spark workers as executor pods, the notebook pod being the
        Spark driver in client mode (docs/spawner.md, "Spark on Kubernetes"). Needs the
        chart's ``spark.enabled`` (its service accounts, Role and policies). Off: Spark
        sessions get only the sizing settings, as packages without workers do.
        """,
    )
    spark_master = Unicode(
        "k8s://https://kubernetes.default.svc", config=True,
        help="""The Spark master of a Spark session's driver: the cluster's API server as
        the pod reaches it.""",
    )
    spark_executor_image = Unicode(
        "", config=True,
        help="""Image of the Spark executor pods. Empty: the notebook's own image (the same
        Spark and Python as the driver's, which PySpark needs). It must run an executor
        when given the argument ``executor`` (Spark's own images' entrypoint does).
        """,
    )
    spark_service_account = Unicode(
        "aglais-spark-driver", config=True,
        help="""Service account of Spark sessions' pods (their token mounted), whose Role
        lets the driver manage pods; the chart's ``spark.driverServiceAccount``. Servers
        without Spark workers get no token.
        """,
    )
    spark_executor_service_account = Unicode(
        "aglais-spark-executor", config=True,
        help="""Service account of the executor pods (no token mounted, no rights); the
        chart's ``spark.executorServiceAccount``. Empty: the namespace's default.
        """,
    )

    @default("persistent_home_groups")
    def _default_persistent_home_groups(self):
        return self.level_groups()[1:]

    def level_groups(self) -> list[str]:
        """The hub groups that are levels, lowest first: the hub's own `Levels.groups`
        when its config sets them (hub_extension.levels)."""
        return list(self.config.Levels.get("groups", LEVEL_GROUPS))

    def user_level(self) -> int | None:
        """The number of the user's level (their highest level group), None without one."""
        names = {group.name for group in getattr(self.user, "groups", None) or []}
        return next((n for n, g in reversed(list(enumerate(self.level_groups()))) if g in names), None)

    def supported_flavours(self):
        # Zeppelin only where it has an image; Jupyter can always fall back on `image`
        return tuple(f for f in FLAVOURS if f == "jupyter" or self.flavour_images.get(f))

    # -- flavours are KubeSpawner profiles ---------------------------------------------

    @default("profile_list")
    def _default_profile_list(self):
        return self._flavour_profiles

    async def _flavour_profiles(self, spawner=None) -> list:
        """One profile per flavour the user may start. While a session is held (during
        start, KubeSpawner loads the profile) the grant decides, not a second question to
        the booking service, whose answer may have changed since."""
        if self.booking_session:
            flavours = [self.booking_session.get("flavour", "jupyter")]
        else:
            try:
                status, entitlement = await self._booking("GET", self._user_path("entitlement"))
            except BookingServiceDown:
                status, entitlement = 0, {}
            flavours = entitlement.get("flavours", []) if status == 200 else []
        profiles = [self._profile(f) for f in flavours if f in self.supported_flavours()]
        # nothing allowed or nobody answering: offer Jupyter and let start() refuse with the reason
        return profiles or [self._profile("jupyter")]

    def _profile(self, flavour: str) -> dict:
        override = {"image": self.flavour_images[flavour]} if self.flavour_images.get(flavour) else {}
        if flavour == "zeppelin":
            # Zeppelin is not a Jupyter server: the image runs jupyterhub-singleuser, in which
            # jupyter-server-proxy runs Zeppelin (aglais_lab.zeppelin), and the server opens at it
            override.update(cmd=list(self.zeppelin_cmd), port=self.zeppelin_port,
                            default_url=self.zeppelin_default_url)
        else:
            # KubeSpawner applies a profile onto the spawner itself, which the hub keeps from
            # one start to the next: after a Zeppelin server, Jupyter's settings come back
            override.update(self._configured_server())
        return {"display_name": FLAVOUR_LABELS.get(flavour, flavour), "slug": flavour,
                "kubespawner_override": override}

    def _configured_server(self) -> dict:
        """cmd, port and default_url as configured, taken at the first profile asked for,
        which comes before KubeSpawner applies any (it asks for the list first)."""
        if not hasattr(self, "_configured"):
            self._configured = {"cmd": self.cmd, "port": self.port, "default_url": self.default_url}
        cmd = self._configured["cmd"]
        return dict(self._configured, cmd=None if cmd is None else list(cmd))

    # The mixin's own flavour form and parser come first in the MRO; KubeSpawner's profile
    # form (which posts "profile") must win, hidden like the mixin's when there is no choice.
    @default("options_form")
    def _default_options_form(self):
        async def form(spawner=None):
            profiles = await self._flavour_profiles(spawner)
            return kubespawner_profile_form(self, profiles) if len(profiles) > 1 else ""
        return form

    @default("options_from_form")
    def _default_options_from_form(self):
        return kubespawner_form_parser(self)

    def requested_flavour(self) -> str:
        # the profile form posts "profile"; the REST API sends "flavour"
        options = self.user_options or {}
        return options.get("profile") or super().requested_flavour()

    # -- the session's pod ----------------------------------------------------------------

    def apply_session(self, grant: dict) -> None:
        super().apply_session(grant)
        # replace (not add to) a previous session's aglais.io/ and blazar.openstack.org/ entries
        reservation = self.blazar_reservations.get(grant["pool"])
        # the booking service's level if it sends one, else the hub's own (the user's groups)
        labels = self.session_labels(grant)
        if reservation:
            selector, tolerations = blazar_scheduling(reservation, self.blazar_project_id), []
            labels[BLAZAR_RESERVATION] = selector[BLAZAR_RESERVATION]
        elif self.reserved_pool_scheduling:
            selector, tolerations = pool_scheduling(grant)
        else:
            selector, tolerations = {}, []
        self.extra_labels = {**without_ours(self.extra_labels), **labels}
        self.node_selector = {**without_ours(self.node_selector), **selector}
        configured = kubespawner_list_values(self, self.tolerations)
        self.tolerations = [t for t in configured if t.get("key") != POOL_KEY] + tolerations
        hook = spark_conf_hook()
        if self.lifecycle_hooks.get("postStart", hook) != hook:
            self.log.warning("BookingKubeSpawner replaces the configured postStart hook with its Spark one")
        self.lifecycle_hooks = {**self.lifecycle_hooks, "postStart": hook}
        if self.storage_by_level:
            self.apply_storage()
        self.apply_spark(grant)

    def spark_session(self, grant: dict | None = None) -> bool:
        """Whether the session (default: the current one) runs Spark executor pods."""
        return self.spark_executors and spark_kube.wanted(self.booking_session if grant is None else grant)

    def apply_spark(self, grant: dict) -> None:
        """A Spark session's pod: the driver's service account with its token, the label
        the chart's NetworkPolicy admits executors to, the session's auth Secret mounted.
        Any other session: the configured account, and no token."""
        if not hasattr(self, "_configured_account"):
            self._configured_account = self.service_account
        volumes = [v for v in kubespawner_list_values(self, self.volumes) if v.get("name") != spark_kube.AUTH_VOLUME]
        mounts = [m for m in kubespawner_list_values(self, self.volume_mounts) if m.get("name") != spark_kube.AUTH_VOLUME]
        if self.spark_session(grant):
            self.service_account, self.automount_service_account_token = self.spark_service_account, True
            self.extra_labels = {**self.extra_labels, spark_kube.DRIVER_LABEL: spark_kube.DRIVER_VALUE}
            # the name is KubeSpawner's pod name, settled with the spawner's state
            volume, mount = spark_kube.auth_volume("{pod_name}")
            volumes, mounts = volumes + [volume], mounts + [mount]
        else:
            self.service_account, self.automount_service_account_token = self._configured_account, False
        self.volumes, self.volume_mounts = volumes, mounts

    def session_labels(self, grant: dict) -> dict:
        """The session's aglais.io/ labels: the booking service's level if it sends one, else
        the hub's own (the user's groups); one place for the pod, its Secret and executors."""
        return session_labels({**grant, "level": self.user_level()} if grant.get("level") is None else grant)

    async def start(self):
        self._provisioned = {}
        try:
            return await super().start()
        except BaseException as e:
            if self._provisioned:  # the session's Spark Secret, made before the pod that failed
                await self.remove_spark(self._provisioned)
            if not isinstance(e, ApiException):
                raise

            # the cluster refused (a quota, an admission policy, RBAC): say so on the spawn
            # page, with the API server's own message, rather than the hub's "500"
            message = api_message(e)
            raise SpawnException(
                f"The cluster refused to start your server: {message}", reason="cluster-refused", status_code=503,
                log_message=f"{self.user.name}'s server refused by the API server: {e.status} {message}") from None

    # -- storage by level --------------------------------------------------------------

    def group_properties(self) -> list[dict]:
        """The properties of the user's hub groups (JupyterHub group properties)."""
        return [group.properties or {} for group in getattr(self.user, "groups", None) or []]

    def has_persistent_home(self) -> bool:
        names = {group.name for group in getattr(self.user, "groups", None) or []}
        return bool(names & set(self.persistent_home_groups))

    def apply_storage(self) -> None:
        try:
            saved_mb, temp_mb = storage.quota(self.group_properties())
        except storage.NoQuota as e:
            raise SpawnException("Your account has no storage quota, so no server can start; ask an admin.",
                                 reason="no-storage", log_message=f"{self.user.name}: {e}", status_code=503) from None
        persistent = self.has_persistent_home()
        examples, clone = self.examples_volume or None, []
        if not examples and self.examples_git_url:
            examples, container = storage.examples_clone(
                url=self.examples_git_url, ref=self.examples_git_ref, image=self.examples_git_image or self.flavour_images.get("jupyter") or self.image,
                uid=self.uid if isinstance(self.uid, int) else None, size_mb=self.examples_size_mb)
            clone = [container]
        volumes, mounts = storage.volumes(
            saved_mb=saved_mb, temp_mb=temp_mb, persistent=persistent, home=self.home_mount_path,
            data=self.data_volume or None, data_path=self.data_mount_path, examples=examples)
        self.init_containers = [c for c in self.init_containers if c.get("name") != storage.CLONE] + clone
        self.volumes = storage.without_ours(kubespawner_list_values(self, self.volumes)) + volumes
        self.volume_mounts = storage.without_ours(kubespawner_list_values(self, self.volume_mounts)) + mounts
        # KubeSpawner creates the claim (storage_pvc_ensure) at storage_capacity if it is missing
        self.storage_pvc_ensure = persistent
        self.storage_capacity = storage.mebibytes(saved_mb) if persistent else None

    async def provision(self, grant: dict) -> None:
        """A Spark session's auth Secret (spark_kube.py). Grow an existing home claim to a
        larger quota (a claim never shrinks): the API server accepts it where the
        StorageClass allows volume expansion."""
        await super().provision(grant)
        if self.spark_session(grant):
            # before the pod, which mounts it (a pod waits for a missing Secret)
            self._provisioned = grant  # start() removes it again if the server does not come up
            await spark_kube.create_secret(self.api, self.namespace, spark_kube.auth_secret(
                self.pod_name, self.session_labels(grant)), self.k8s_api_request_timeout)
        if not (self.storage_by_level and self.storage_pvc_ensure):
            return
        timeout = self.k8s_api_request_timeout
        try:
            claim = await asyncio.wait_for(
                self.api.read_namespaced_persistent_volume_claim(self.pvc_name, self.namespace), timeout)
        except ApiException as e:
            if e.status == 404:
                return  # KubeSpawner creates it at the quota's size
            raise
        have = ((claim.spec.resources.requests or {}) if claim.spec.resources else {}).get("storage", "0")
        if quantity_bytes(have) >= quantity_bytes(self.storage_capacity):
            return
        patch = {"spec": {"resources": {"requests": {"storage": self.storage_capacity}}}}
        try:
            await asyncio.wait_for(
                self.api.patch_namespaced_persistent_volume_claim(self.pvc_name, self.namespace, patch), timeout)
        except ApiException as e:
            self.log.warning("Could not grow %s's home claim %s from %s to %s (does its StorageClass allow volume "
                             "expansion?): %s %s", self.user.name, self.pvc_name, have, self.storage_capacity,
                             e.status, e.reason)
            return
        self.log.info("Asked to grow %s's home claim %s from %s to %s", self.user.name, self.pvc_name, have,
                      self.storage_capacity)

    def file_layout(self) -> layout.Layout | None:
        """Where this user's notebooks, saved data, temp data, shared data and examples are
        in the container (aglais_common.layout); None without `storage_by_level`, which
        makes them."""
        if not self.storage_by_level:
            return None
        examples = self.examples_volume or self.examples_git_url
        return layout.Layout(self.home_mount_path, data=self.data_mount_path if self.data_volume else None,
                             examples=posixpath.join(self.home_mount_path, layout.EXAMPLES) if examples else None)

    def get_env(self):
        env = super().get_env()
        files = self.file_layout()
        if files:
            env.update(files.environment())
        if self.booking_session:
            # here rather than in `environment`, which KubeSpawner formats as a template
            extra = {}
            if self.spark_session():
                extra = self.spark_settings()
                env.update(spark_kube.environment(template=spark_kube.executor_template(
                    node_selector=self.node_selector, tolerations=kubespawner_list_values(self, self.tolerations))))
            env.update(spark_environment(self.booking_session, self.spark_conf_dir, extra))
        return env

    # -- Spark on Kubernetes (spark_kube.py) ---------------------------------------------

    def spark_settings(self) -> dict:
        """The driver's settings for the current session's executors (when the pod is made:
        its name, namespace and image are settled by then)."""
        grant = self.booking_session
        labels = self.session_labels(grant)
        return spark_kube.settings(
            grant, master=self.spark_master, namespace=self.namespace, pod_name=self.pod_name,
            image=self.spark_executor_image or self.image, labels=labels,
            executor_service_account=self.spark_executor_service_account,
            template_path=f"{self.spark_conf_dir}/{spark_kube.TEMPLATE_FILE}")

    async def remove_spark(self, grant: dict) -> None:
        """Delete the session's executors and auth Secret (spark_kube.remove)."""
        # once a session: KubeSpawner.poll's own stop(now=True) may have removed them already
        done = self.__dict__.setdefault("_spark_removed", set())
        if self.spark_session(grant) and grant.get("id") not in done:
            done.add(grant.get("id"))
            await spark_kube.remove(self.api, self.namespace, session_labels(grant)[PREFIX + "session"],
                                    self.pod_name, self.k8s_api_request_timeout, self.log)

    async def stop(self, now=False):
        session = self.booking_session
        stopping = self._stop_reason() is not None  # not KubeSpawner.start() clearing a stale pod
        try:
            await super().stop(now=now)
        finally:
            if stopping:
                await self.remove_spark(session)

    async def poll(self):
        session, caller = self.booking_session, _inside.get()
        status = await super().poll()
        if status is not None and caller not in ("start", "stop"):
            await self.remove_spark(session)  # the pod is gone: so must its executors be
        return status


# --- kubespawner's private API: every use of it is here ------------------------------------
# Written against kubespawner 7.1.0; tests/test_upstream.py fails loudly when one of these
# names or signatures changes upstream.

def kubespawner_profile_form(spawner: KubeSpawner, profiles: list) -> str:
    """The HTML of KubeSpawner's profile form for `profiles`. It has no public renderer
    for a list computed at request time:
    https://github.com/jupyterhub/kubespawner/blob/7.1.0/kubespawner/spawner.py#L3495"""
    return spawner._render_options_form(profiles)


def kubespawner_form_parser(spawner: KubeSpawner):
    """KubeSpawner's parser of its profile form (posts "profile"), which its
    `options_from_form` default returns and ours replaces:
    https://github.com/jupyterhub/kubespawner/blob/7.1.0/kubespawner/spawner.py#L3600"""
    return spawner._options_from_form


def kubespawner_list_values(spawner: KubeSpawner, value) -> list:
    """A list-or-dict option (`tolerations` may be either) as KubeSpawner reads it:
    https://github.com/jupyterhub/kubespawner/blob/7.1.0/kubespawner/spawner.py#L2210"""
    return spawner._sorted_dict_values(value)
