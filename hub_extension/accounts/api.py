"""The account REST API, part of the hub's API: /hub/api/accounts.

Scopes (declared by configure_accounts, granted through roles):
  custom:accounts:read         read an account: level, identities, address, attributes
  custom:accounts:write        create accounts, change their level and attributes, delete them
  custom:accounts:login-links  ask for a one-time login link for a user
  custom:accounts:notify       mail a user a notice (the booking service's), never seeing the address

Each can be filtered to users or groups like the hub's own scopes
(custom:accounts:read!user=alice); every user's default role holds
custom:accounts:read!user, their own account. A token with `admin:users` (hub admins)
may also read and write accounts, as it may already create and delete hub users.
Errors are JSON {"status", "message"}, as everywhere in the hub's API. Every body is
checked whole (bodies.py) before anything is read or written. The API is described by
openapi.yaml, served at /hub/api/openapi/accounts.json.
"""

from __future__ import annotations

import functools
import json
from datetime import timedelta
from pathlib import Path

import yaml
from aglais_common.times import format_time
from jupyterhub.apihandlers.base import APIHandler
from jupyterhub.scopes import has_scope
from tornado import web

from ..levels import effective
from ..text import for_log
from . import bodies, credentials, upstream
from .bodies import Attributes, Body, BodyError, Choice, Flag, Text, Whole
from .credentials import CredentialError
from .executors import argon2
from .store import AccountError

READ, WRITE, LINKS = "custom:accounts:read", "custom:accounts:write", "custom:accounts:login-links"
NOTIFY = "custom:accounts:notify"
# hub admins (admin:users: they can already create, delete and impersonate users through
# the hub's API) hold the account scopes too
EQUIVALENT = {READ: "admin:users", WRITE: "admin:users", LINKS: "admin:users", NOTIFY: "admin:users"}


class AccountAPI(APIHandler):
    @property
    def accounts(self):
        """The account workflows (workflows.py); their options are `accounts.settings`."""
        return self.authenticator.workflows

    def require(self, scope: str, name: str | None = None) -> None:
        """403 unless the caller holds `scope` (for `name`, if given) or its equivalent."""
        if self.current_user is None:
            raise web.HTTPError(403, "Missing or invalid credentials.")
        for candidate in (scope, EQUIVALENT[scope]):
            wanted = f"{candidate}!user={name}" if name else candidate
            if has_scope(wanted, self.parsed_scopes, db=self.db):
                return
        raise web.HTTPError(403, f"This needs the scope {scope}" + (f" for {name}." if name else "."))

    def body(self, spec: Body) -> dict:
        """The request's body, checked against `spec` before anything is read or written:
        every refusal of a body is made here (bodies.py), as a 4xx {"status", "message"}."""
        try:
            return bodies.parse(self.request.body or b"", spec)
        except BodyError as e:
            raise web.HTTPError(e.status, e.message) from None

    def level_names(self) -> list[str]:
        return list(self.accounts.levels.groups)

    def found(self, name: str):
        """The account and its hub user; 404 with the name if either is missing."""
        name = credentials.normalise_name(name)
        account = self.accounts.store.get(name)
        user = self.find_user(name)
        if account is None or user is None:
            raise web.HTTPError(404, f"No account {for_log(name)!r}.")
        return account, user

    def model(self, account, user) -> dict:
        groups = list(user.orm_user.groups)
        return {
            "name": account.name,
            "level": self.accounts.levels.level_of(user.orm_user),
            "groups": sorted(g.name for g in groups),
            "transient": account.transient,
            "created": isoformat(account.created),
            "email": self.accounts.store.email_of(account.name),
            "has_password": account.password is not None,
            "attributes": account.attributes or {},
            "grants": effective([g.properties for g in groups]),
            "identities": [identity_model(i) for i in account.identities],
        }

    def apply_changes(self, account, user, body: dict) -> None:
        level, attributes = body.get("level"), body.get("attributes")
        if attributes is not None:
            self.accounts.store.update(account.name, attributes=attributes)
        if level is not None:
            self.accounts.levels.set_level(self.db, user.orm_user, level)
            if level != self.accounts.levels.trial and account.transient:
                self.accounts.store.update(account.name, transient=False)


class AccountListAPI(AccountAPI):
    async def get(self):
        self.require(READ)
        names = self.accounts.store.names()
        self.finish({"accounts": names})

    async def post(self):
        self.require(WRITE)
        body = self.body(Body({"name": Text(63, 1), "email": Text(320, nullable=True),
                               "password": Text(credentials.MAX_PASSWORD, nullable=True),
                               "level": Choice(self.level_names, nullable=True),
                               "attributes": Attributes(nullable=True), "email_confirmed": Flag()},
                              required=("name",)))
        accounts = self.accounts
        try:
            name = credentials.normalise_name(body["name"])
            email = credentials.normalise_email(body["email"]) if body.get("email") else None
            if body.get("password") is not None:
                credentials.check_new_password(body["password"])
        except CredentialError as e:
            raise web.HTTPError(400, str(e)) from None
        level = body.get("level") or accounts.levels.registered
        if self.find_user(name) is not None:
            raise web.HTTPError(409, f"The name {name!r} is taken.")
        if email and accounts.store.find_identity("email", email) is not None:
            raise web.HTTPError(409, "That address already belongs to an account.")
        confirmed = body.get("email_confirmed", False)
        try:
            if email and not confirmed:
                accounts.count_mail(self, email)  # the mail limits before anything is written
            accounts.store.create(name, level=level, transient=level == accounts.levels.trial,
                                  attributes=body.get("attributes") or {})
        except AccountError as e:
            raise web.HTTPError(e.status, e.message) from None
        if email and confirmed:  # else the address joins the account when it is confirmed
            accounts.store.add_identity(name, "email", email, email=email, confirmed=True, label=email)
        if body.get("password") is not None:
            await argon2(accounts.store.set_password, name, body["password"])
        user = self.user_from_username(name)
        self.authenticator.add_user(user)
        if email and not confirmed:
            accounts.request_signup(self, email, None, account=name)
        self.log.info("Account %s created through the API by %s", name, self.current_user.name)
        account, user = self.found(name)
        self.set_status(201)
        self.finish(self.model(account, user))


class AccountItemAPI(AccountAPI):
    async def get(self, name):
        self.require(READ, credentials.normalise_name(name))
        account, user = self.found(name)
        self.finish(self.model(account, user))

    async def patch(self, name):
        self.require(WRITE, credentials.normalise_name(name))
        body = self.body(Body({"level": Choice(self.level_names, nullable=True),
                               "attributes": Attributes(nullable=True)}))
        account, user = self.found(name)
        self.apply_changes(account, user, body)
        account, user = self.found(name)
        self.finish(self.model(account, user))

    async def delete(self, name):
        self.require(WRITE, credentials.normalise_name(name))
        account, user = self.found(name)
        if user.name == self.current_user.name:
            raise web.HTTPError(400, "Delete your own account from another admin account, not with its own token.")
        await self.accounts.delete_hub_user(self, user)
        self.log.info("Account %s deleted through the API by %s", user.name, self.current_user.name)
        self.set_status(204)
        self.finish()


class IdentitiesAPI(AccountAPI):
    async def get(self, name):
        self.require(READ, credentials.normalise_name(name))
        account, _ = self.found(name)
        self.finish({"identities": [identity_model(i) for i in account.identities]})


class LoginLinkAPI(AccountAPI):
    async def post(self, name):
        self.require(LINKS, credentials.normalise_name(name))
        accounts = self.accounts
        body = self.body(Body({"next": Text(2048, nullable=True),
                               "lifetime_minutes": Whole(1, lambda: accounts.settings.login_link_max_minutes)}))
        account, user = self.found(name)
        minutes = body.get("lifetime_minutes", accounts.settings.login_link_minutes)
        next_url = body.get("next") or ""
        if not credentials.is_safe_next(next_url) or (next_url and upstream.validated_next(self, next_url) != next_url):
            raise web.HTTPError(400, "next must be a path on this hub, such as /user/alice/lab or /services/booking/.")
        code, expires = accounts.store.issue_code(account.name, "login", timedelta(minutes=minutes),
                                                  next_url=next_url or None)
        url = accounts.absolute_url(self, "accounts/login-link") + "?code=" + code
        self.log.info("Login link for %s made by %s, valid %d minutes", account.name, self.current_user.name, minutes)
        self.set_status(201)
        self.finish({"url": url, "expires": isoformat(expires), "user": account.name})


class NoticeMailAPI(AccountAPI):
    """Mail a user a notice: the booking service tells people what happens to their
    bookings (booking_service/operations/notices.py) without ever holding their addresses
    or the hub's mail settings. The hub mails the account's confirmed address, if any."""

    async def post(self, name):
        self.require(NOTIFY, credentials.normalise_name(name))
        body = self.body(Body({"subject": Text(200, 1), "text": Text(4000, 1)}, required=("subject", "text")))
        account, _ = self.found(name)
        address = self.accounts.store.email_of(account.name)
        mailer = self.accounts.mailer
        if not address or not mailer.enabled:
            self.finish({"sent": False, "reason": "no confirmed address" if not address else "this hub sends no mail"})
            return
        # a bound on what a leaked booking-service token could send anyone (the throttle's
        # counts are in the account database, so every hub process shares them)
        key = f"notice:to:{account.name}"
        try:
            self.accounts.throttle.check([(key, self.accounts.settings.limit("notice_limit_recipient"))],
                                         "Too many notices mailed to this account; try again {wait}.")
        except AccountError as e:
            raise web.HTTPError(e.status, e.message) from None
        self.accounts.throttle.hit(key)
        footer = f"\n\n-- \nSent to {account.name} by the booking service of {self.request.host}."
        try:
            await mailer.send(address, body["subject"], body["text"] + footer)
        except Exception as e:  # SMTP and socket errors alike: the caller tries again later
            self.log.warning("Could not mail a notice to %s: %s", for_log(account.name), type(e).__name__)
            raise web.HTTPError(502, "The hub could not mail the notice just now; try again later.") from None
        self.finish({"sent": True})


def identity_model(identity) -> dict:
    return {"provider": identity.provider, "label": identity.label, "email": identity.email,
            "confirmed": identity.confirmed, "created": isoformat(identity.created)}


def isoformat(moment) -> str | None:
    return format_time(moment) if moment else None


OPENAPI = Path(__file__).with_name("openapi.yaml")


@functools.cache
def openapi_document() -> str:
    return json.dumps(yaml.safe_load(OPENAPI.read_text()))


class OpenAPIDocument(APIHandler):
    """This API's OpenAPI document as JSON; public, like the booking service's."""

    async def get(self):
        self.set_header("Content-Type", "application/json")
        self.finish(openapi_document())


def routes() -> list[tuple[str, type]]:
    return [
        # not under /api/accounts/, where it would shadow an account called openapi.json
        (r"/api/openapi/accounts.json", OpenAPIDocument),
        (r"/api/accounts", AccountListAPI),
        (r"/api/accounts/([^/]+)", AccountItemAPI),
        (r"/api/accounts/([^/]+)/identities", IdentitiesAPI),
        (r"/api/accounts/([^/]+)/login-links", LoginLinkAPI),
        (r"/api/accounts/([^/]+)/notices", NoticeMailAPI),
    ]


