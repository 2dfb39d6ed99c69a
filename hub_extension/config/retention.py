"""Hub-side wiring of the retention job (hub_extension.retention): its service entry and role."""

from __future__ import annotations

import sys

from ..retention.job import SCOPES, SERVICE_NAME
from . import configured


def retention_service(c, homes: str | None, *, state_dir: str, name: str = SERVICE_NAME, managed: bool = True,
                      api_token: str | None = None, interval: int = 3600, system_user_prefix: str | None = None,
                      pvc_name_template: str | None = None, namespace: str | None = None,
                      mail_from_hub: bool = True, extra_args=()) -> tuple[dict, dict]:
    """Register the retention job with a JupyterHub config object `c` (replacing a service
    or role of the same name) and return (service, role). `homes` is where each home is
    (RetentionJob.homes: a directory of `<username>/`, or a template with `{username}` or
    `{system_user}`, the account made with `system_user_prefix`). On Kubernetes, give
    `pvc_name_template` instead (KubeSpawner's, the same value; `homes` is then unused)
    and, if the claims are not in the hub pod's own namespace, their `namespace`: the job
    deletes the PersistentVolumeClaim of a user whose saved data is due. With `managed`,
    the hub runs it; otherwise it runs elsewhere with `api_token`. With `mail_from_hub`, a
    managed job mails through the hub's own `Mailer` settings (`hub_mail`). Its role: read
    users, their groups, activity, servers and email address; nothing else.

    The accounts code declares the custom scope ``custom:accounts:read``; the hub does not
    start with this role until it does.
    """
    if not managed and not api_token:
        raise ValueError("retention_service(managed=False) needs api_token: the token the job runs with")
    if not homes and not pvc_name_template:
        raise ValueError("retention_service needs homes, or pvc_name_template on Kubernetes")
    service: dict = {"name": name, "display": False}
    if managed:
        accounts = [] if system_user_prefix is None else [f"--system-user-prefix={system_user_prefix}"]
        if pvc_name_template:
            where = [f"--pvc-name-template={pvc_name_template}"] + ([f"--namespace={namespace}"] if namespace else [])
        else:
            where = [f"--homes={homes}"]
        mail_args, environment = hub_mail(c) if mail_from_hub else ([], {})
        service["command"] = [sys.executable, "-m", "hub_extension.retention", *where,
                              f"--state-dir={state_dir}", f"--interval={interval}", *accounts, *mail_args,
                              *extra_args]
        if environment:
            service["environment"] = environment
    if api_token:
        service["api_token"] = api_token
    role = {"name": f"{name}-service", "scopes": list(SCOPES), "services": [name]}
    hub = c.JupyterHub
    hub.services = [s for s in configured(hub, "services", []) if s.get("name") != name] + [service]
    hub.load_roles = [r for r in configured(hub, "load_roles", []) if r["name"] != role["name"]] + [role]
    return service, role


def hub_mail(c) -> tuple[list[str], dict]:
    """The retention job's mail settings from the hub's config: an option for every `Mailer`
    setting the config made but the password, which goes in the job's environment (a
    hub-managed service gets only `env_keep` and its `environment` from the hub's, and a
    command line is readable in /proc). Without `Mailer.smtp_host` the job warns nobody,
    and so deletes no saved data."""
    if not configured(c.Mailer, "smtp_host", ""):
        return [], {}
    args = [f"--Mailer.{name}={value}" for name, value in sorted(c.Mailer.items()) if name != "smtp_password"]
    password = configured(c.Mailer, "smtp_password", "")
    return args, ({"AGLAIS_SMTP_PASSWORD": password} if password else {})
