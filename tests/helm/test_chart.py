"""The chart renders, alone and with z2jh 4.4.0, into objects Kubernetes 1.28 and 1.37 accept,
and what it renders fits z2jh's: names, labels, the hub Secret's tokens."""

from __future__ import annotations

import base64
import json
import re

import helm_python as helm
import kubernetes_validate
import pytest
import yaml

from .conftest import CHART, find, objects, render, values_of, z2jh_chart

pytestmark = pytest.mark.kubernetes

OURS = {("ConfigMap", "booking"), ("Deployment", "booking"), ("NetworkPolicy", "booking"),
        ("PodDisruptionBudget", "booking"), ("Secret", "booking"), ("Service", "booking"),
        ("Role", "aglais-hub"), ("RoleBinding", "aglais-hub"),
        # Spark on Kubernetes (test_spark_chart.py)
        ("ServiceAccount", "aglais-spark-driver"), ("ServiceAccount", "aglais-spark-executor"),
        ("Role", "aglais-spark-driver"), ("RoleBinding", "aglais-spark-driver"),
        ("NetworkPolicy", "aglais-spark-driver"), ("NetworkPolicy", "aglais-spark-executor"),
        ("ResourceQuota", "aglais-spark"), ("LimitRange", "aglais-spark")}


def chart_yaml(path=CHART) -> dict:
    return yaml.safe_load((path / "Chart.yaml").read_text())


def names(rendered: list[dict]) -> set:
    return {(o["kind"], o["metadata"]["name"]) for o in rendered}


def env_of(container: dict) -> dict:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def booking_container(rendered: list[dict]) -> dict:
    return find(rendered, "Deployment", "booking")["spec"]["template"]["spec"]["containers"][0]


def secret_data(secret: dict) -> dict:
    return {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}


def test_ours_alone_renders_the_booking_service_only(rendered):
    assert names(rendered["ours"]) == OURS


def test_with_z2jh_it_renders_the_hub_beside_ours(rendered):
    found = names(rendered["with_z2jh"])
    assert OURS <= found
    assert {("Deployment", "hub"), ("Secret", "hub"), ("Deployment", "proxy"), ("Service", "proxy-public")} <= found


@pytest.mark.parametrize("version", ["1.28.0", "1.37.0"])
def test_every_object_validates_strictly(rendered, version):
    for obj in rendered["ours"] + rendered["with_z2jh"]:
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as e:
            pytest.fail(f"{rendered['name']}: {obj['kind']}/{obj['metadata']['name']} on {version}: {e.message}")


def test_the_subcharts_schema_is_enforced(charts):
    with pytest.raises(helm.HelmValuesError, match=r"(?s)jupyterhub.*additional properties 'bogus'"):
        render(charts["with_z2jh"], {"jupyterhub": {"hub": {"bogus": 1}}})
    with pytest.raises(helm.HelmValuesError, match=r"(?s)jupyterhub.*storage/type"):
        render(charts["with_z2jh"], {"jupyterhub": {"singleuser": {"storage": {"type": "ephemeral"}}}})


def test_our_schema_checks_our_keys(charts):
    for bad in ({"booking": {"replicas": "two"}}, {"booking": {"bogus": 1}}, {"bogus": 1},
                {"booking": {"database": {"url": "sqlite:///booking.sqlite"}}},
                {"booking": {"cookieSecret": "not-hex"}}, {"booking": {"feedSecret": "ab" * 8}}):
        with pytest.raises(helm.HelmValuesError, match="aglais-hub"):
            render(charts["ours"], bad)


@pytest.mark.parametrize("values", ["default", "production"])
def test_lint_is_clean(charts, values):
    alone = helm.lint(charts["ours"], values_of(values), strict=True)
    assert [m["error"] for m in alone["messages"]] == ["chart directory is missing these dependencies: jupyterhub"]
    full = helm.lint(charts["with_z2jh"], values_of(values), strict=True, with_subcharts=True)
    assert full["messages"] == [] and full["errors"] == []


def kube_version_floor(constraint: str) -> tuple:
    """The floor of a `>=X.Y.Z-0` constraint (the "-0" admits pre-releases such as
    v1.28.3-gke.100). Helm checks kubeVersion at install, not in lint or an offline render."""
    match = re.fullmatch(r">=\s*(\d+)\.(\d+)\.(\d+)-0", constraint)
    assert match, f"kubeVersion {constraint!r} is not of the form >=X.Y.Z-0"
    return tuple(int(n) for n in match.groups())


def accepts(constraint: str, version: str) -> bool:
    numbers = re.match(r"v?(\d+)\.(\d+)\.(\d+)", version)
    return tuple(int(n) for n in numbers.groups()) >= kube_version_floor(constraint)


def test_kube_version_is_z2jhs_floor(charts):
    ours = chart_yaml()["kubeVersion"]
    assert ours == chart_yaml(charts["with_z2jh"] / "charts" / "jupyterhub")["kubeVersion"]
    assert accepts(ours, "1.28.0") and accepts(ours, "v1.28.3-gke.100") and accepts(ours, "1.37.0")
    assert not accepts(ours, "1.27.9")


def test_the_dependency_is_z2jh_unaliased():
    (dep,) = chart_yaml()["dependencies"]
    assert dep == {"name": "jupyterhub", "version": "4.4.0", "repository": "https://hub.jupyter.org/helm-chart/"}
    assert chart_yaml()["name"] != "jupyterhub"


def test_images_are_the_charts_app_version(rendered):
    version = chart_yaml()["appVersion"]
    values = yaml.safe_load((CHART / "values.yaml").read_text())["jupyterhub"]
    assert values["hub"]["image"]["tag"] == values["singleuser"]["image"]["tag"] == version
    assert values["hub"]["config"]["BookingKubeSpawner"]["flavour_images"]["jupyter"].endswith(":" + version)
    image = booking_container(rendered["ours"])["image"]
    assert image.split("/")[-1] == f"hub:{version}"
    assert find(rendered["with_z2jh"], "Deployment", "hub")["spec"]["template"]["spec"]["containers"][0][
        "image"].split(":")[0] == image.split(":")[0]


def test_the_booking_pods_are_locked_down(rendered):
    pod = find(rendered["ours"], "Deployment", "booking")["spec"]["template"]
    spec, container = pod["spec"], pod["spec"]["containers"][0]
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert spec["automountServiceAccountToken"] is False
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True and security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert container["resources"]["requests"] and container["resources"]["limits"]["memory"]
    assert not any("secret" in arg.lower() or "postgres" in arg for arg in container["command"] + container["args"])
    assert pod["metadata"]["labels"]["hub.jupyter.org/network-access-hub"] == "true"


def test_the_booking_service_is_probed_where_it_answers(rendered):
    container = booking_container(rendered["ours"])
    assert container["readinessProbe"]["httpGet"]["path"] == "/services/booking/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/services/booking/healthz"
    assert container["ports"] == [{"name": "http", "containerPort": 10101}]
    assert env_of(container)["JUPYTERHUB_SERVICE_URL"] == "http://0.0.0.0:10101"
    assert env_of(container)["JUPYTERHUB_SERVICE_PREFIX"] == "/services/booking/"
    service = find(rendered["ours"], "Service", "booking")
    assert service["spec"]["ports"][0]["port"] == 10101


def test_replicas_and_their_budget(rendered):
    deployment = find(rendered["ours"], "Deployment", "booking")
    assert deployment["spec"]["replicas"] == (rendered["values"].get("booking") or {}).get("replicas", 2)
    budget = find(rendered["ours"], "PodDisruptionBudget", "booking")
    assert budget["spec"]["minAvailable"] == 1
    assert budget["spec"]["selector"]["matchLabels"].items() <= deployment["spec"]["template"]["metadata"][
        "labels"].items()


def test_the_booking_token_is_the_one_z2jh_keeps(rendered):
    full = rendered["with_z2jh"]
    token = env_of(booking_container(full))["JUPYTERHUB_API_TOKEN"]["secretKeyRef"]
    hub_secret = find(full, "Secret", token["name"])
    assert re.fullmatch(r"[0-9a-f]{64}", secret_data(hub_secret)[token["key"]])
    api = env_of(booking_container(full))["JUPYTERHUB_API_URL"]
    hub_service = find(full, "Service", "hub")
    assert api == f"http://hub:{hub_service['spec']['ports'][0]['port']}/hub/api"


@pytest.mark.parametrize("release, override", [("prod", None), ("prod-jupyterhub", None), ("x", "edu")])
def test_names_and_labels_agree_with_z2jh_for_any_release(charts, release, override):
    values = {"jupyterhub": {"fullnameOverride": override}}
    full = objects(render(charts["with_z2jh"], values, name=release))
    prefix = override or (release if "jupyterhub" in release else f"{release}-jupyterhub")
    container = booking_container_named(full, f"{prefix}-booking")
    token = env_of(container)["JUPYTERHUB_API_TOKEN"]["secretKeyRef"]
    assert token["key"] in find(full, "Secret", token["name"])["data"]
    assert env_of(container)["JUPYTERHUB_API_URL"].startswith(f"http://{find(full, 'Service', f'{prefix}-hub')['metadata']['name']}:")

    # our NetworkPolicy admits z2jh's proxy, hub and user pods of this release
    policy = find(full, "NetworkPolicy", f"{prefix}-booking")
    selectors = [peer["podSelector"]["matchLabels"] for peer in policy["spec"]["ingress"][0]["from"]]
    pod_labels = [find(full, "Deployment", f"{prefix}-{c}")["spec"]["template"]["metadata"]["labels"] for c in ("proxy", "hub")]
    z2jh_users = find(full, "NetworkPolicy", f"{prefix}-singleuser")["spec"]["podSelector"]["matchLabels"]
    assert [s.items() <= labels.items() for s, labels in zip(selectors, pod_labels + [z2jh_users])] == [True] * 3
    # our RoleBinding (the spawner grows claims) is to z2jh's hub ServiceAccount
    (subject,) = find(full, "RoleBinding", f"{prefix}-aglais-hub")["subjects"]
    assert subject["name"] == find(full, "Deployment", f"{prefix}-hub")["spec"]["template"]["spec"]["serviceAccountName"]
    assert find(full, "Role", f"{prefix}-aglais-hub")["rules"] == [
        {"apiGroups": [""], "resources": ["persistentvolumeclaims"], "verbs": ["patch"]}]
    # z2jh's hub NetworkPolicy admits our booking pods
    booking_labels = find(full, "Deployment", f"{prefix}-booking")["spec"]["template"]["metadata"]["labels"]
    hub_admits = [p["podSelector"]["matchLabels"] for rule in find(full, "NetworkPolicy", f"{prefix}-hub")["spec"][
        "ingress"] for p in rule.get("from", [])]
    assert any(s.items() <= booking_labels.items() for s in hub_admits)


def booking_container_named(rendered, name):
    return find(rendered, "Deployment", name)["spec"]["template"]["spec"]["containers"][0]


def test_users_servers_reach_the_booking_service_and_nothing_else_new(rendered):
    full = rendered["with_z2jh"]
    policy = find(full, "NetworkPolicy", "singleuser")["spec"]
    booking_labels = find(full, "Deployment", "booking")["spec"]["template"]["metadata"]["labels"]
    to_booking = [rule for rule in policy["egress"] for peer in rule.get("to", [])
                  if "podSelector" in peer and peer["podSelector"].get("matchLabels", {}).items() <= booking_labels.items()
                  and peer["podSelector"].get("matchLabels")]
    assert [rule["ports"] for rule in to_booking] == [[{"port": 10101}]]
    # z2jh 4.4.0's own singleuser policy plus the booking service alone: Spark's traffic
    # has policies of its own, on its ports (test_spark_chart.py)
    z2jh_default = objects(render(z2jh_chart(), {}))  # z2jh 4.4.0 with its own defaults
    z2jh_policy = find(z2jh_default, "NetworkPolicy", "singleuser")["spec"]
    added_egress = [r for r in policy["egress"] if r not in z2jh_policy["egress"]]
    added_ingress = [r for r in policy["ingress"] if r not in z2jh_policy["ingress"]]
    assert added_egress == to_booking and added_ingress == []


def test_the_booking_network_policy(rendered):
    spec = find(rendered["ours"], "NetworkPolicy", "booking")["spec"]
    assert spec["policyTypes"] == ["Ingress", "Egress"]
    assert [rule["ports"] for rule in spec["ingress"]] == [[{"port": "http"}]]
    ports = sorted({p["port"] for rule in spec["egress"] for p in rule["ports"]})
    assert ports == [53, 5432, 8081]
    database = next(rule for rule in spec["egress"] if rule["ports"][0]["port"] == 5432)
    expected = ((rendered["values"].get("booking") or {}).get("networkPolicy") or {}).get("database", {}).get("to")
    assert database.get("to") == expected


def test_the_database_url_comes_from_a_secret(charts, rendered):
    reference = env_of(booking_container(rendered["ours"]))["AGLAIS_BOOKING_DB_URL"]["secretKeyRef"]
    assert reference == {"name": "aglais-db", "key": "booking-url"}
    url = "postgresql+psycopg://booking:pw@db:5432/booking"
    given = objects(render(charts["ours"], {"booking": {"database": {"url": url}}}))
    reference = env_of(booking_container(given))["AGLAIS_BOOKING_DB_URL"]["secretKeyRef"]
    assert secret_data(find(given, "Secret", reference["name"]))[reference["key"]] == url
    with pytest.raises(helm.HelmRenderError, match="booking.database"):
        render(charts["ours"], {"booking": {"database": {"existingSecret": ""}}})


def test_the_cookie_secret(charts, rendered):
    secret = secret_data(find(rendered["ours"], "Secret", "booking"))["cookie-secret"]
    assert re.fullmatch(r"[0-9a-f]{64}", secret)
    reference = env_of(booking_container(rendered["ours"]))["AGLAIS_BOOKING_COOKIE_SECRET"]["secretKeyRef"]
    assert reference == {"name": "booking", "key": "cookie-secret"}
    given = "ab" * 32
    again = objects(render(charts["ours"], {"booking": {"cookieSecret": given}}))
    assert secret_data(find(again, "Secret", "booking"))["cookie-secret"] == given


def test_the_feed_secret(charts, rendered):
    """The calendar feeds' key: generated, in the Secret, passed by environment (never
    an argument), apart from the cookie secret; or the value given."""
    data = secret_data(find(rendered["ours"], "Secret", "booking"))
    assert re.fullmatch(r"[0-9a-f]{64}", data["feed-secret"]) and data["feed-secret"] != data["cookie-secret"]
    reference = env_of(booking_container(rendered["ours"]))["AGLAIS_FEED_SECRET"]["secretKeyRef"]
    assert reference == {"name": "booking", "key": "feed-secret"}
    assert not any("feed" in arg for arg in booking_container(rendered["ours"])["args"])
    given = "cd" * 32
    again = objects(render(charts["ours"], {"booking": {"feedSecret": given}}))
    assert secret_data(find(again, "Secret", "booking"))["feed-secret"] == given


def test_the_services_config_file_carries_the_hubs_levels(charts):
    levels = ["visitors", "members", "staff"]
    out = objects(render(charts["ours"], {"jupyterhub": {"hub": {"config": {"Levels": {"groups": levels}}}},
                                          "booking": {"config": {"BookingService": {"walk_in_pool": "w"}}}}))
    config = yaml.safe_load(find(out, "ConfigMap", "booking")["data"]["booking_service_config.json"])
    assert config == {"BookingService": {"walk_in_pool": "w"},
                      "LevelPolicy": {"group_levels": {"visitors": 0, "members": 1, "staff": 2}}}
    args = booking_container(out)["args"]
    assert args == ["--config=/etc/aglais/booking/booking_service_config.json"]


# -- the lifecycle's options (issue 12): platforms, notices, the calendar feed, reclaiming,
# series and preparation workers, from values of their own --------------------------------

LIFECYCLE = {
    "platforms": [
        {"name": "local", "kind": "local"},
        {"name": "far", "kind": "remote", "url": "https://far.example/services/booking/api/v1/",
         "tokenSecret": {"name": "far-booking", "key": "token"}, "timeout": 5},
        {"name": "cloud", "kind": "blazar", "url": "http://blazar.example:1234/", "resource_type": "physical:host",
         "tokenSecret": {"name": "keystone", "key": "token"}},
    ],
    "notices": {"beforeStartMinutes": 120, "beforeEndMinutes": 0, "beforeOfferExpiryMinutes": 1, "mail": False},
    "ical": {"publicUrl": "https://hub.example.org/services/booking/", "maxEvents": 200, "pastDays": 30,
             "cancelledDays": 7, "refreshMinutes": 30, "limit": "30/h", "limitAddress": "1000/h"},
    "reclaimUnstartedMinutes": {"0": 15, "1": 30},
    "series": {"maxOccurrences": 50, "maxDays": 90},
    "preparation": {"workers": {
        "stage_file": {"url": "http://stager.example:8006/", "quoteSeconds": 60, "bytesPerSecond": 1048576,
                       "tokenSecret": {"name": "stager", "key": "token"}},
        "pull_image": {"url": "https://puller.example/", "quoteSeconds": 300}}},
}


def booking_config(rendered: list[dict]) -> dict:
    return yaml.safe_load(find(rendered, "ConfigMap", "booking")["data"]["booking_service_config.json"])


def test_the_lifecycle_options_reach_the_service(charts):
    out = objects(render(charts["ours"], {"booking": LIFECYCLE}))
    options = booking_config(out)["BookingService"]
    assert options == {
        "walk_in_pool": "shared",  # the chart's default config, kept
        "platforms": [{"name": "local", "kind": "local"},
                      {"name": "far", "kind": "remote", "url": "https://far.example/services/booking/api/v1/",
                       "timeout": 5, "token_file": "/etc/aglais/platform-tokens/far"},
                      {"name": "cloud", "kind": "blazar", "url": "http://blazar.example:1234/",
                       "resource_type": "physical:host", "token_file": "/etc/aglais/platform-tokens/cloud"}],
        "notify_before_start": 120, "notify_before_end": 0, "notify_before_offer_expiry": 1, "mail_notices": False,
        "public_url": "https://hub.example.org/services/booking/", "ical_max_events": 200, "ical_past_days": 30,
        "ical_cancelled_days": 7, "ical_refresh_minutes": 30, "ical_limit": "30/h", "ical_limit_address": "1000/h",
        "reclaim_unstarted_minutes": {"0": 15, "1": 30},
        "max_series_occurrences": 50, "max_series_days": 90,
        "callback_url": "http://booking.hub.svc:10101/services/booking/api/v1/callbacks/",
    }
    # the service takes every one of them (the config file as the Deployment gives it)
    from traitlets.config import Config

    from booking_service.app import BookingService
    from booking_service.platforms import build_platforms
    from booking_service.steps import parse_workers

    service = BookingService(config=Config({"BookingService": options}))
    assert service.reclaim_unstarted_minutes == {0: 15.0, 1: 30.0} and service.ical_max_events == 200
    assert [p.name for p in build_platforms(options["platforms"])] == ["local", "far", "cloud"]

    container = booking_container(out)
    env = env_of(container)
    # the workers' tokens from their Secrets, into the JSON by Kubernetes' $(VAR) expansion,
    # defined before it; never in the ConfigMap
    names = [e["name"] for e in container["env"]]
    assert env["AGLAIS_PREPARATION_TOKEN_1"] == {"secretKeyRef": {"name": "stager", "key": "token"}}
    assert "AGLAIS_PREPARATION_TOKEN_0" not in env  # pull_image has none
    assert names.index("AGLAIS_PREPARATION_TOKEN_1") < names.index("AGLAIS_PREPARATION_WORKERS")
    workers = json.loads(env["AGLAIS_PREPARATION_WORKERS"])
    assert workers == {
        "pull_image": {"url": "https://puller.example/", "quote_seconds": 300},
        "stage_file": {"url": "http://stager.example:8006/", "quote_seconds": 60, "bytes_per_second": 1048576,
                       "token": "$(AGLAIS_PREPARATION_TOKEN_1)"}}
    assert set(parse_workers(workers)) == {"pull_image", "stage_file"}
    # the platforms' tokens: one projected volume of their Secrets, read-only
    pod = find(out, "Deployment", "booking")["spec"]["template"]["spec"]
    volume = next(v for v in pod["volumes"] if v["name"] == "platform-tokens")
    assert volume["projected"]["sources"] == [
        {"secret": {"name": "far-booking", "items": [{"key": "token", "path": "far"}]}},
        {"secret": {"name": "keystone", "items": [{"key": "token", "path": "cloud"}]}}]
    assert {"name": "platform-tokens", "mountPath": "/etc/aglais/platform-tokens", "readOnly": True} in \
        container["volumeMounts"]
    # egress to the platforms' and the workers' ports
    spec = find(out, "NetworkPolicy", "booking")["spec"]
    ports = sorted({p["port"] for rule in spec["egress"] for p in rule["ports"]})
    assert ports == [53, 443, 1234, 5432, 8006, 8081]
    for version in ("1.28.0", "1.37.0"):
        for obj in out:
            kubernetes_validate.validate(obj, version, strict=True)


def test_the_lifecycle_options_left_out_leave_the_services_defaults(charts):
    out = objects(render(charts["ours"], values_of("default")))
    options = booking_config(out)["BookingService"]
    assert options == {"walk_in_pool": "shared"}
    container = booking_container(out)
    assert "AGLAIS_PREPARATION_WORKERS" not in env_of(container)
    assert all(v["name"] != "platform-tokens" for v in
               find(out, "Deployment", "booking")["spec"]["template"]["spec"]["volumes"])


def test_config_wins_over_the_lifecycle_keys_and_a_callback_url_is_kept(charts):
    out = objects(render(charts["ours"], {"booking": {
        "config": {"BookingService": {"notify_before_start": 5}}, "notices": {"beforeStartMinutes": 60},
        "preparation": {"workers": {"stage_file": {"url": "http://w:1/"}},
                        "callbackUrl": "https://hub.example.org/services/booking/api/v1/callbacks/"}}}))
    options = booking_config(out)["BookingService"]
    assert options["notify_before_start"] == 5
    assert options["callback_url"] == "https://hub.example.org/services/booking/api/v1/callbacks/"


@pytest.mark.parametrize("booking, message", [
    ({"platforms": [{"name": "far", "kind": "remote", "url": "https://far/api/v1/", "token": "inline"}]}, "token"),
    ({"platforms": [{"name": "far", "kind": "remote"}]}, "url"),
    ({"platforms": [{"name": "Far", "kind": "local"}]}, "name"),
    ({"platforms": [{"name": "far", "kind": "slurm"}]}, "kind"),
    ({"notices": {"beforeStartMinutes": -1}}, "beforeStartMinutes"),
    ({"notices": {"soon": 1}}, "soon"),
    ({"ical": {"limit": "lots"}}, "limit"),
    ({"ical": {"publicUrl": "hub.example.org"}}, "publicUrl"),
    ({"reclaimUnstartedMinutes": {"staff": 10}}, "staff"),
    ({"series": {"maxOccurrences": 0}}, "maxOccurrences"),
    ({"preparation": {"workers": {"stage_file": {"quoteSeconds": 60}}}}, "url"),
    ({"preparation": {"workers": {"stage_file": {"url": "http://w/", "token": "inline"}}}}, "token"),
])
def test_the_schema_checks_the_lifecycle_keys(charts, booking, message):
    with pytest.raises(helm.HelmValuesError, match=f"(?s)aglais-hub.*{message}"):
        render(charts["ours"], {"booking": booking})
