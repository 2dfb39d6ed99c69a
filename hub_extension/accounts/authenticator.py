"""AglaisAuthenticator: every way into the hub, on one login page.

- "Give it a try": one click makes a transient level-0 account (pages.TryHandler).
- OAuth with several providers at once (oauth.py).
- Email and password, with confirmation by email, password reset and throttling.
- One-time login links that an admin or a trusted service asks the account API for.

This class holds the hub's hooks and the options; the account workflows are in
workflows.py, the pages in pages.py, the REST API in api.py, the tables in tables.py and
store.py; levels are hub groups (../levels.py). The hub user and the account share one normalised name.
"""

from __future__ import annotations

import os
import pwd
from datetime import timedelta

from jupyterhub.auth import Authenticator
from jupyterhub.spawner import LocalProcessSpawner
from sqlalchemy.orm import object_session
from tornado import web
from traitlets import Bool, Callable, Dict, Instance, Integer, List, Unicode, default, validate

from ..levels import Levels
from ..mail import Mailer
from ..text import for_log
from . import api, credentials, pages
from .client import client_address
from .executors import argon2
from .oauth import build_provider, handlers_for
from .store import AccountStore
from .throttle import Limit, Throttle, TooMany
from .usage import UsageFigures
from .workflows import AccountWorkflows


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

    allow_try = Bool(
        help="""Offer "Give it a try": one click makes a transient level-0 account. On by
        default, except where servers share the hub's OS user (a local-process spawner in a
        hub that is not root): there a stranger's server could read every user's files and
        the hub's secrets, so turn it on only knowingly.""",
    ).tag(config=True)
    try_limit = _limit_trait("10/h", "How many trial accounts one client address may make.")
    max_trial_accounts = Integer(
        200, help="How many trial accounts may exist at once; the next visitor is asked to come back later.",
    ).tag(config=True)

    allow_signup = Bool(True, help="Offer sign-up with email and password (needs mail: Mailer).").tag(config=True)
    login_limit_account = _limit_trait("5/15m", "Failed password logins allowed per account (or login name).")
    login_limit_address = _limit_trait("30/15m", "Failed password logins allowed per client address.")
    signup_limit_address = _limit_trait("10/h", "Sign-ups allowed per client address.")
    mail_limit_recipient = _limit_trait(
        "3/h", "Sign-up, resend and reset requests per address to be mailed, whether or not the address has an "
               "account (so that a refusal tells nobody which addresses are registered). Formerly "
               "mail_limit_account, which counted per account.")
    mail_limit_address = _limit_trait("10/h", "Sign-up, resend and reset requests per client address.")
    notice_limit_recipient = _limit_trait(
        "20/h", "Notices the booking service may have the hub mail to one account (POST /hub/api/accounts/{name}/"
                "notices); beyond, the notice shows in the notebook and on the calendar only.")

    name_reuse_days = Integer(
        90, min=0,
        help="""For how many days the name of a deleted account is not given to a new one:
        the names the hub chooses (trial accounts, sign-up, OAuth) pass it by, so that no
        stranger inherits what is still keyed by it elsewhere (logs, other services,
        anything the forget hooks could not reach). An admin who creates the name
        deliberately (the account API, the hub's admin page) may reuse it. 0: no wait.""",
    ).tag(config=True)
    forget_hooks = List(
        Callable(),
        help="""Called with the name of every hub user that is deleted, before its account
        goes (logout of a trial account, the idle culler, an admin, the account API):
        `hook(name)`, which may be async. For the booking service,
        `functools.partial(hub_extension.booking_client.forget_user, url=..., token=...)`
        cancels the user's bookings, queue entries and sessions. If a hook fails, nothing
        is deleted and the deletion answers 503; the culler tries again on its next round.""",
    ).tag(config=True)

    trusted_proxy_hops = Integer(
        1,
        help="""How many proxies in front of the hub append the client's address to
        X-Forwarded-For, and are trusted to: the per-address limits key on the address the
        outermost of them saw, the `trusted_proxy_hops`-th entry from the right. 1 is
        configurable-http-proxy alone (the default, and the embedded default); 2 with an
        ingress or load balancer in front of it that appends to X-Forwarded-For (nginx's
        `$proxy_add_x_forwarded_for`, Traefik and most cloud load balancers do); 0 when
        clients reach the hub directly. X-Real-Ip and anything else a client sends are
        never read. Too many hops lets a client choose its address; too few makes every
        client one address (the ingress's). The hub's own port must be reachable only
        through these proxies.""",
    ).tag(config=True)

    usage_cache_seconds = Integer(
        60,
        help="""How long the account page keeps a home's usage figures before it walks the
        home again. Each user's home is walked at most once at a time however often the
        page is loaded.""",
    ).tag(config=True)
    usage_cache_entries = Integer(
        1000, help="For how many users the account page keeps usage figures (the least recently asked for go first).",
    ).tag(config=True)
    usage_scan_threads = Integer(
        1,
        help="""Threads that walk homes for the account page's usage figures. They are the
        walks' own: logins (argon2) and the hub's default executor never wait for them.""",
    ).tag(config=True)

    confirm_hours = Integer(48, help="How long a confirmation link works, in hours.").tag(config=True)
    reset_minutes = Integer(60, help="How long a password-reset link works, in minutes.").tag(config=True)
    login_link_minutes = Integer(15, help="How long a one-time login link works unless the request says otherwise.").tag(config=True)
    login_link_max_minutes = Integer(24 * 60, help="The longest lifetime a login-link request may ask for.").tag(config=True)

    terms_url = Unicode(
        "", help="If set, new accounts must accept the terms at this URL (a checkbox on sign-up, a page after OAuth).",
    ).tag(config=True)

    levels = Instance(Levels)
    mailer = Instance(Mailer)
    usage_figures = Instance(UsageFigures)

    @default("usage_figures")
    def _usage_figures(self):
        return UsageFigures(seconds=self.usage_cache_seconds, entries=self.usage_cache_entries,
                            threads=self.usage_scan_threads)

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

    @default("allow_try")
    def _allow_try(self):
        return not self.servers_share_hub_user()

    def servers_share_hub_user(self) -> bool:
        """A hub that is not root runs local processes as itself, whatever the spawner's mode."""
        spawner = getattr(self.parent, "spawner_class", None)
        return os.geteuid() != 0 and isinstance(spawner, type) and issubclass(spawner, LocalProcessSpawner)

    @validate("try_limit", "login_limit_account", "login_limit_address", "signup_limit_address",
              "mail_limit_recipient", "mail_limit_address", "notice_limit_recipient")
    def _valid_limit(self, proposal):
        try:
            Limit.parse(proposal["value"])
        except ValueError as e:
            raise ValueError(f"AglaisAuthenticator.{proposal['trait'].name}: {e}") from None
        return proposal["value"]

    @validate("usage_cache_entries", "usage_scan_threads")
    def _at_least_one(self, proposal):
        if proposal["value"] < 1:
            raise ValueError(f"AglaisAuthenticator.{proposal['trait'].name}: {proposal['value']} is below 1")
        return proposal["value"]

    @validate("trusted_proxy_hops")
    def _valid_hops(self, proposal):
        if proposal["value"] < 0:
            raise ValueError(f"AglaisAuthenticator.trusted_proxy_hops: {proposal['value']} is below 0; "
                             "give how many proxies append to X-Forwarded-For (1: configurable-http-proxy)")
        return proposal["value"]

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.store = AccountStore(self.db_url, name_reuse=timedelta(days=self.name_reuse_days))
        self.throttle = Throttle(self.store)
        self.oauth_providers = {key: build_provider(self, key, settings) for key, settings in self.providers.items()}
        self.workflows = AccountWorkflows(self)
        if self.servers_share_hub_user():
            me = pwd.getpwuid(os.geteuid()).pw_name
            if self.allow_try:
                self.log.warning('"Give it a try" is on, and every server runs as the hub\'s own OS user %s: a trial '
                                 "user can read the other users' files and the hub's data (AglaisAuthenticator.allow_try)", me)
            else:
                self.log.warning('"Give it a try" is off: the hub runs as %s, not root, so every server would run as %s '
                                 "and could read the other users' files and the hub's secrets; set "
                                 "AglaisAuthenticator.allow_try = True to offer it anyway", me, me)
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
        # argon2 takes tens of milliseconds of CPU on purpose: off the hub's event loop, on
        # threads that nothing else queues on
        result = await argon2(self.store.check_login, login, password)
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

    async def delete_user(self, user):
        """The hub is deleting a user: every deletion passes here (logout of a trial
        account, the culler and admins through the hub's API, the account API). The
        account workflows' forget() cancels a pending start, runs forget_hooks and deletes
        the account; its files go with the spawner's delete_forever."""
        await self.workflows.forget(user)
        return super().delete_user(user)

    def get_handlers(self, app):
        routes = pages.routes() + api.routes()
        for provider in self.oauth_providers.values():
            routes += handlers_for(provider, app)
        return routes
