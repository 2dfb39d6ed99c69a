"""Hub-side wiring on Kubernetes: what the chart's `hub.extraConfig` calls (helm/aglais-hub).

zero-to-jupyterhub (z2jh) has already loaded the chart's values into `c` when this runs:
`hub.config` (our authenticator and spawner, Levels, Mailer, ...), and one entry in
`c.JupyterHub.services` per `hub.services.<name>`, with the token z2jh generated for it and
keeps in the hub Secret (`hub.services.<name>.apiToken`). This calls the same configure_*
functions as the embedded default, with those tokens.
"""

from __future__ import annotations

import os

from kubespawner import KubeSpawner

from . import configured
from .accounts import configure_accounts
from .booking import SERVICE_NAME, configure_booking_service
from .retention import retention_service

BOOKING_PORT = 10101  # the booking Service's port (helm/aglais-hub/templates/booking/service.yaml)
RETENTION_STATE_DIR = "/srv/jupyterhub/retention"


def configure_kubernetes(c, *, get_config, get_secret_value, get_name, environ=os.environ) -> None:
    """Configure the hub on Kubernetes; `get_config`, `get_secret_value` and `get_name` are
    z2jh's (its z2jh.py, importable in `hub.extraConfig`).

    - the hub's database (``$AGLAIS_HUB_DB_URL``), the account database
      (``$AGLAIS_ACCOUNTS_DB_URL``) and the SMTP password (``$AGLAIS_SMTP_PASSWORD``), from
      Secrets by the hub's environment, so that they are not in the chart's values;
    - configure_accounts: the trial culler (``custom.aglais.trialCullerTimeout``, seconds;
      null: none) and optionally a culler of everyone's idle servers
      (``custom.aglais.serverCullerTimeout``);
    - configure_booking_service(managed=False): the booking service runs as its own
      Deployment at ``hub.services.booking.url`` (default: the chart's booking Service);
    - retention_service: run by the hub, it deletes the PersistentVolumeClaims (KubeSpawner's
      `pvc_name_template`) of accounts whose saved data is due (``custom.aglais.retention``).

    Every one of these services must be declared under ``hub.services`` so that z2jh keeps a
    token for it; each takes that token, and what the values say about a service
    (``display``, ``url``, ...) is laid over what the configure_* functions made.
    """
    settings = get_config("custom.aglais", None) or {}
    # z2jh's entries of hub.services (not, say, z2jh's own idle culler, which has no token there)
    keys = get_config("hub.services", None) or {}
    declared = {s["name"]: dict(s) for s in configured(c.JupyterHub, "services", []) if s["name"] in keys}

    def token(name: str) -> str:
        if name not in declared:
            raise ValueError(f"hub.services.{name} is not declared in the chart's values "
                             f"(jupyterhub.hub.services.{name}: {{}}): z2jh keeps no token for it")
        return get_secret_value(f"hub.services.{name}.apiToken")

    if environ.get("AGLAIS_HUB_DB_URL"):
        c.JupyterHub.db_url = environ["AGLAIS_HUB_DB_URL"]
    if environ.get("AGLAIS_ACCOUNTS_DB_URL"):
        c.AglaisAuthenticator.db_url = environ["AGLAIS_ACCOUNTS_DB_URL"]
    if environ.get("AGLAIS_SMTP_PASSWORD") and not configured(c.Mailer, "smtp_password", ""):
        c.Mailer.smtp_password = environ["AGLAIS_SMTP_PASSWORD"]

    trial_timeout = settings.get("trialCullerTimeout", 3600)
    server_timeout = settings.get("serverCullerTimeout")
    configure_accounts(c, trial_culler_timeout=trial_timeout, server_culler_timeout=server_timeout,
                       culler_interval=settings.get("cullerInterval", 300))
    for name, enabled in (("trial-culler", trial_timeout), ("server-culler", server_timeout)):
        if enabled:
            token(name)  # declared, so its token is the Secret's like every other's

    url = declared.get(SERVICE_NAME, {}).get("url") or f"http://{get_name('fullname-dash')}booking:{BOOKING_PORT}"
    configure_booking_service(c, url=url, managed=False, api_token=token(SERVICE_NAME),
                              spawner_token=token(f"{SERVICE_NAME}-spawner"),
                              forget_token=token(f"{SERVICE_NAME}-accounts"))

    retention = settings.get("retention") or {}
    if retention.get("enabled", True):
        spawner = c.BookingKubeSpawner
        template = (configured(spawner, "pvc_name_template", None)
                    or configured(c.KubeSpawner, "pvc_name_template", None)
                    or KubeSpawner.pvc_name_template.default_value)
        retention_service(
            c, "", state_dir=retention.get("stateDir") or RETENTION_STATE_DIR, managed=True,
            api_token=token("retention"), interval=retention.get("interval", 3600),
            pvc_name_template=template,
            namespace=configured(c.KubeSpawner, "namespace", None) or environ.get("POD_NAMESPACE"))

    c.JupyterHub.services = overlay(configured(c.JupyterHub, "services", []), declared, token)


def overlay(services: list, declared: dict, token) -> list:
    """`services` once per name (the first place a name appears), each declared one with
    the values' keys laid over ours and the token from the hub Secret."""
    result: dict[str, dict] = {}
    for service in services:
        name = service["name"]
        result[name] = {**result.get(name, {}), **service}
    for name, values in declared.items():
        extra = {k: v for k, v in values.items() if k not in ("name", "api_token")}
        result[name] = {**result.get(name, {"name": name}), **extra, "api_token": token(name)}
    return list(result.values())
