"""Hub-side wiring of the accounts: the authenticator, its templates, its scopes and roles,
the level groups, and jupyterhub-idle-culler for trial accounts."""

from __future__ import annotations

import sys
from pathlib import Path

from ..levels import Levels
from . import configured, merge_role

TEMPLATES = str(Path(__file__).parent.parent / "accounts" / "templates")

CUSTOM_SCOPES = {
    "custom:accounts:read": {
        "description": "Read accounts: level, identities, email address, attributes and grants.",
    },
    "custom:accounts:write": {
        "description": "Create and delete accounts, change their level and attributes.",
        "subscopes": ["custom:accounts:read"],
    },
    "custom:accounts:login-links": {
        "description": "Ask for one-time login links for users.",
    },
    "custom:accounts:notify": {
        "description": "Mail users notices through the hub (the booking service's), without reading their addresses.",
    },
}


def configure_accounts(
    c,
    *,
    trial_culler_timeout: int | None = 3600,
    server_culler_timeout: int | None = None,
    culler_interval: int = 300,
) -> None:
    """Use AglaisAuthenticator on a JupyterHub config object `c`.

    - the authenticator, and its templates ahead of the hub's own;
    - the custom scopes ``custom:accounts:{read,write,login-links,notify}``; every user may
      read their own account (``custom:accounts:read!user``); the role ``accounts-admin``
      holds them all, for people or services an admin chooses;
    - the level groups, with their properties (Levels.properties);
    - jupyterhub-idle-culler for trial accounts: its token reaches only users in the trial
      group (``!group=level-0``), so it deletes idle trial users and nobody else
      (`trial_culler_timeout` seconds idle; None: no culler);
    - optionally a second culler that only stops other users' idle servers
      (`server_culler_timeout`);
    - where a login lands (`JupyterHub.default_url`, unless set): `landing`.
    """
    hub = c.JupyterHub
    hub.authenticator_class = "hub_extension.accounts.authenticator.AglaisAuthenticator"
    hub.template_paths = [TEMPLATES] + [p for p in configured(hub, "template_paths", []) if p != TEMPLATES]
    hub.custom_scopes = {**configured(hub, "custom_scopes", {}), **CUSTOM_SCOPES}

    levels = Levels(config=c)
    groups = dict(configured(hub, "load_groups", {}))
    for name, entry in levels.load_groups().items():
        groups[name] = {**entry, **groups.get(name, {})}
    hub.load_groups = groups

    roles = [dict(r) for r in configured(hub, "load_roles", [])]
    merge_role(roles, "user", ["self", "custom:accounts:read!user"])
    merge_role(roles, "accounts-admin", list(CUSTOM_SCOPES))
    services = list(configured(hub, "services", []))
    python = sys.executable
    if trial_culler_timeout:
        trial = f"!group={levels.trial}"
        merge_role(roles, "trial-culler", [s + trial for s in (
            "list:users", "read:users:activity", "read:servers", "delete:servers", "admin:users")],
            services=["trial-culler"])
        services.append({"name": "trial-culler", "command": [
            python, "-m", "jupyterhub_idle_culler", f"--timeout={trial_culler_timeout}",
            f"--cull-every={culler_interval}", "--cull-users=True", "--remove-named-servers=True"]})
    if server_culler_timeout:
        merge_role(roles, "server-culler", ["list:users", "read:users:activity", "read:servers", "delete:servers"],
                    services=["server-culler"])
        services.append({"name": "server-culler", "command": [
            python, "-m", "jupyterhub_idle_culler", f"--timeout={server_culler_timeout}",
            f"--cull-every={culler_interval}"]})
    hub.services = services
    hub.load_roles = roles
    if "default_url" not in hub:
        hub.default_url = landing(levels.trial)


def landing(trial_group: str):
    """JupyterHub's default sends a login to /hub/spawn, which starts a walk-in server at
    once, before a user can choose a booking. Ours lands on the hub's home page, where
    nothing starts until they choose; a trial account (which cannot book) goes on to its
    server, which is what "Give it a try" is for. Anonymous visitors get the hub's own
    way (the login page)."""
    def default_url(handler) -> str:
        user = handler.current_user
        if user is None:
            return ""
        page = "spawn" if any(g.name == trial_group for g in user.groups) else "home"
        return handler.hub.base_url + page
    return default_url
