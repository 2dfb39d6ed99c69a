"""AglaisAuthenticator: every way into the hub, on one login page.

- "Give it a try": one click makes a transient level-0 account (pages.TryHandler).
- OAuth with several providers at once (oauth.py).
- Email and password, with confirmation by email, password reset and throttling.
- One-time login links that an admin or a trusted service asks the account API for.

Accounts live in their own tables (tables.py, accounts.py); levels are hub groups
(levels.py). The hub user and the account share one normalised name.
"""

from __future__ import annotations

import asyncio
import smtplib
from datetime import timedelta
from urllib.parse import urlsplit

from jupyterhub.auth import Authenticator
from sqlalchemy.orm import object_session
from jupyterhub.utils import maybe_future, url_path_join
from tornado import web
from traitlets import Bool, Dict, Instance, Integer, Unicode, default, validate

from . import credentials
from .accounts import AccountError, AccountStore, IdentityTaken
from .credentials import for_log
from .levels import Levels
from .mail import Mailer
from .oauth import build_provider, handlers_for
from .throttle import Limit, Throttle, TooMany

LINK_COOKIE = "aglais-link"  # names the account an OAuth identity is being linked to
PENDING_COOKIE = "aglais-pending"  # a new OAuth identity waiting for the terms to be accepted
COOKIE_MINUTES = 10


def _limit_trait(default_value: str, help: str):
    return Unicode(default_value, help=help + " Written as N per window, e.g. '5/15m' (s, m, h or d).").tag(config=True)


class AglaisAuthenticator(Authenticator):
    db_url = Unicode(
        "sqlite:///aglais_accounts.sqlite",
        help="""The account database (SQLAlchemy URL): accounts, identities, password hashes,
        single-use codes and the throttles' counts. SQLite for one hub, PostgreSQL
        (postgresql+psycopg://...) in production; its tables are versioned with alembic
        and upgraded at start-up.""",
    ).tag(config=True)

    providers = Dict(
        help="""OAuth providers, by key (the key is in their URLs: /hub/oauth/<key>/...).
        Each value is a dict: `kind` (github, google, facebook or oidc), optionally `label`
        (the button's text) and, for oidc, `issuer` (its discovery document is read at
        start-up); every other key is a setting of the provider's oauthenticator class,
        e.g. client_id, client_secret, oauth_callback_url, allowed_organizations.""",
    ).tag(config=True)

    local_accounts = Dict(
        help="""Accounts with a password, made or updated at start-up: {name: password}.
        For the hub's own admin in the embedded default; people sign up by themselves.""",
    ).tag(config=True)

    public_url = Unicode(
        help="""The hub's public address, for the links in mail (confirmation, password reset,
        login links). Defaults to JupyterHub.public_url, else its bind_url. Never taken
        from the request: a forged Host header must not end up in a mailed link.""",
    ).tag(config=True)

    allow_try = Bool(True, help='Offer "Give it a try": one click makes a transient level-0 account.').tag(config=True)
    try_limit = _limit_trait("10/h", "How many trial accounts one client address may make.")
    max_trial_accounts = Integer(
        200, help="How many trial accounts may exist at once; the next visitor is asked to come back later.",
    ).tag(config=True)

    allow_signup = Bool(True, help="Offer sign-up with email and password (needs mail: Mailer).").tag(config=True)
    login_limit_account = _limit_trait("5/15m", "Failed password logins allowed per account (or login name).")
    login_limit_address = _limit_trait("30/15m", "Failed password logins allowed per client address.")
    signup_limit_address = _limit_trait("10/h", "Sign-ups allowed per client address.")
    mail_limit_account = _limit_trait("3/h", "Confirmation or reset mails sent per account.")
    mail_limit_address = _limit_trait("10/h", "Confirmation or reset mails asked for per client address.")

    confirm_hours = Integer(48, help="How long a confirmation link works, in hours.").tag(config=True)
    reset_minutes = Integer(60, help="How long a password-reset link works, in minutes.").tag(config=True)
    login_link_minutes = Integer(15, help="How long a one-time login link works unless the request says otherwise.").tag(config=True)
    login_link_max_minutes = Integer(24 * 60, help="The longest lifetime a login-link request may ask for.").tag(config=True)

    terms_url = Unicode(
        "", help="If set, new accounts must accept the terms at this URL (a checkbox on sign-up, a page after OAuth).",
    ).tag(config=True)

    levels = Instance(Levels)
    mailer = Instance(Mailer)

    @default("levels")
    def _levels(self):
        return Levels(parent=self)

    @default("mailer")
    def _mailer(self):
        return Mailer(parent=self)

    @default("public_url")
    def _public_url(self):
        hub = self.parent
        return (getattr(hub, "public_url", "") or getattr(hub, "bind_url", "") or "").rstrip("/")

    @validate("try_limit", "login_limit_account", "login_limit_address", "signup_limit_address",
              "mail_limit_account", "mail_limit_address")
    def _valid_limit(self, proposal):
        try:
            Limit.parse(proposal["value"])
        except ValueError as e:
            raise ValueError(f"AglaisAuthenticator.{proposal['trait'].name}: {e}") from None
        return proposal["value"]

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.store = AccountStore(self.db_url)
        self.throttle = Throttle(self.store)
        self.oauth_providers = {key: build_provider(self, key, settings) for key, settings in self.providers.items()}
        for name, password in self.local_accounts.items():
            self._ensure_local_account(credentials.normalise_name(name), password)

    def _ensure_local_account(self, name: str, password: str) -> None:
        if self.store.get(name) is None:
            self.store.create(name, level=self.levels.registered, terms=True)
        if not self.store.check_login(name, password).account:
            self.store.set_password(name, password)

    def limit(self, trait: str) -> Limit:
        return Limit.parse(getattr(self, trait))

    # --- what the hub asks of an authenticator -----------------------------------------------

    def normalize_username(self, username):
        return credentials.normalise_name(username)

    async def authenticate(self, handler, data):
        """The login form: an account name or an email address, and a password."""
        login = credentials.normalise_name((data or {}).get("username", ""))[:320]
        password = (data or {}).get("password", "")
        address = client_address(handler)
        checks = [(f"login-fail:account:{login}", self.limit("login_limit_account")),
                  (f"login-fail:addr:{address}", self.limit("login_limit_address"))]
        try:
            self.throttle.check(checks, "Too many failed sign-ins. Try again {wait}, or reset your password.")
        except TooMany as e:
            self.log.warning("Login throttled for %s from %s", for_log(login), address)
            raise web.HTTPError(429, e.message) from None
        # argon2 takes tens of milliseconds of CPU on purpose: off the hub's event loop
        result = await asyncio.to_thread(self.store.check_login, login, password)
        if result.reason == "wrong":
            self.throttle.hit(*(key for key, _ in checks))
            return None
        if result.reason == "unconfirmed":
            raise web.HTTPError(403, "Confirm your email address first: follow the link we sent you. "
                                     "No mail? Ask for a new link on the sign-up page.")
        self.throttle.clear(checks[0][0])
        return {"name": result.account.name}

    def check_allowed(self, username, authentication=None):
        return self.store.get(username) is not None

    async def refresh_user(self, user, handler=None):
        # a deleted account logs out everywhere at the next refresh
        return self.store.get(user.name) is not None

    def add_user(self, user):
        """A hub user appeared (login, the REST API, start-up): give it an account and a level."""
        account = self.store.get(user.name)
        if account is None:
            account = self.store.create(user.name, level=self.levels.registered, check_name=False)
        # at start-up the hub hands over its database rows, later its User wrappers
        orm_user = getattr(user, "orm_user", user)
        if self.levels.level_of(orm_user) is None:
            self.levels.set_level(object_session(orm_user), orm_user, account.initial_level)
        return super().add_user(user)

    def delete_user(self, user):
        """The hub deleted a user (logout of a trial account, the culler, an admin): the
        account and its identities go too; its files go with the spawner's delete_forever."""
        if self.store.delete(user.name):
            self.log.info("Deleted account %s", user.name)
        return super().delete_user(user)

    def get_handlers(self, app):
        from . import api, pages

        routes = pages.routes() + api.routes()
        for provider in self.oauth_providers.values():
            routes += handlers_for(provider, app)
        return routes

    # --- accounts and identities --------------------------------------------------------------

    def absolute_url(self, handler, path: str) -> str:
        """`path` under the hub, on the public address (its scheme and host: the hub's
        base URL is already in the path)."""
        public = urlsplit(self.public_url)
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
        if self.terms_url:
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
        return {"confirm": timedelta(hours=self.confirm_hours), "reset": timedelta(minutes=self.reset_minutes),
                "login": timedelta(minutes=self.login_link_minutes)}[purpose]

    async def delete_hub_user(self, handler, user) -> None:
        """Everything the hub's DELETE /users/{name} does: stop the servers, then the
        authenticator's and the spawners' cleanup (the files), then the user."""
        for name, spawner in list(user.spawners.items()):
            if spawner.active:
                await handler.stop_single_user(user, name)
        await maybe_future(self.delete_user(user))
        await user.delete_spawners()
        handler.users.delete(user)

    def mail_checks(self, handler, name: str | None) -> list:
        """The limits a mail about account `name` (None: an account still to be made) must
        be within; raises TooMany (or an AccountError without mail) if it is not, so
        callers can ask before they write anything."""
        if not self.mailer.enabled:
            raise AccountError("This hub sends no mail, so this cannot be done here: ask an admin.", 503)
        checks = [(f"mail:addr:{client_address(handler)}", self.limit("mail_limit_address"))]
        if name is not None:
            checks.append((f"mail:account:{name}", self.limit("mail_limit_account")))
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


def client_address(handler) -> str:
    # JupyterHub runs tornado with xheaders, so behind the proxy this is the client's address.
    return (handler.request.remote_ip or "unknown")[:64]

