"""The hub's account pages: login, "give it a try", sign-up and register, confirmation,
password reset, one-time login links, the account page and logout (and the home page's
route: home.py).

Every state change is a POST with the hub's _xsrf (JupyterHub checks it for every hub
page); GETs only show. The next URL always goes through the hub's own get_next_url,
which refuses other hosts. Messages are rendered by the templates in templates/.
"""

from __future__ import annotations

import secrets
import string

from jupyterhub.handlers.base import BaseHandler
from jupyterhub.handlers.login import LoginHandler, LogoutHandler
from jupyterhub.utils import url_path_join
from tornado import web

from ..levels import effective
from ..text import for_log
from . import credentials, upstream
from .client import client_address
from .credentials import CredentialError
from .executors import argon2
from .home import AglaisHomeHandler
from .store import AccountError
from .throttle import TooMany
from .usage import home_of, layout_of, layout_rows
from .workflows import LINK_COOKIE, PENDING_COOKIE


class AccountPage(BaseHandler):
    """Shared helpers: the authenticator, rendering, logging a user in."""

    @property
    def accounts(self):
        """The account workflows (workflows.py); their options are `accounts.settings`."""
        return self.authenticator.workflows

    async def show(self, template: str, status: int = 200, **ns) -> None:
        self.set_status(status)
        ns.setdefault("next", self.get_argument("next", ""))
        ns.setdefault("xsrf", self.xsrf_token.decode("ascii"))
        ns.setdefault("accounts", self.accounts)
        self.finish(await self.render_template(template, **ns))

    async def message(self, title: str, text: str, status: int = 200, **ns) -> None:
        await self.show("aglais-message.html", status, title=title, text=text, **ns)

    async def log_in(self, name: str, next_default: str | None = None) -> None:
        user = await self.auth_to_user({"name": name})
        self.set_login_cookie(user)
        upstream.set_current_user(self, user)
        self.redirect(self.get_next_url(user, default=next_default))

    def is_trial(self, user) -> bool:
        account = self.accounts.store.get(user.name)
        return bool(account and account.transient)

    def mail_request(self) -> str:
        """The form's address, normalised, once the request is counted against the mail
        limits (TooMany or CredentialError if not). Known and unknown addresses pass the
        same checks and counts, and the mail goes in the background: the answer, and its
        time, are the same for every address."""
        email = credentials.normalise_email(self.get_body_argument("email", "")[:400])
        self.accounts.count_mail(self, email)
        return email

    def providers(self):
        return [(key, p.login_service, p.login_url(self.hub.base_url)) for key, p in self.accounts.oauth_providers.items()]

    def signup_offered(self) -> bool:
        return self.accounts.settings.allow_signup and self.accounts.mailer.enabled


class AglaisLoginHandler(LoginHandler, AccountPage):
    """JupyterHub's login page, with our template: the trial button, the providers, the form."""

    # LoginHandler._render is the one private method we override: the hub renders its
    # login page (and its error pages' login form) only through it.
    # https://github.com/jupyterhub/jupyterhub/blob/6.1.1/jupyterhub/handlers/login.py#L129
    # (its signature is checked in tests/test_upstream.py)
    def _render(self, login_error=None, username=None, **kwargs):
        # sync like the hub's: write_error calls it through render_template(sync=True)
        return super()._render(
            login_error=login_error, username=username, providers=self.providers(),
            allow_try=self.accounts.settings.allow_try, allow_signup=self.signup_offered(),
            allow_reset=self.accounts.mailer.enabled, **kwargs)


class TryHandler(AglaisLoginHandler):
    async def get(self):
        self.redirect(self.settings["login_url"])

    async def post(self):
        accounts = self.accounts
        if not accounts.settings.allow_try:
            raise web.HTTPError(404)
        key = f"try:addr:{client_address(self)}"
        try:
            accounts.throttle.check([(key, accounts.settings.limit("try_limit"))],
                                    "You have started several trial accounts from here already. "
                                    "Try again {wait}, or sign up for an account of your own.")
        except TooMany as e:
            self.set_status(429)
            return self.finish(await self._render(login_error=e.message))
        if accounts.store.count_transient() >= accounts.settings.max_trial_accounts:
            self.set_status(503)
            return self.finish(await self._render(
                login_error="All trial places are taken right now. Try again in a while, or sign up for an account."))
        alphabet = string.ascii_lowercase + string.digits
        name = accounts.new_account_name(self, "try-" + "".join(secrets.choice(alphabet) for _ in range(8)))
        accounts.store.create(name, level=accounts.levels.trial, transient=True)
        accounts.throttle.hit(key)
        self.log.info("Trial account %s for %s", name, client_address(self))
        await self.log_in(name)


class SignupHandler(AccountPage):
    """Sign up with email and password; for a trial user, register the same account."""

    async def get(self):
        await self.show_form()

    async def show_form(self, error: str = "", status: int = 200, email: str = ""):
        user = self.current_user
        await self.show("aglais-signup.html", status, error=error, email=email, providers=self.providers(),
                        trial=user is not None and self.is_trial(user), allow_signup=self.signup_offered())

    async def post(self):
        accounts = self.accounts
        if not self.signup_offered():
            raise web.HTTPError(404)
        raw_email = self.get_body_argument("email", "")[:400]
        password = self.get_body_argument("password", "")
        try:
            email = credentials.normalise_email(raw_email)
            credentials.check_new_password(password)
            if accounts.settings.terms_url and not self.get_body_argument("terms", ""):
                raise CredentialError("Accept the terms of use to sign up.")
            accounts.throttle.check([(f"signup:addr:{client_address(self)}", accounts.settings.limit("signup_limit_address"))],
                                    "Too many sign-ups from here. Try again {wait}.")
        except (CredentialError, TooMany) as e:
            return await self.show_form(str(e), getattr(e, "status", 400), email=raw_email)
        accounts.throttle.hit(f"signup:addr:{client_address(self)}")
        user = self.current_user
        try:
            accounts.count_mail(self, email)
        except AccountError as e:
            return await self.show_form(e.message, e.status, email=raw_email)
        # hashed for every address, taken or not, so that both take the same time; it
        # waits with the sign-up's code and is the account's only once that code is used
        password_hash = await argon2(credentials.hash_password, password)  # argon2's own threads
        # register a trial account (same account, same files; level 1 on confirmation), or
        # add an address to one's own account; else an account is made on confirmation
        accounts.request_signup(self, email, password_hash, account=user.name if user is not None else None)
        self.log.info("Sign-up for %s from %s", for_log(email), client_address(self))
        await self.message("Check your mail", f"We sent a link to {email}. Open it to confirm your address; "
                           "it works once.", resend=email)


class ResendHandler(AccountPage):
    async def post(self):
        raw = self.get_body_argument("email", "")[:400]
        try:
            email = self.mail_request()
        except (CredentialError, AccountError) as e:
            return await self.message("No mail sent", getattr(e, "message", str(e)), getattr(e, "status", 400),
                                      resend=raw)
        self.accounts.request_resend(self, email)
        # the same answer whether or not the address is known
        await self.message("Check your mail", f"If {email} waits for confirmation, a new link is on its way.", resend=email)


class CodePage(AccountPage):
    """A page reached from a mailed or handed-out link: GET shows, POST uses the code."""

    purpose = ""
    refused = {
        "unknown": "This link is not valid. Check that you copied all of it.",
        "used": "This link was already used. Each link works once.",
        "expired": "This link has expired.",
    }

    async def refuse(self, state: str) -> None:
        await self.message("Link not valid", self.refused[state], 410 if state in ("used", "expired") else 404)

    async def get(self):
        code = self.get_argument("code", "")
        row, state = self.accounts.store.peek_code(code, self.purpose)
        if state != "ok":
            return await self.refuse(state)
        await self.show_code(row, code)

    async def post(self):
        code = self.get_body_argument("code", "")
        row, state = self.accounts.store.peek_code(code, self.purpose)
        if state != "ok":
            return await self.refuse(state)
        error = await self.check_form(row)
        if error:
            return await self.show_code(row, code, error=error, status=400)
        row, state = self.accounts.store.use_code(code, self.purpose)
        if state != "ok":  # another request used it first
            return await self.refuse(state)
        await self.use(row)

    async def check_form(self, row) -> str:
        """A message if the form cannot be used with this code (the code is left unused)."""
        return ""


class ConfirmHandler(CodePage):
    purpose = "confirm"

    async def show_code(self, row, code, error="", status=200):
        whose = f"the account {row.account_name}" if row.account_name else "a new account"
        text = f"Press Confirm to confirm {row.email} for {whose} and log in."
        if row.contested:
            text = (f"Another sign-up with {row.email} came before this one. To confirm {row.email} for {whose}, "
                    "enter the password you chose when you signed up.")
        await self.show("aglais-code.html", status, code=code, error=error, title="Confirm your address", text=text,
                        button="Confirm", action=url_path_join(self.hub.base_url, "accounts/confirm"),
                        password=bool(row.contested), password_label="The password you chose")

    async def check_form(self, row) -> str:
        # A sign-up that replaced another one's may be the second of a race (someone signed
        # up with the address after its owner): its code is in the owner's mailbox, but
        # only who chose its password may confirm it.
        if not row.contested:
            return ""
        key = f"login-fail:account:{row.email}"
        try:
            self.accounts.throttle.check([(key, self.accounts.settings.limit("login_limit_account"))],
                                         "Too many wrong passwords. Try again {wait}.")
        except TooMany as e:
            return e.message
        password = self.get_body_argument("password", "")
        if await argon2(credentials.verify_password, row.password_hash, password):  # argon2's own threads
            return ""
        self.accounts.throttle.hit(key)
        return "That is not the password chosen for this sign-up. If you did not sign up, ignore the mail."

    async def use(self, row):
        try:
            name = await self.accounts.confirm_signup(self, row)
        except AccountError as e:
            return await self.message("Address not confirmed", e.message, e.status)
        await self.log_in(name)


class ResetRequestHandler(AccountPage):
    async def get(self):
        await self.show("aglais-reset.html", error="")

    async def post(self):
        try:
            email = self.mail_request()
        except (CredentialError, AccountError) as e:
            return await self.show("aglais-reset.html", getattr(e, "status", 400), error=getattr(e, "message", str(e)))
        self.accounts.request_reset(self, email)
        await self.message("Check your mail", f"If {email} belongs to an account, a link to reset its password "
                           "is on its way.")


class ResetConfirmHandler(CodePage):
    purpose = "reset"

    async def show_code(self, row, code, error="", status=200):
        await self.show("aglais-code.html", status, code=code, error=error, title="Choose a new password",
                        text=f"A new password for {row.account_name}.", button="Set password", password=True,
                        action=url_path_join(self.hub.base_url, "accounts/reset/confirm"))

    async def check_form(self, row) -> str:
        try:
            credentials.check_new_password(self.get_body_argument("password", ""))
        except CredentialError as e:
            return str(e)
        return ""

    async def use(self, row):
        await self.accounts.reset_password(self, row.account_name, self.get_body_argument("password"))
        self.log.info("Password reset for %s", row.account_name)
        await self.log_in(row.account_name)


class LoginLinkHandler(CodePage):
    purpose = "login"

    async def show_code(self, row, code, error="", status=200):
        await self.show("aglais-code.html", status, code=code, error=error, title="Log in",
                        text=f"Press Log in to continue as {row.account_name}.", button="Log in",
                        action=url_path_join(self.hub.base_url, "accounts/login-link"))

    async def use(self, row):
        if self.accounts.store.get(row.account_name) is None:
            return await self.refuse("unknown")
        self.log.info("Login link used for %s", row.account_name)
        user = await self.auth_to_user({"name": row.account_name})
        self.set_login_cookie(user)
        # the next URL was checked when the link was made, and is checked again here
        # (a link made without one has none: the hub's landing, as for any login)
        next_url = row.next_url if row.next_url and credentials.is_safe_next(row.next_url) else ""
        self.redirect((next_url and upstream.validated_next(self, next_url)) or self.get_next_url(user))


class AccountHandler(AccountPage):
    @web.authenticated
    async def get(self):
        user = self.current_user
        account = self.accounts.store.get(user.name)
        if account is None:
            raise web.HTTPError(404, "You have no account here.")
        groups = [g for g in user.orm_user.groups]
        home = home_of(user)
        used = await self.accounts.settings.usage_figures.of(user.name, home) if home else None
        grants = effective([g.properties for g in groups])
        await self.show("aglais-account.html", account=account, level=self.accounts.levels.level_of(user.orm_user),
                        grants=grants, groups=[g.name for g in groups], used=used,
                        places=layout_rows(layout_of(user), grants.get("retention"), used),
                        providers=self.providers(), allow_signup=self.signup_offered(),
                        has_email=any(i.provider == "email" for i in account.identities))


class PasswordHandler(AccountPage):
    """The account page's password form: the current password and a new one."""

    @web.authenticated
    async def post(self):
        new = self.get_body_argument("new_password", "")
        try:
            credentials.check_new_password(new)
            await self.accounts.change_password(self, self.current_user, self.get_body_argument("password", ""), new)
        except (CredentialError, AccountError) as e:
            return await self.message("Password not changed", getattr(e, "message", str(e)), getattr(e, "status", 400))
        self.log.info("Password changed by %s", self.current_user.name)
        await self.message("Password changed", "Your new password works from now on. Every other session of your "
                           "account has ended, and links mailed before (password reset) no longer work.")


class LinkHandler(AccountPage):
    """Start linking a provider's identity to the logged-in account (or registering a trial one)."""

    @web.authenticated
    async def post(self, key):
        provider = self.accounts.oauth_providers.get(key)
        if provider is None:
            raise web.HTTPError(404, f"There is no provider {for_log(key)!r}.")
        self.set_secure_cookie(LINK_COOKIE, self.current_user.name, expires_days=None, path=self.hub.base_url,
                               httponly=True, samesite="lax")
        self.redirect(provider.login_url(self.hub.base_url) + "?next=" +
                      web.escape.url_escape(url_path_join(self.hub.base_url, "account")))


class CompleteHandler(AccountPage):
    """After OAuth, for a new identity when there are terms to accept."""

    def pending(self) -> dict:
        raw = self.get_secure_cookie(PENDING_COOKIE, max_age_days=10 / 1440)
        if not raw:
            raise web.HTTPError(400, "Nothing to complete: log in again.")
        return web.escape.json_decode(raw)

    async def get(self):
        pending = self.pending()
        await self.show("aglais-complete.html", label=pending["label"], error="")

    async def post(self):
        pending = self.pending()
        if not self.get_body_argument("terms", ""):
            return await self.show("aglais-complete.html", 400, label=pending["label"],
                                   error="Accept the terms of use to continue.")
        self.clear_cookie(PENDING_COOKIE, path=self.hub.base_url)
        name = self.accounts.create_oauth_account(
            self, provider=pending["provider"], subject=pending["subject"], email=pending["email"],
            label=pending["label"], wanted=pending["wanted"], terms=True)
        await self.log_in(name)


class AglaisLogoutHandler(LogoutHandler, AccountPage):
    """A trial account is deleted on logout, so logging out asks first (and is a POST)."""

    async def get(self):
        user = self.current_user
        if user is not None and self.is_trial(user):
            return await self.show("aglais-logout.html", cancel=self.get_next_url(user))
        await super().get()

    async def post(self):
        user = self.current_user
        if user is not None and self.is_trial(user):
            await self.accounts.delete_hub_user(self, user)
            self.log.info("Trial account %s deleted on logout", user.name)
            upstream.log_out_deleted(self, user.name)
            return await self.message("Logged out", "Your trial account and its files are deleted. Thank you for trying!")
        await super().get()


def routes() -> list[tuple[str, type]]:
    return [
        (r"/login", AglaisLoginHandler),
        (r"/logout", AglaisLogoutHandler),
        (r"/try", TryHandler),
        (r"/register", SignupHandler),
        (r"/accounts/signup", SignupHandler),
        (r"/accounts/resend", ResendHandler),
        (r"/accounts/confirm", ConfirmHandler),
        (r"/accounts/reset", ResetRequestHandler),
        (r"/accounts/reset/confirm", ResetConfirmHandler),
        (r"/accounts/login-link", LoginLinkHandler),
        (r"/accounts/complete", CompleteHandler),
        (r"/account", AccountHandler),
        (r"/account/link/([^/]+)", LinkHandler),
        (r"/account/password", PasswordHandler),
        # ahead of the hub's own /home (the authenticator's routes come first)
        (r"/home", AglaisHomeHandler),
    ]
