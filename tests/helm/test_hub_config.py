"""The hub's jupyterhub_config.py as the chart renders it (z2jh's, with our values and
hub.extraConfig), loaded into a real JupyterHub application object (its config only, no start)."""

from __future__ import annotations

import base64
import sys
from pathlib import Path

import pytest
import yaml
from jupyterhub.app import JupyterHub
from tornado.httpclient import AsyncHTTPClient

from booking_service.app import BookingService
from hub_extension.accounts.authenticator import AglaisAuthenticator
from hub_extension.retention.job import SCOPES as RETENTION_SCOPES
from spawner.kube import BookingKubeSpawner

from .conftest import VALUES, find, objects, render, values_of

pytestmark = pytest.mark.kubernetes

# What the Secret `aglais-db` (and `aglais-smtp`) would hand the hub pod: stand-in values.
HUB_DB = "postgresql+psycopg://hub:pw@aglais-db-rw:5432/hub"
ACCOUNTS_DB = "postgresql+psycopg://accounts:pw@aglais-db-rw:5432/accounts"
SMTP_PASSWORD = "smtp-secret-for-the-test"


@pytest.fixture(scope="module", params=sorted(VALUES))
def hub(request, charts, tmp_path_factory):
    """For one values file: the loaded JupyterHub app, the hub Secret's data and the values."""
    values = values_of(request.param)
    rendered = objects(render(charts["with_z2jh"], values))
    secret = {k: base64.b64decode(v).decode() for k, v in find(rendered, "Secret", "hub")["data"].items()}
    root = tmp_path_factory.mktemp(f"hub-{request.param}")
    with z2jh_hub_pod(root, find(rendered, "ConfigMap", "hub")["data"], secret) as (config_file, curl):
        app = JupyterHub()
        app.load_config_file(str(config_file))
    return {"app": app, "secret": secret, "values": values, "curl": curl, "name": request.param}


# --- the hub pod, as z2jh 4.4.0 lays it out: every difference from it is here -------------------
MOUNT = "/usr/local/etc/jupyterhub/"


class z2jh_hub_pod:
    """Write the hub's ConfigMap and Secret as z2jh's hub Deployment mounts them
    (templates/hub/deployment.yaml: jupyterhub_config.py, z2jh.py, config/, secret/), under
    `root` instead of /usr/local/etc/jupyterhub/, and give the process the environment the
    pod would have. The differences, all here:
    - z2jh.py (_load_config, _get_config_value, get_secret_value) and jupyterhub_config.py
      (jupyterhub_config.d) name /usr/local/etc/jupyterhub/ literally: the copies name `root`;
    - the environment Kubernetes and the hub Deployment set (Service ports, POD_NAMESPACE, and
      the Secrets' stand-in values of our extraEnv);
    - jupyterhub_config.py switches tornado to its curl client, whose pycurl is in the hub
      image and not here: the call is recorded rather than made, which also keeps it from
      changing the HTTP client of the rest of this test session.
    """

    def __init__(self, root: Path, configmap: dict, secret: dict):
        self.root, self.configmap, self.secret = root, configmap, secret
        self.patch = pytest.MonkeyPatch()

    def __enter__(self):
        for name in ("jupyterhub_config.py", "z2jh.py"):
            text = self.configmap[name]
            assert MOUNT in text, f"z2jh's {name} no longer names {MOUNT}: update this stand-in"
            (self.root / name).write_text(text.replace(MOUNT, f"{self.root}/"))
        for directory, data in (("config", self.configmap), ("secret", self.secret)):
            (self.root / directory).mkdir()
            for key, value in data.items():
                (self.root / directory / key).write_text(value)
        for name, value in {"HUB_SERVICE_PORT": "8081", "PROXY_API_SERVICE_PORT": "8001", "POD_NAMESPACE": "hub",
                            "HELM_RELEASE_NAME": "aglais", "AGLAIS_HUB_DB_URL": HUB_DB,
                            "AGLAIS_ACCOUNTS_DB_URL": ACCOUNTS_DB, "AGLAIS_SMTP_PASSWORD": SMTP_PASSWORD}.items():
            self.patch.setenv(name, value)
        curl = []
        self.patch.setattr(AsyncHTTPClient, "configure", classmethod(lambda cls, impl, **kw: curl.append(impl)))
        self.patch.setattr(sys, "path", list(sys.path))
        self.patch.delitem(sys.modules, "z2jh", raising=False)  # each load imports its own copy
        return self.root / "jupyterhub_config.py", curl

    def __exit__(self, *exc):
        sys.modules.pop("z2jh", None)
        self.patch.undo()
# ---------------------------------------------------------------------------------------------------


def services(app) -> dict:
    named = {s["name"]: s for s in app.services}
    assert len(named) == len(app.services), "a service is declared twice"
    return named


def roles(app) -> dict:
    return {r["name"]: r for r in app.load_roles}


def test_our_authenticator_and_spawner_resolve(hub):
    app = hub["app"]
    assert app.authenticator_class is AglaisAuthenticator
    assert app.spawner_class is BookingKubeSpawner
    assert hub["curl"] == ["tornado.curl_httpclient.CurlAsyncHTTPClient"]  # z2jh's config ran to its end


def test_every_service_has_the_token_the_hub_secret_holds(hub):
    found = services(hub["app"])
    assert set(found) == {"booking", "booking-spawner", "booking-accounts", "retention", "trial-culler"}
    for name, service in found.items():
        assert service["api_token"] == hub["secret"][f"hub.services.{name}.apiToken"], name
    assert len({s["api_token"] for s in found.values()}) == len(found)


def test_the_booking_service_is_external(hub):
    booking = services(hub["app"])["booking"]
    assert booking["url"] == "http://booking:10101"
    assert "command" not in booking
    assert booking["oauth_client_allowed_scopes"] == ["custom:booking:read", "custom:booking:write",
                                                      "custom:booking:admin"]


def test_the_spawner_and_the_accounts_reach_the_booking_service_with_their_own_tokens(hub):
    config, secret = hub["app"].config, hub["secret"]
    assert config.BookingSpawnerMixin.booking_api_url == "http://booking:10101/services/booking/api/v1"
    assert config.BookingSpawnerMixin.booking_api_token == secret["hub.services.booking-spawner.apiToken"]
    (forget,) = config.AglaisAuthenticator.forget_hooks
    assert forget.keywords == {"url": "http://booking:10101/services/booking/api/v1",
                               "token": secret["hub.services.booking-accounts.apiToken"]}


def test_the_hub_hands_out_least_privilege(hub):
    app, found = hub["app"], roles(hub["app"])
    assert found["booking-service"] == {"name": "booking-service", "services": ["booking"], "scopes": sorted(
        ["read:users:name", "read:users:groups", "list:users", "read:servers", "delete:servers",
         "custom:accounts:notify"])}
    assert found["booking-spawner"]["services"] == ["booking-spawner"]
    assert set(found["booking-spawner"]["scopes"]) == {"custom:booking:sessions", "access:services!service=booking"}
    assert set(found["booking-accounts"]["scopes"]) == {"custom:booking:forget", "access:services!service=booking"}
    assert found["retention-service"]["services"] == ["retention"]
    assert set(found["retention-service"]["scopes"]) == set(RETENTION_SCOPES)
    trial = found["trial-culler"]
    assert trial["services"] == ["trial-culler"] and all(s.endswith("!group=level-0") for s in trial["scopes"])
    assert "jupyterhub-idle-culler" not in found  # z2jh's culler of everyone is off
    assert {"self", "custom:booking:read", "custom:booking:write"} <= set(found["user"]["scopes"])
    every_service = [m for r in app.load_roles for m in r.get("services", [])]
    assert sorted(every_service) == sorted(set(every_service))  # each service in one role


def test_roles_given_in_the_values_keep_their_members(hub):
    booking_admin = roles(hub["app"])["booking-admin"]
    given = hub["values"].get("jupyterhub", {}).get("hub", {}).get("loadRoles", {}).get("booking-admin", {})
    assert booking_admin.get("groups") == given.get("groups")
    assert "custom:booking:admin" in booking_admin["scopes"]


def test_the_custom_scopes_are_declared(hub):
    scopes = hub["app"].custom_scopes
    assert {"custom:booking:read", "custom:booking:write", "custom:booking:sessions", "custom:booking:admin",
            "custom:booking:forget", "custom:accounts:read", "custom:accounts:write",
            "custom:accounts:login-links"} <= set(scopes)


def test_the_hub_hosted_jobs(hub):
    found = services(hub["app"])
    timeout = hub["values"].get("jupyterhub", {}).get("custom", {}).get("aglais", {}).get("trialCullerTimeout", 3600)
    culler = found["trial-culler"]["command"]
    assert culler[1:3] == ["-m", "jupyterhub_idle_culler"] and f"--timeout={timeout}" in culler
    retention = found["retention"]
    assert retention["command"][1:3] == ["-m", "hub_extension.retention"]
    assert any("claim-{user_server}" in arg for arg in retention["command"])  # the spawner's claims
    assert all(SMTP_PASSWORD not in arg for arg in retention["command"])
    if hub["name"] == "production":  # mail configured: the job warns by it, its password by the environment
        assert "--Mailer.smtp_host=smtp.example.org" in retention["command"]
        assert retention["environment"] == {"AGLAIS_SMTP_PASSWORD": SMTP_PASSWORD}


def test_the_databases_come_from_the_environment(hub):
    app = hub["app"]
    assert app.db_url == HUB_DB
    assert app.config.AglaisAuthenticator.db_url == ACCOUNTS_DB
    assert app.config.Mailer.smtp_password == SMTP_PASSWORD


def test_z2jh_leaves_the_servers_volumes_to_our_spawner(hub):
    config = hub["app"].config
    assert config.KubeSpawner.volumes == {} and config.KubeSpawner.volume_mounts == {}
    assert config.KubeSpawner.namespace == "hub"
    assert config.BookingKubeSpawner.pvc_name_template == BookingKubeSpawner.pvc_name_template.default_value


def test_the_booking_pods_config_file_loads_into_the_service(charts, tmp_path):
    """The ConfigMap's file is a config the booking service reads (as --config)."""
    rendered = objects(render(charts["ours"], values_of("production")))
    path = tmp_path / "booking_service_config.json"
    path.write_text(find(rendered, "ConfigMap", "booking")["data"]["booking_service_config.json"])
    service = BookingService()
    service.load_config_file(str(path))
    assert service.walk_in_pool == "shared" and service.db_pool_size == 10


def test_z2jhs_culler_may_be_turned_back_on(charts, tmp_path):
    rendered = objects(render(charts["with_z2jh"], {"jupyterhub": {"cull": {"enabled": True}}}))
    secret = {k: base64.b64decode(v).decode() for k, v in find(rendered, "Secret", "hub")["data"].items()}
    with z2jh_hub_pod(tmp_path, find(rendered, "ConfigMap", "hub")["data"], secret) as (config_file, _):
        app = JupyterHub()
        app.load_config_file(str(config_file))
    found = services(app)
    assert "jupyterhub-idle-culler" in found and "trial-culler" in found
    assert roles(app)["jupyterhub-idle-culler"]["services"] == ["jupyterhub-idle-culler"]


def test_under_a_base_url_the_spawner_finds_the_booking_service_where_it_serves(charts, tmp_path):
    """With `jupyterhub.hub.baseUrl`, the booking pod serves under <baseUrl>services/booking/
    ($JUPYTERHUB_SERVICE_PREFIX): the hub's spawner, the forget hook and the spawn page's link
    to the calendar must carry it too."""
    rendered = objects(render(charts["with_z2jh"], {"jupyterhub": {"hub": {"baseUrl": "/science/"}}}))
    env = {e["name"]: e.get("value") for e in find(rendered, "Deployment", "booking")["spec"]["template"]["spec"]
           ["containers"][0]["env"]}
    assert env["JUPYTERHUB_SERVICE_PREFIX"] == "/science/services/booking/"
    secret = {k: base64.b64decode(v).decode() for k, v in find(rendered, "Secret", "hub")["data"].items()}
    with z2jh_hub_pod(tmp_path, find(rendered, "ConfigMap", "hub")["data"], secret) as (config_file, _):
        app = JupyterHub()
        app.load_config_file(str(config_file))
    mixin = app.config.BookingSpawnerMixin
    assert mixin.booking_api_url.endswith(":10101/science/services/booking/api/v1"), mixin.booking_api_url
    assert mixin.calendar_url == "/science/services/booking/"
    [hook] = [h for h in app.config.AglaisAuthenticator.forget_hooks if getattr(h, "keywords", None)]
    assert hook.keywords["url"] == mixin.booking_api_url
