"""The account workflows: what happens to accounts and identities, whichever way it is
asked for (the pages, the account REST API, the authenticator's OAuth callback). Handlers
parse and render; the store keeps the rows; what connects them is here.

The options are the authenticator's (AglaisAuthenticator is the configurable object the
hub builds); `settings` is that authenticator.
"""

from __future__ import annotations

import asyncio
import smtplib
from datetime import timedelta
from urllib.parse import urlsplit

from aglais_common.times import for_people
from jupyterhub.utils import maybe_future, url_path_join
from tornado import web

from ..text import for_log
from . import upstream
from .client import client_address
from .executors import argon2
from .store import AccountError, IdentityTaken, NameTaken

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
        self._jobs: set[asyncio.Task] = set()

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

    async def confirm_signup(self, handler, row) -> str:
        """The sign-up of a used confirmation code takes effect: its account (made now, or
        the one it was for), its address, its password. Returns the account's name."""
        account = self.store.get(row.account_name) if row.account_name else None
        had_password = account is not None and account.password is not None
        for _ in range(3):  # a name taken between free_name and the insert: choose again
            wanted = None if row.account_name else self.new_account_name(handler, row.email.split("@")[0])
            try:
                name = self.store.complete_signup(row, name=wanted, level=self.levels.registered,
                                                  terms=bool(self.settings.terms_url))
                break
            except NameTaken:
                continue
        else:
            raise AccountError("Could not choose a name for the account: try again.", 503)
        self.promote(handler, name)
        if had_password and row.password_hash:
            await self.password_changed(handler, name)
        self.log.info("Confirmed the address of %s", name)
        return name

    # passwords ----------------------------------------------------------------------------

    async def change_password(self, handler, user, current: str, new: str) -> None:
        """The account page's form: the current password, then the new one (checked by the
        caller). A wrong current password counts as a failed login, so the form is no way
        around the login throttle."""
        key = f"login-fail:account:{user.name}"
        self.throttle.check([(key, self.settings.limit("login_limit_account"))],
                            "Too many failed attempts. Try again {wait}, or reset your password.")
        result = await argon2(self.store.check_login, user.name, current)  # argon2's own threads
        if result.reason != "ok":
            self.throttle.hit(key)
            raise AccountError("That is not your current password.", 403)
        await argon2(self.store.set_password, user.name, new)
        await self.password_changed(handler, user.name)

    async def reset_password(self, handler, name: str, password: str) -> None:
        """A reset code was used: the new password, a cleared failed-login throttle."""
        await argon2(self.store.set_password, name, password)
        self.throttle.clear(f"login-fail:account:{name}")
        await self.password_changed(handler, name)

    async def password_changed(self, handler, name: str) -> None:
        """Account `name` has a new password: whoever knew the old one (or held a link
        mailed under it) is out. Every outstanding code of the account (reset, login,
        a sign-up adding an address) stops working, and every browser session of the
        account but this request's ends."""
        voided = self.store.void_codes(name)
        user = handler.find_user(name)
        revoked = upstream.end_other_sessions(handler, user) if user is not None else 0
        self.log.info("New password for %s: %d outstanding codes void, other sessions ended (%d tokens)",
                      name, voided, revoked)

    # deletion: every way of deleting a hub user passes the authenticator's delete_user,
    # which calls forget() -------------------------------------------------------------------

    async def delete_hub_user(self, handler, user) -> None:
        """What the hub's DELETE /users/{name} does, for the pages and the account API:
        bring the servers to rest (a pending start is cancelled), then the authenticator's
        delete_user (forget()), the spawners' cleanup (the files), then the user."""
        for name in list(user.spawners):
            await upstream.settle_server(user, name, handler.stop_single_user)
        await maybe_future(self.settings.delete_user(user))
        await user.delete_spawners()
        handler.users.delete(user)

    async def forget(self, user) -> None:
        """The hub is deleting `user` (logout of a trial account, the idle culler and admins
        through the hub's API, the account API): leave nothing that the next owner of the
        name would inherit.

        1. Servers come to rest (the hub's API stops only a running default server; a
           pending start would make the spawners' cleanup fail).
        2. The forget hooks (AglaisAuthenticator.forget_hooks: the booking service's
           bookings, queue entries and sessions). If one fails, nothing is deleted and
           the deletion answers 503: better a deletion asked again (the culler does, every
           round) than records a later owner of the name inherits.
        3. The account, its identities, password and codes; the failed-login counts kept
           under its name and addresses; a tombstone so that no name the hub chooses is
           this one for AglaisAuthenticator.name_reuse_days.
        """
        for name in list(user.spawners):
            await upstream.settle_server(user, name, lambda u, n: u.stop(n))
        for hook in self.settings.forget_hooks:
            try:
                await maybe_future(hook(user.name))
            except Exception as e:
                self.log.error("Forgetting %s failed in %s: %s; nothing deleted", user.name,
                               getattr(hook, "__name__", hook), e)
                raise web.HTTPError(503, f"{user.name} could not be deleted just now (their bookings could not be "
                                         "cancelled). Nothing was deleted; try again in a minute.") from None
        account = self.store.get(user.name)
        addresses = [i.subject for i in account.identities if i.provider == "email"] if account else []
        keys = [f"login-fail:account:{key}" for key in (user.name, *addresses)]
        if self.store.forget(user.name, attempt_keys=keys):
            self.log.info("Deleted account %s", user.name)

    # mail: the same answer, the same limits and the same work on the request's path for
    # every address, known or not; what differs is done by a background job -----------------

    def count_mail(self, handler, address: str) -> None:
        """Check and count a request that may mail `address`, whether or not the address is
        known: per client address and per address mailed to. Raises TooMany (429), or an
        AccountError (503) on a hub without mail. Known and unknown addresses meet the same
        limits after the same number of requests, so a refusal tells nobody anything."""
        if not self.mailer.enabled:
            raise AccountError("This hub sends no mail, so this cannot be done here: ask an admin.", 503)
        checks = [(f"mail:addr:{client_address(handler)}", self.settings.limit("mail_limit_address")),
                  (f"mail:to:{address}", self.settings.limit("mail_limit_recipient"))]
        self.throttle.check(checks, "Too many requests for this address. Try again {wait}.")
        self.throttle.hit(*(key for key, _ in checks))

    def request_signup(self, handler, email: str, password_hash: str | None, *, account: str | None) -> None:
        """A sign-up for `email` (to add it to `account`, or for a new account): mail its
        owner if it is taken, else a confirmation code that carries the sign-up."""
        links = self._links(handler)
        lifetime = self.code_lifetime("confirm")

        async def job():
            if self.store.find_identity("email", email) is not None:
                await self._mail(email, "taken", name=email, link=links["reset"])
                return
            # every earlier sign-up for the address is void from here on, mail or not
            code, expires = self.store.start_signup(email, lifetime, password_hash=password_hash, name=account)
            await self._mail_code(code, email, "add" if account else "confirm", name=account, link=links["confirm"],
                                  expires=expires)

        self.in_background(job, "sign-up")

    def request_resend(self, handler, email: str) -> None:
        """Mail the sign-up waiting for `email` again, under a new code."""
        links, lifetime = self._links(handler), self.code_lifetime("confirm")

        async def job():
            renewed = self.store.renew_signup(email, lifetime)
            if renewed is None:
                return
            code, expires = renewed
            row, _ = self.store.peek_code(code, "confirm")
            if await self._mail_code(code, email, "add" if row.account_name else "confirm", name=row.account_name,
                                     link=links["confirm"], expires=expires):
                self.store.supersede(email, keep=code)

        self.in_background(job, "resend")

    def request_reset(self, handler, email: str) -> None:
        """Mail a reset code if `email` is an account's confirmed address."""
        links, lifetime = self._links(handler), self.code_lifetime("reset")

        async def job():
            identity = self.store.find_identity("email", email)
            if identity is None or not identity.confirmed:
                return
            code, expires = self.store.issue_code(identity.account_name, "reset", lifetime)
            await self._mail_code(code, email, "reset", name=identity.account_name, link=links["reset_confirm"],
                                  expires=expires)

        self.in_background(job, "reset")

    def _links(self, handler) -> dict:
        # made on the request's path (they need the hub's base URL), used by the job
        return {key: self.absolute_url(handler, path) for key, path in (
            ("confirm", "accounts/confirm"), ("reset", "accounts/reset"), ("reset_confirm", "accounts/reset/confirm"))}

    async def _mail_code(self, code: str, address: str, kind: str, *, link: str, expires, **values) -> bool:
        """Mail a code; if the mail cannot go the code is discarded, so a failed request
        leaves nothing behind (no sign-up waits, no reset link works)."""
        sent = await self._mail(address, kind, link=f"{link}?code={code}", expires=for_people(expires),
                                **values)
        if not sent:
            self.store.discard_code(code)
        return sent

    async def _mail(self, address: str, kind: str, **values) -> bool:
        subject, body = MESSAGES[kind]
        try:
            await self.mailer.send(address, subject, body.format(**values))
        except (OSError, smtplib.SMTPException) as e:
            self.log.error("Could not mail %s (%s): %s", for_log(address), kind, e)
            return False
        return True

    def in_background(self, job, what: str) -> None:
        """Run `job` off the request's path, so the answer does not wait for it (nor take
        longer for a known address); its failures are logged here."""
        async def run():
            try:
                await job()
            except Exception:
                self.log.exception("The %s mail job failed", what)

        task = asyncio.ensure_future(run())
        self._jobs.add(task)  # a reference, so the task is not collected while it runs
        task.add_done_callback(self._jobs.discard)


MESSAGES = {
    "confirm": ("Confirm your address", "Hello,\n\nsomeone, probably you, signed up with this address.\n"
                "To confirm it and log in, open this link and press Confirm:\n\n{link}\n\n"
                "The link works once, until {expires}; a newer sign-up with this address voids it. "
                "If it wasn't you, ignore this mail: no account is made.\n"),
    "add": ("Confirm your address", "Hello,\n\nsomeone, probably you, asked to add this address to the account "
            "{name}.\nTo confirm it, open this link and press Confirm:\n\n{link}\n\n"
            "The link works once, until {expires}; a newer sign-up with this address voids it. "
            "If it wasn't you, ignore this mail: the address is not added.\n"),
    "reset": ("Reset your password", "Hello,\n\nsomeone, probably you, asked to reset the password of {name}.\n"
              "To choose a new one, open this link:\n\n{link}\n\n"
              "The link works once, until {expires}. If it wasn't you, ignore this mail: "
              "your password stays as it is.\n"),
    "taken": ("Your address is already registered", "Hello,\n\nsomeone, probably you, tried to sign up with this "
              "address, which already has an account.\nLog in, or reset your password here:\n\n{link}\n"),
}
