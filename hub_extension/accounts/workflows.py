"""The account workflows: what happens to accounts and identities, whichever way it is
asked for (the pages, the account REST API, the authenticator's OAuth callback). Handlers
parse and render; the store keeps the rows; what connects them is here.

The options are the authenticator's (AglaisAuthenticator is the configurable object the
hub builds); `settings` is that authenticator.
"""

from __future__ import annotations

import smtplib
from datetime import timedelta
from urllib.parse import urlsplit

from jupyterhub.utils import maybe_future, url_path_join
from tornado import web

from ..text import for_log
from .client import client_address
from .store import AccountError, IdentityTaken

LINK_COOKIE = "aglais-link"  # names the account an OAuth identity is being linked to
PENDING_COOKIE = "aglais-pending"  # a new OAuth identity waiting for the terms to be accepted
COOKIE_MINUTES = 10


class AccountWorkflows:
    """The account workflows of one hub, on the authenticator's store, throttle, levels,
    mailer and OAuth providers."""

    def __init__(self, settings):
        self.settings = settings
        self.log = settings.log
        self.store = settings.store
        self.throttle = settings.throttle
        self.levels = settings.levels
        self.mailer = settings.mailer
        self.oauth_providers = settings.oauth_providers

    def absolute_url(self, handler, path: str) -> str:
        """`path` under the hub, on the public address (its scheme and host: the hub's
        base URL is already in the path)."""
        public = urlsplit(self.settings.public_url)
        return f"{public.scheme}://{public.netloc}" + url_path_join(handler.hub.base_url, path)

    def promote(self, handler, name: str) -> None:
        """A trial account registered: it keeps its name and files and becomes level 1."""
        account = self.store.get(name)
        if account is None or not account.transient:
            return
        self.store.update(name, transient=False, initial_level=self.levels.registered)
        user = handler.find_user(name)
        if user is not None and self.levels.level_of(user.orm_user) == self.levels.trial:
            self.levels.set_level(handler.db, user.orm_user, self.levels.registered)
        self.log.info("Trial account %s registered", name)

    def new_account_name(self, handler, wanted: str) -> str:
        return self.store.free_name(wanted, taken=lambda name: handler.find_user(name) is not None)

    async def resolve_identity(self, handler, *, provider: str, subject: str, email: str | None,
                               label: str, wanted_name: str) -> str | None:
        """The account an OAuth identity logs into: its own, the one it is being linked to,
        or a new level-1 account (after the terms page, if there are terms)."""
        label = (label or "")[:255]
        identity = self.store.find_identity(provider, subject)
        linking = self.linking_account(handler)
        title = self.oauth_providers[provider].login_service
        if identity is not None:
            if linking and identity.account_name != linking:
                raise web.HTTPError(409, f"This {title} identity already belongs to another account. "
                                         "Log in with it, or link a different one.")
            handler.clear_cookie(LINK_COOKIE, path=handler.hub.base_url)
            return identity.account_name
        if linking:
            self.store.add_identity(linking, provider, subject, email=email, confirmed=email is not None, label=label)
            handler.clear_cookie(LINK_COOKIE, path=handler.hub.base_url)
            self.promote(handler, linking)
            self.log.info("Linked a %s identity to %s", provider, linking)
            return linking
        if self.settings.terms_url:
            pending = {"provider": provider, "subject": subject, "email": email, "label": label, "wanted": wanted_name}
            handler.set_secure_cookie(PENDING_COOKIE, web.escape.json_encode(pending), expires_days=None,
                                      path=handler.hub.base_url, httponly=True, samesite="lax")
            handler.redirect(url_path_join(handler.hub.base_url, "accounts/complete"))
            raise web.Finish()
        return self.create_oauth_account(handler, provider=provider, subject=subject, email=email,
                                         label=label, wanted=wanted_name, terms=False)

    def create_oauth_account(self, handler, *, provider, subject, email, label, wanted, terms) -> str:
        name = self.new_account_name(handler, wanted or provider)
        self.store.create(name, level=self.levels.registered, terms=terms)
        try:
            self.store.add_identity(name, provider, subject, email=email, confirmed=email is not None, label=label)
        except IdentityTaken:
            self.store.delete(name)  # another request linked it meanwhile: use that account
            return self.store.find_identity(provider, subject).account_name
        self.log.info("New account %s from a %s identity", name, provider)
        return name

    def linking_account(self, handler) -> str | None:
        """The account the signed link cookie names, if that is who is logged in."""
        wanted = handler.get_secure_cookie(LINK_COOKIE, max_age_days=COOKIE_MINUTES / 1440)
        user = handler.current_user
        if wanted and user is not None and wanted.decode() == user.name:
            return user.name
        return None

    def code_lifetime(self, purpose: str) -> timedelta:
        return {"confirm": timedelta(hours=self.settings.confirm_hours), "reset": timedelta(minutes=self.settings.reset_minutes),
                "login": timedelta(minutes=self.settings.login_link_minutes)}[purpose]

    async def delete_hub_user(self, handler, user) -> None:
        """Everything the hub's DELETE /users/{name} does: stop the servers, then the
        authenticator's and the spawners' cleanup (the files), then the user."""
        for name, spawner in list(user.spawners.items()):
            if spawner.active:
                await handler.stop_single_user(user, name)
        await maybe_future(self.settings.delete_user(user))
        await user.delete_spawners()
        handler.users.delete(user)

    def mail_checks(self, handler, name: str | None) -> list:
        """The limits a mail about account `name` (None: an account still to be made) must
        be within; raises TooMany (or an AccountError without mail) if it is not, so
        callers can ask before they write anything."""
        if not self.mailer.enabled:
            raise AccountError("This hub sends no mail, so this cannot be done here: ask an admin.", 503)
        checks = [(f"mail:addr:{client_address(handler)}", self.settings.limit("mail_limit_address"))]
        if name is not None:
            checks.append((f"mail:account:{name}", self.settings.limit("mail_limit_account")))
        self.throttle.check(checks, "We sent you mail only a moment ago. Ask again {wait}.")
        return checks

    async def send_mail(self, handler, name: str, address: str, kind: str, make_values=dict) -> None:
        """Mail MESSAGES[kind] about account `name`, within the per-account and per-address
        limits; `make_values` is called only once the limits allow it."""
        checks = self.mail_checks(handler, name)
        values = make_values()
        self.throttle.hit(*(key for key, _ in checks))
        subject, body = MESSAGES[kind]
        try:
            await self.mailer.send(address, subject, body.format(name=name, **values))
        except (OSError, smtplib.SMTPException) as e:
            self.log.error("Could not mail %s: %s", for_log(address), e)
            raise AccountError("We could not send mail just now. Try again in a few minutes.", 503) from None

    async def send_code(self, handler, name: str, purpose: str, address: str, *, identity_id=None) -> None:
        """Mail a confirmation or reset link."""
        def values():
            code, expires = self.store.issue_code(name, purpose, self.code_lifetime(purpose), identity_id=identity_id)
            path = {"confirm": "accounts/confirm", "reset": "accounts/reset/confirm"}[purpose]
            return {"link": self.absolute_url(handler, path) + "?code=" + code,
                    "expires": expires.strftime("%Y-%m-%d %H:%M UTC")}

        await self.send_mail(handler, name, address, purpose, values)


MESSAGES = {
    "confirm": ("Confirm your address", "Hello,\n\nsomeone, probably you, signed up with this address as {name}.\n"
                "To confirm it and log in, open this link and press Confirm:\n\n{link}\n\n"
                "The link works once, until {expires}. If it wasn't you, ignore this mail.\n"),
    "reset": ("Reset your password", "Hello,\n\nsomeone, probably you, asked to reset the password of {name}.\n"
              "To choose a new one, open this link:\n\n{link}\n\n"
              "The link works once, until {expires}. If it wasn't you, ignore this mail: "
              "your password stays as it is.\n"),
    "taken": ("Your address is already registered", "Hello,\n\nsomeone, probably you, tried to sign up with this "
              "address, which already has an account.\nLog in, or reset your password here:\n\n{link}\n"),
}
