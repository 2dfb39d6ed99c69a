"""BookingKubeSpawner: the booking-aware spawner on Kubernetes. A server's pod gets the
flavour's image (KubeSpawner profiles), the package's CPU and memory as requests and
limits, labels naming its session, and, on a booked pool, that pool's nodes."""

from __future__ import annotations

import hashlib
import re

from kubespawner import KubeSpawner
from traitlets import Bool, Dict, Integer, List, Unicode, default

from . import package
from aglais_common.facts import FLAVOUR_LABELS, FLAVOURS

from .mixin import BookingServiceDown, BookingSpawnerMixin

PREFIX = "aglais.io/"
POOL_KEY = PREFIX + "pool"

_LABEL_VALUE = re.compile(r"(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?")

# Runs in the container right after it starts. SPARK_CONF_DIR replaces $SPARK_HOME/conf
# as a whole, so the image's own files (log4j2, its spark-defaults such as the JVM options
# the docker-stacks images need) are copied first and the package's settings appended:
# in a properties file the last value of a key wins. A failing postStart hook gets the
# container killed, so a home that cannot be written must not cost the user the server:
# the SPARK_EXECUTOR_* variables still carry the sizing.
SPARK_CONF_SCRIPT = """\
mkdir -p "$SPARK_CONF_DIR" || exit 0
base=""
if [ -n "$SPARK_HOME" ] && [ -d "$SPARK_HOME/conf" ] && [ "$SPARK_HOME/conf" != "$SPARK_CONF_DIR" ]; then
  cp -n "$SPARK_HOME"/conf/* "$SPARK_CONF_DIR"/ 2>/dev/null
  base="$SPARK_HOME/conf/spark-defaults.conf"
fi
new="$SPARK_CONF_DIR/spark-defaults.conf.new"
{ if [ -f "$base" ]; then cat "$base"; echo; fi; printf '%s' "$AGLAIS_SPARK_DEFAULTS"; } > "$new" &&
  mv "$new" "$SPARK_CONF_DIR/spark-defaults.conf"
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


def spark_environment(grant: dict, conf_dir: str) -> dict:
    """The variables the postStart hook turns into $SPARK_CONF_DIR/spark-defaults.conf."""
    return {"SPARK_CONF_DIR": conf_dir, "AGLAIS_SPARK_DEFAULTS": package.spark_defaults(grant)}


def spark_conf_hook() -> dict:
    return {"exec": {"command": ["sh", "-c", SPARK_CONF_SCRIPT]}}


def without_ours(mapping: dict) -> dict:
    """`mapping` without aglais.io/ keys: what the configuration set, before a session's own."""
    return {key: value for key, value in mapping.items() if not str(key).startswith(PREFIX)}


class BookingKubeSpawner(BookingSpawnerMixin, KubeSpawner):
    flavour_images = Dict(
        {"jupyter": "jupyter/pyspark-notebook:latest", "zeppelin": "apache/zeppelin:0.11.2"},
        config=True,
        help="""Image of each flavour ("jupyter", "zeppelin"); a flavour without an image is
        not offered. Pin tags, and use your registry's copies: the Jupyter images' copies on
        Docker Hub are no longer updated (since late 2023).
        """,
    )
    zeppelin_cmd = List(
        ["/opt/zeppelin/bin/zeppelin.sh"], config=True,
        help="""Command of the Zeppelin container. Zeppelin is not a Jupyter server: the hub
        can only reach it through an image that speaks the single-user protocol, e.g.
        jupyterhub-singleuser with jupyter-server-proxy starting Zeppelin (then set this to
        ``["jupyterhub-singleuser"]`` and `zeppelin_port` to 8888).
        """,
    )
    zeppelin_port = Integer(
        8080, config=True,
        help="Port the Zeppelin container serves on (Zeppelin's own default: 8080).",
    )
    reserved_pool_scheduling = Bool(
        True, config=True,
        help="""Put booked sessions on their pool's nodes: a node selector
        ``aglais.io/pool=<pool>`` and a toleration of the taint
        ``aglais.io/pool=<pool>:NoSchedule``. Turn off where pools are not node groups.
        """,
    )
    spark_conf_dir = Unicode(
        "/home/jovyan/.aglais/spark", config=True,
        help="""SPARK_CONF_DIR in the container, where a postStart hook writes the
        session's spark-defaults.conf (after the image's own Spark configuration).
        """,
    )

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
            # Zeppelin serves its own UI on 8080 and is not a Jupyter server: the hub only
            # reaches an image that speaks the single-user protocol (jupyterhub-singleuser
            # with jupyter-server-proxy starting Zeppelin, or a wrapper doing the same), so
            # command and port are settings, with Zeppelin's own as defaults.
            override.update(cmd=list(self.zeppelin_cmd), port=self.zeppelin_port)
        return {"display_name": FLAVOUR_LABELS.get(flavour, flavour), "slug": flavour,
                "kubespawner_override": override}

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
        # replace (not add to) a previous session's aglais.io/ entries
        self.extra_labels = {**without_ours(self.extra_labels), **session_labels(grant)}
        selector, tolerations = pool_scheduling(grant) if self.reserved_pool_scheduling else ({}, [])
        self.node_selector = {**without_ours(self.node_selector), **selector}
        configured = kubespawner_list_values(self, self.tolerations)
        self.tolerations = [t for t in configured if t.get("key") != POOL_KEY] + tolerations
        hook = spark_conf_hook()
        if self.lifecycle_hooks.get("postStart", hook) != hook:
            self.log.warning("BookingKubeSpawner replaces the configured postStart hook with its Spark one")
        self.lifecycle_hooks = {**self.lifecycle_hooks, "postStart": hook}

    def get_env(self):
        env = super().get_env()
        if self.booking_session:
            # here rather than in `environment`, which KubeSpawner formats as a template
            env.update(spark_environment(self.booking_session, self.spark_conf_dir))
        return env


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
