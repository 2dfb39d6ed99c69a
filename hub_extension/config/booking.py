"""Hub-side wiring of the booking service: its custom scopes, the roles that grant them,
and the service entry (hub-managed or external)."""

from __future__ import annotations

import secrets
import sys
from functools import partial

from aglais_common.facts import group_levels

from ..booking_client import forget_user
from . import configured, merge_role

SERVICE_NAME = "booking"
NOTIFY_SCOPE = "custom:accounts:notify"  # declared by configure_accounts (hub_extension/config/accounts.py)

CUSTOM_SCOPES = {
    "custom:booking:read": {
        "description": "See pools, packages, availability and your own bookings.",
    },
    "custom:booking:write": {
        "description": "Book, extend, shorten and cancel your own bookings.",
        "subscopes": ["custom:booking:read"],
    },
    "custom:booking:sessions": {
        "description": "Start and stop sessions for any user: the booking-aware spawner's scope.",
        "subscopes": ["custom:booking:read"],
    },
    "custom:booking:admin": {
        "description": "Manage pools, capacity and packages, and everyone's bookings.",
        "subscopes": ["custom:booking:write"],
    },
    "custom:booking:forget": {
        "description": "Cancel every booking, queue place and session of a deleted hub user: the hub's own scope.",
    },
}


def configure_booking_service(
    c,
    *,
    url: str,
    db_url: str | None = None,
    managed: bool = True,
    seed_local_pool: bool = False,
    name: str = SERVICE_NAME,
    api_token: str | None = None,
    extra_args: list | None = None,
    spawner_token: str | None = None,
    forget_token: str | None = None,
) -> None:
    """Register the booking service with a JupyterHub config object `c`.

    - custom scopes ``custom:booking:{read,write,admin}``;
    - every user may read and book (the ``user`` role); hub admins, and whoever is
      given the ``booking-admin`` role, administer pools, packages and bookings;
    - the service, reached at `url` and mounted at ``/services/<name>/``. With
      `managed`, the hub starts it (``python -m booking_service``), with `db_url` in
      its environment (``$AGLAIS_BOOKING_DB_URL``, never on its command line) and the
      level groups set so far in ``c.Levels.groups`` (set them first); otherwise it
      runs elsewhere with `api_token`. Its own token may read users' groups (their level)
      and stop servers (when a booking ends), and, if `configure_accounts` ran first, ask
      the hub to mail users their notices (``custom:accounts:notify``), nothing more;
    - the service ``<name>-spawner``, whose token the booking-aware spawner uses to
      start and stop sessions (``custom:booking:sessions``), and the spawner's
      settings (``BookingSpawnerMixin.booking_api_url`` and ``booking_api_token``);
    - the service ``<name>-accounts``, whose token only forgets deleted users
      (``custom:booking:forget``): `AglaisAuthenticator.forget_hooks` gets
      `hub_extension.booking_client.forget_user` with it, so deleting an account ends
      its bookings, queue places and sessions first.
    """
    if not managed and not api_token:
        raise ValueError(
            "configure_booking_service(managed=False) needs api_token: the token the external "
            "booking service is started with (JUPYTERHUB_API_TOKEN)"
        )
    hub = c.JupyterHub
    # read what earlier config set (hubconfig.configured) and write it back whole
    hub.custom_scopes = {**configured(hub, "custom_scopes", {}), **CUSTOM_SCOPES}

    roles = [dict(r) for r in configured(hub, "load_roles", [])]
    # 'self' is the user role's default; access to the service lets browser and API
    # tokens reach it.
    merge_role(roles, "user", ["self", f"access:services!service={name}",
                                "custom:booking:read", "custom:booking:write"])
    # JupyterHub's admin role cannot be changed; hub admins are booking admins because
    # the service reads `admin` from the user model. This role grants it to others.
    merge_role(roles, "booking-admin", ["custom:booking:admin", f"access:services!service={name}"])

    # The service's own token: look up users' levels (groups), see which servers run and
    # stop those whose booking ended; nothing else (scoped as jupyterhub-idle-culler's is).
    merge_role(roles, f"{name}-service", ["read:users:name", "read:users:groups", "list:users",
                                           "read:servers", "delete:servers"], services=[name])
    # and, where the hub has the accounts (configure_accounts ran first), ask it to mail
    # users their notices: the hub holds the addresses and the mail settings, not the service
    if NOTIFY_SCOPE in configured(hub, "custom_scopes", {}):
        merge_role(roles, f"{name}-service", [NOTIFY_SCOPE], services=[name])

    service = {
        "name": name,
        "url": url,
        "display": True,
        "oauth_no_confirm": True,
        # what a browser's login to the service may carry: never more than the user has
        "oauth_client_allowed_scopes": ["custom:booking:read", "custom:booking:write", "custom:booking:admin"],
    }
    if managed:
        args = [sys.executable, "-m", "booking_service"]
        if db_url:
            # in its environment (BookingService.db_url's default), not on its command
            # line, which any local user reads in /proc and the hub logs as it starts it
            service["environment"] = {"AGLAIS_BOOKING_DB_URL": db_url}
        if seed_local_pool:
            args.append("--seed-local-pool")
        # the levels are the hub's groups: the service maps the same names (an external
        # service is configured with the same list by whoever starts it)
        groups = configured(c.Levels, "groups", None)
        if groups:
            args += [f"--LevelPolicy.group_levels={group}={number}" for group, number in group_levels(groups).items()]
        service["command"] = args + list(extra_args or [])
    if api_token:
        service["api_token"] = api_token
    # The spawner's identity towards the booking service: it may start and stop
    # sessions for anyone, and nothing else.
    spawner = f"{name}-spawner"
    spawner_token = spawner_token or secrets.token_hex(32)
    merge_role(roles, spawner, ["custom:booking:sessions", f"access:services!service={name}"], services=[spawner])
    # The hub's caller that forgets deleted users: a service of its own, not the
    # spawner's, since this token ends everything a user holds and each can be revoked alone.
    forgetter = f"{name}-accounts"
    forget_token = forget_token or secrets.token_hex(32)
    merge_role(roles, forgetter, ["custom:booking:forget", f"access:services!service={name}"], services=[forgetter])
    hub.load_roles = roles
    # the service serves under the hub's base URL ($JUPYTERHUB_SERVICE_PREFIX), so its
    # own address carries it too: set JupyterHub.base_url before calling this
    base = "/" + configured(hub, "base_url", "/").strip("/")
    prefix = f"{base.rstrip('/')}/services/{name}/"
    api_url = f"{url.rstrip('/')}{prefix}api/v1"
    hooks = [h for h in configured(c.AglaisAuthenticator, "forget_hooks", [])
             if getattr(h, "keywords", {}).get("url") != api_url]
    c.AglaisAuthenticator.forget_hooks = hooks + [partial(forget_user, url=api_url, token=forget_token)]
    c.BookingSpawnerMixin.booking_api_url = api_url
    c.BookingSpawnerMixin.booking_api_token = spawner_token
    c.BookingSpawnerMixin.calendar_url = prefix
    # The server's own token ($JUPYTERHUB_API_TOKEN): what JupyterHub's `server` role gives
    # it, plus reading and extending its user's own bookings for the JupyterLab extension
    # (aglais_lab, docs/labextension.md); `!user` limits both to that user.
    c.BookingSpawnerMixin.server_token_scopes = [
        "users:activity!user", "access:servers!server",
        "custom:booking:read!user", "custom:booking:write!user", f"access:services!service={name}",
    ]
    services = [s for s in configured(hub, "services", []) if s.get("name") not in (name, spawner, forgetter)]
    services += [service, {"name": spawner, "api_token": spawner_token, "display": False},
                 {"name": forgetter, "api_token": forget_token, "display": False}]
    hub.services = services
