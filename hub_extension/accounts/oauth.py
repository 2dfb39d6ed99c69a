"""Several OAuth providers at once, each an oauthenticator provider class.

The approach is jupyterhub-multiauthenticator's: one instance of the provider's class per
configured provider, its handlers mounted under /hub/oauth/<key>/, and a handler subclass
whose `authenticator` is that instance. We do not use the package itself because we need
what it does not do: map the provider's user to one of our accounts by a stable subject
(not by a prefixed username), link identities, and keep admin and levels with the account.

Each provider is configured by a dict (AglaisAuthenticator.providers):

    {"github": {"kind": "github", "client_id": "...", "client_secret": "..."},
     "demo":   {"kind": "oidc", "label": "Demo provider", "issuer": "http://127.0.0.1:8004",
                "client_id": "...", "client_secret": "..."}}

`kind` picks a preset (PRESETS); every other key is a trait of the provider's class
(oauthenticator's own settings: allowed organisations, hosted domains, URLs, ...).
"""

from __future__ import annotations

import json
import urllib.request
from dataclasses import dataclass
from typing import Callable

from jupyterhub.utils import url_path_join
from traitlets import import_item


@dataclass(frozen=True)
class Preset:
    cls: str
    label: str
    defaults: dict
    subject: Callable[[dict], str]  # the provider's stable user id, from its user info
    username: Callable[[dict], str]  # what to name a new account after
    verified_email: Callable[[dict], str | None]  # an address the provider says is verified


def _oidc_email(info: dict) -> str | None:
    return info.get("email") if info.get("email_verified") is True else None


def _google_email(info: dict) -> str | None:
    verified = info.get("email_verified", info.get("verified_email"))
    return info.get("email") if verified is True else None


def _github_email(info: dict) -> str | None:
    # oauthenticator's GitHub class fills `email` from /user/emails (primary and verified)
    # when the public one is empty and the user:email scope was granted; a public email
    # on a GitHub profile has to be verified to be shown.
    return info.get("email") or None


def _name_part(address: str | None) -> str:
    return (address or "").split("@")[0]


PRESETS = {
    "github": Preset(
        "oauthenticator.github.GitHubOAuthenticator", "GitHub", {"scope": ["read:user", "user:email"]},
        subject=lambda info: str(info["id"]), username=lambda info: info.get("login") or "",
        verified_email=_github_email),
    "google": Preset(
        "oauthenticator.google.GoogleOAuthenticator", "Google", {"scope": ["openid", "email"]},
        subject=lambda info: str(info["sub"]), username=lambda info: _name_part(info.get("email")),
        verified_email=_google_email),
    # Facebook speaks plain OAuth 2 with a Graph API user endpoint; it does not say whether
    # an address is verified, so its addresses are never used.
    "facebook": Preset(
        "oauthenticator.generic.GenericOAuthenticator", "Facebook", {
            "authorize_url": "https://www.facebook.com/v19.0/dialog/oauth",
            "token_url": "https://graph.facebook.com/v19.0/oauth/access_token",
            "userdata_url": "https://graph.facebook.com/v19.0/me?fields=id,name",
            "username_claim": "id", "scope": ["public_profile"]},
        subject=lambda info: str(info["id"]), username=lambda info: info.get("name") or "",
        verified_email=lambda info: None),
    "oidc": Preset(
        "oauthenticator.generic.GenericOAuthenticator", "OpenID Connect",
        {"username_claim": "sub", "scope": ["openid", "email", "profile"]},
        subject=lambda info: str(info["sub"]),
        username=lambda info: info.get("preferred_username") or _name_part(info.get("email")) or "",
        verified_email=_oidc_email),
}


def discover(issuer: str, timeout: float = 10) -> dict:
    """An OpenID Connect provider's endpoints, from its discovery document.

    Read once at start-up (blocking, before the hub serves anything); oauthenticator's
    GenericOAuthenticator takes the three URLs but does not read the document itself.
    """
    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (the admin's own URL)
        document = json.load(response)
    return {"authorize_url": document["authorization_endpoint"], "token_url": document["token_endpoint"],
            "userdata_url": document["userinfo_endpoint"]}


class ProviderMixin:
    """Mixed into a provider's class: mounts it under /oauth/<key>/ and hands the
    provider's user to the accounts (AccountWorkflows.resolve_identity)."""

    provider_key = ""
    preset: Preset

    @property
    def url_scope(self) -> str:
        return "/oauth/" + self.provider_key

    def login_url(self, base_url):
        return url_path_join(base_url, self.url_scope, "oauth_login")

    def get_callback_url(self, handler=None):
        if self.oauth_callback_url:
            return self.oauth_callback_url
        # the request's own host, like oauthenticator's guess, but on our path
        return f"{handler.request.protocol}://{handler.request.host}" + url_path_join(
            handler.hub.server.base_url, self.url_scope, "oauth_callback")

    def get_handlers(self, app):
        # logout is the hub's (AglaisAuthenticator), not each provider's
        return [(url_path_join(self.url_scope, path), handler)
                for path, handler in super().get_handlers(app) if path != r"/logout"]

    async def get_authenticated_user(self, handler, data):
        # The provider's own checks first (allowed organisations, hosted domains, ...),
        # then the account the identity belongs to, with the hub's admin decision.
        model = await super().get_authenticated_user(handler, data)
        if model is None:
            return None
        info = (model.get("auth_state") or {}).get(self.user_auth_state_key) or {}
        known_as = self.preset.username(info) or model["name"]  # what the person calls themselves there
        name = await self.parent.workflows.resolve_identity(
            handler, provider=self.provider_key, subject=self.preset.subject(info),
            email=self.preset.verified_email(info), label=known_as, wanted_name=known_as,
        )
        if name is None:
            return None
        account_model = {"name": name, "auth_state": None, "user_info": None, "admin": None}
        account_model["admin"] = self.parent.is_admin(handler, account_model)
        return account_model

    # The account, not the provider, decides these.
    def add_user(self, user):
        return self.parent.add_user(user)

    def is_admin(self, handler, authentication):
        return self.parent.is_admin(handler, authentication)


def build_provider(parent, key: str, settings: dict):
    """An instance of the provider class for `settings`, a child of `parent`."""
    settings = dict(settings)
    kind = settings.pop("kind", key)
    if kind not in PRESETS:
        raise ValueError(f"AglaisAuthenticator.providers[{key!r}]: kind {kind!r} is not one of {', '.join(PRESETS)}")
    if not key.replace("-", "").replace("_", "").isalnum():
        raise ValueError(f"AglaisAuthenticator.providers: {key!r} must be letters, digits, '-' or '_' (it is in URLs)")
    preset = PRESETS[kind]
    label = settings.pop("label", preset.label)
    issuer = settings.pop("issuer", None)
    base = import_item(settings.pop("class", preset.cls))
    config = {**preset.defaults, "allow_all": True, "login_service": label}
    if issuer and not {"authorize_url", "token_url", "userdata_url"} <= settings.keys():
        config.update(discover(issuer))
    config.update(settings)
    cls = type(f"{base.__name__}_{key}", (ProviderMixin, base), {"provider_key": key, "preset": preset})
    return cls(parent=parent, **config)


def handlers_for(provider, app) -> list[tuple[str, type]]:
    """The provider's handlers, each a subclass whose `authenticator` is the provider."""
    routes = []
    for path, handler in provider.get_handlers(app):
        routes.append((path, type(handler.__name__, (handler,), {"authenticator": provider})))
    return routes
