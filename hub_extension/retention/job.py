"""The retention job: a hub service that applies the levels' data-retention rules to the
users' homes on this machine, or on Kubernetes to their homes' PersistentVolumeClaims
(kube.py), mails a warning before saved data goes, and logs every deletion. The rules
themselves are in rules.py; see docs/retention.md."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import smtplib
import stat
from datetime import datetime, timezone
from email.utils import parseaddr
from urllib.parse import quote, urlencode

from aglais_common.times import for_people
from tornado.httpclient import AsyncHTTPClient, HTTPRequest
from traitlets import Bool, Enum, Instance, Int, Unicode, default, validate
from traitlets.config import Application

from spawner import system_users

from ..mail import Mailer
from ..text import for_log
from . import rules
from .files import remove, scan_home
from .rules import Notice, WarningSent

SERVICE_NAME = "retention"
# least privilege: who, their level, their activity, whether a server runs, their address
SCOPES = ["list:users", "read:users:activity", "read:users:groups", "read:servers", "list:groups", "read:groups",
          "custom:accounts:read"]


class HubError(Exception):
    """The hub's API refused or failed a request."""


def show(text: str, limit: int = 200) -> str:
    """A user-supplied name or path as the job logs and mails it (credentials.for_log,
    with room for a path)."""
    return for_log(text, limit)


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    t = datetime.fromisoformat(value)
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


class RetentionJob(Application):
    name = "aglais-retention"
    description = "Apply the account levels' data-retention rules to the users' homes (see docs/retention.md)."

    classes = [Mailer]
    aliases = {
        "homes": "RetentionJob.homes",
        "pvc-name-template": "RetentionJob.pvc_name_template",
        "namespace": "RetentionJob.namespace",
        "system-user-prefix": "RetentionJob.system_user_prefix",
        "state-dir": "RetentionJob.state_dir",
        "interval": "RetentionJob.interval",
        "now": "RetentionJob.now",
        "email-template": "RetentionJob.email_template",
        "smtp-host": "Mailer.smtp_host",
        "smtp-port": "Mailer.smtp_port",
        "smtp-from": "Mailer.from_address",
        "smtp-user": "Mailer.smtp_username",
        "log-level": "Application.log_level",
    }
    flags = {
        "once": ({"RetentionJob": {"once": True}}, "Run once and exit."),
        "dry-run": ({"RetentionJob": {"dry_run": True}}, "Log what would be deleted and mailed; change nothing."),
        "smtp-starttls": ({"Mailer": {"security": "starttls"}}, "Use STARTTLS with the SMTP server."),
    }

    homes = Unicode("", config=True, help="""Where each user's home is: a path with
        `{username}` (the hub user's name), e.g. `.run/homes/{username}` for shared-user
        homes, or with `{system_user}` (the system account the local spawner made for the
        user, see `system_user_prefix`), e.g. `/home/{system_user}`; a path with neither is
        the directory holding `<homes>/<username>/`. A home that does not exist (yet) is
        skipped, and so is a system account the hub did not make.""")
    system_user_prefix = Unicode("jupyter-", config=True, help="""With `{system_user}` in
        `homes`: the local spawner's `BookingLocalProcessSpawner.system_user_prefix`, from
        which each hub user's system account is named (docs/spawner.md).""")
    pvc_name_template = Unicode("", config=True, help="""On Kubernetes: KubeSpawner's
        `pvc_name_template`, the same value the spawner has (e.g. `claim-{username}{servername}`),
        formatted as KubeSpawner formats it for the user's default server. With it, a user's
        saved data is the PersistentVolumeClaim of that name (the whole home) and `homes` is
        unused: when it is due, and the user runs no server, the job deletes the claim
        through the Kubernetes API. Temp data needs nothing: a pod's /tmp goes with the pod.""")
    namespace = Unicode(config=True, help="""With `pvc_name_template`: the namespace of the
        users' PersistentVolumeClaims. Default: the namespace this pod runs in, else
        `default` (as KubeSpawner's own default).""")
    slug_scheme = Enum(["safe", "escape"], "safe", config=True, help="""With
        `pvc_name_template`: KubeSpawner's `slug_scheme`, the same value the spawner has,
        by which it escapes user names in the template.""")
    state_dir = Unicode("", config=True, help="""Where the job keeps its state: the warnings it
        has sent (`warnings.json`).""")
    interval = Int(3600, config=True, help="Seconds between two runs.")
    once = Bool(False, config=True, help="Run once and exit, instead of every `interval` seconds.")
    dry_run = Bool(False, config=True, help="""Log what would be deleted and which warnings would
        be mailed, and change nothing (no deletion, no mail, no state).""")
    now = Unicode("", config=True, help="""FOR TESTS ONLY: the time to take as now (ISO 8601),
        instead of the clock, to move time without waiting.""")
    hub_api_url = Unicode(config=True, help="The hub's REST API ($JUPYTERHUB_API_URL).")
    api_token = Unicode(config=True, help="The service's token ($JUPYTERHUB_API_TOKEN).")
    email_template = Unicode("", config=True, help="""A user's address when the accounts API
        (`GET <hub API>/accounts/<name>`) does not know the user (404), as a template with
        `{username}`, e.g. `{username}@example.org`; empty: such users get no warning, and
        so keep their saved data.""")
    login_url = Unicode(config=True, help="The address the warning tells users to log in at.")
    mailer = Instance(Mailer, help="""The warnings' SMTP settings: the hub's own `Mailer`
        (hub_extension/mail.py), configured as `Mailer.*` or with the --smtp-* options.
        Without --smtp-host no warning can be sent, and so no saved data is deleted.""")

    @default("log_level")
    def _log_level(self):
        """INFO: every deletion is logged at INFO, and must show."""
        return "INFO"

    @default("hub_api_url")
    def _hub_api_url(self):
        """Set by the hub for the services it manages and for external ones by hand."""
        return os.environ.get("JUPYTERHUB_API_URL", "http://127.0.0.1:8081/hub/api")

    @default("api_token")
    def _api_token(self):
        return os.environ.get("JUPYTERHUB_API_TOKEN", "")

    @default("login_url")
    def _login_url(self):
        """The hub sets $JUPYTERHUB_PUBLIC_HUB_URL when it knows its public address."""
        return os.environ.get("JUPYTERHUB_PUBLIC_HUB_URL", "")

    @default("mailer")
    def _mailer(self):
        mailer = Mailer(parent=self)
        if "smtp_host" not in self.config.Mailer:
            mailer.smtp_host = ""  # nowhere to send: warn nobody (and delete no saved data)
        if not mailer.smtp_password:
            # from the environment, so it is not on a command line or in a config file
            mailer.smtp_password = os.environ.get("AGLAIS_SMTP_PASSWORD", "")
        return mailer

    @validate("homes")
    def _template(self, proposal):
        try:
            proposal["value"].format(username="u", system_user="u")
        except (KeyError, IndexError, ValueError) as e:
            raise ValueError(f"RetentionJob.homes may hold only {{username}} or {{system_user}}, not {e}") from None
        return proposal["value"]

    @default("namespace")
    def _namespace(self):
        from .kube import pod_namespace

        return pod_namespace()

    @validate("pvc_name_template")
    def _pvc_template(self, proposal):
        if proposal["value"]:
            from .kube import check_template

            check_template(proposal["value"])
        return proposal["value"]

    @validate("system_user_prefix")
    def _prefix(self, proposal):
        return system_users.check_prefix(proposal["value"], "RetentionJob")

    @validate("interval")
    def _positive(self, proposal):
        if proposal["value"] < 1:
            raise ValueError(f"RetentionJob.interval must be at least 1 second, not {proposal['value']}")
        return proposal["value"]

    @validate("now")
    def _iso(self, proposal):
        if proposal["value"]:
            try:
                parse_time(proposal["value"])
            except ValueError:
                raise ValueError(f"RetentionJob.now must be an ISO 8601 time, not {proposal['value']!r}") from None
        return proposal["value"]

    def check(self) -> None:
        """Refuse to start without the options that say where homes and state are."""
        for option in ("state_dir",) if self.pvc_name_template else ("homes", "state_dir"):
            if not getattr(self, option):
                raise ValueError(f"RetentionJob.{option} must be set (--{option.replace('_', '-')})")
        if not self.api_token:
            raise ValueError("RetentionJob.api_token must be set ($JUPYTERHUB_API_TOKEN)")
        os.makedirs(self.state_dir, mode=0o700, exist_ok=True)
        if self.pvc_name_template:
            self.log.info("On Kubernetes: saved data is the PersistentVolumeClaim %s in namespace %s",
                          self.pvc_name_template, self.namespace)

    # the hub

    async def _hub(self, path: str, *, paginated: bool = False):
        headers = {"Authorization": f"token {self.api_token}"}
        if paginated:
            headers["Accept"] = "application/jupyterhub-pagination+json"
        resp = await AsyncHTTPClient().fetch(HTTPRequest(self.hub_api_url.rstrip("/") + "/" + path, headers=headers,
                                                         request_timeout=60), raise_error=False)
        return resp.code, (json.loads(resp.body) if resp.body else None)

    async def _all(self, what: str) -> list[dict]:
        """Every user or group, page by page."""
        items, offset = [], 0
        while True:
            code, page = await self._hub(f"{what}?{urlencode({'offset': offset, 'limit': 200})}", paginated=True)
            if code != 200:
                raise HubError(f"GET {what} answered {code}: {page}")
            items += page["items"]
            following = (page.get("_pagination") or {}).get("next")
            if not following:
                return items
            offset = following["offset"]

    async def email_of(self, name: str) -> str | None:
        code, body = await self._hub(f"accounts/{quote(name, safe='')}")
        if code == 200:
            address = (body or {}).get("email")
        elif code == 404 and self.email_template:
            address = self.email_template.format(username=name)
        else:
            if code != 404:
                self.log.error("The accounts API answered %d for user=%s", code, json.dumps(show(name)))
            return None
        if not isinstance(address, str) or parseaddr(address)[1] != address or "@" not in address:
            return None
        return address

    # state

    @property
    def state_file(self) -> str:
        return os.path.join(self.state_dir, "warnings.json")

    def load_warnings(self) -> dict[str, WarningSent]:
        try:
            with open(self.state_file) as f:
                saved = json.load(f)["warnings"]
            return {name: WarningSent(*(parse_time(w[k]) for k in ("last_activity", "sent", "due")))
                    for name, w in saved.items()}
        except FileNotFoundError:
            return {}
        except (ValueError, KeyError, TypeError) as e:
            # no record means no deletion of saved data: the warnings go out again
            self.log.error("Ignoring the unreadable %s: %s", self.state_file, e)
            return {}

    def save_warnings(self, warnings: dict[str, WarningSent]) -> None:
        data = {"warnings": {name: {k: getattr(w, k).isoformat() for k in ("last_activity", "sent", "due")}
                             for name, w in sorted(warnings.items())}}
        part = self.state_file + ".part"
        fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=1)
        os.replace(part, self.state_file)

    # mail

    def message(self, name: str, last_activity: datetime, notice: Notice) -> tuple[str, str]:
        """The warning's subject and text."""
        due = for_people(notice.due)
        if self.pvc_name_template and len(notice.paths) == 1:  # the home's volume, which goes whole
            (volume, size), = notice.paths
            what = (f"your home, with all the saved files and notebooks in it, will be\n"
                    f"deleted (its volume {show(volume)}, {size:,} bytes).\n\n")
        else:
            listed = [f"  {show(path)}  ({size:,} bytes)" for path, size in notice.paths[:50]]
            if len(notice.paths) > 50:
                listed.append(f"  ... and {len(notice.paths) - 50} more")
            what = "these saved files and\nnotebooks in your home will be deleted:\n\n" + "\n".join(listed) + "\n\n"
        login = f" at {self.login_url}" if self.login_url else ""
        subject = f"Your saved data will be deleted on {for_people(notice.due, date_only=True)}"
        return subject, (
            f"Hello {show(name)},\n\n"
            f"you last used your account on {for_people(last_activity, date_only=True)}. Under your account level's\n"
            f"data-retention rules, on or after {due} " + what +
            f"To keep them, log in{login} before then: any activity postpones the deletion.\n"
        )

    async def warn(self, name: str, last_activity: datetime, notice: Notice) -> bool:
        """Mail the warning; whether it went."""
        who = json.dumps(show(name))
        if self.dry_run:
            self.log.info("Would warn user=%s of deletion on %s", who, notice.due.isoformat())
            return False
        address = await self.email_of(name)
        if not address or not self.mailer.smtp_host:
            self.log.warning("Could not warn user=%s of deletion on %s: %s; their saved data is kept until a "
                             "warning goes out", who, notice.due.isoformat(),
                             "no SMTP server configured" if address else "no email address")
            return False
        try:
            await self.mailer.send(address, *self.message(name, last_activity, notice))
        except (OSError, smtplib.SMTPException) as e:
            self.log.error("Could not warn user=%s: the SMTP server said %s", who, e)
            return False
        self.log.info("Warned user=%s of deletion on %s (%d paths)", who, notice.due.isoformat(), len(notice.paths))
        return True

    # one run

    def clock(self) -> datetime:
        return parse_time(self.now) if self.now else datetime.now(timezone.utc)

    async def run_once(self) -> None:
        if not self.pvc_name_template:
            return await self._run_once()
        from .kube import Claims

        async with Claims(self.namespace) as self.claims:
            await self._run_once()

    async def _run_once(self) -> None:
        now = self.clock()
        level_rules, broken = {}, set()
        for group in await self._all("groups"):
            try:
                rule = rules.parse_retention(group.get("properties") or {})
            except rules.RuleError as e:
                self.log.error("Group %s: %s; its members are left alone", json.dumps(show(group["name"])), e)
                broken.add(group["name"])
                continue
            if rule is not None:
                level_rules[group["name"]] = rule
        warnings = self.load_warnings()
        users = await self._all("users")
        for user in users:
            try:
                await self.apply(user, level_rules, broken, warnings, now)
            except Exception:
                self.log.exception("Retention failed for user=%s", json.dumps(show(user["name"])))
        seen = {u["name"] for u in users}
        if not self.dry_run:
            self.save_warnings({n: w for n, w in warnings.items() if n in seen})

    async def apply(self, user: dict, level_rules: dict, broken: set, warnings: dict, now: datetime) -> None:
        name, who = user["name"], json.dumps(show(user["name"]))
        groups = user.get("groups") or []
        if broken.intersection(groups) or not any(g in level_rules for g in groups):
            return  # never delete on missing information
        if user.get("servers"):
            return
        if self.pvc_name_template:
            home = await self.claim_of(name)
            if home is None:
                return
            entries = home.entries
        else:
            home = self.checked_home(name)
            if home is None:
                return
            entries = await asyncio.to_thread(scan_home, home)
        last_activity = parse_time(user.get("last_activity"))
        plan = rules.plan(rules=[level_rules[g] for g in groups if g in level_rules], running=False,
                          last_activity=last_activity, now=now, entries=entries, warning=warnings.get(name))
        if plan.warning is None:
            warnings.pop(name, None)
        else:
            warnings[name] = plan.warning
        if plan.notice and await self.warn(name, last_activity, plan.notice):
            warnings[name] = WarningSent(last_activity, now, plan.notice.due)
            self.save_warnings(warnings)
        if not plan.deletions:
            return
        if not self.dry_run:
            # the scan took time: a server may have started since, or the user been active
            code, fresh = await self._hub(f"users/{quote(name, safe='')}")
            if code != 200 or fresh.get("servers") or (
                    plan.saved_due and parse_time(fresh.get("last_activity")) != last_activity):
                self.log.info("Not deleting for user=%s: active since the scan", who)
                return
        if self.pvc_name_template:
            await self.delete_claim(name, home, plan.deletions)
        else:
            await asyncio.to_thread(self.execute, name, home, plan.deletions)

    def checked_home(self, name: str) -> str | None:
        """The user's home, or None (logged) when it must not be touched or is not there."""
        who = json.dumps(show(name))
        if name in (".", "..") or "/" in name or "\0" in name:
            self.log.warning("Skipping user=%s: the name is not a directory name", who)
            return None
        home = self.home_of(name)
        if home is None:
            return None
        try:
            if stat.S_ISLNK(os.lstat(home).st_mode):
                self.log.warning("Skipping user=%s: the home is a symlink", who)
                return None
        except FileNotFoundError:
            return None
        return home

    async def claim_of(self, name: str):
        """The user's home volume on Kubernetes (kube.Claim), or None: there is none (a
        level without a saved home), or it is annotated as someone else's."""
        from .kube import USERNAME_ANNOTATION, ApiException, api_error, pvc_name

        who = json.dumps(show(name))
        claim_name = pvc_name(self.pvc_name_template, name, namespace=self.namespace, slug_scheme=self.slug_scheme)
        try:
            claim = await self.claims.get(claim_name)
        except ApiException as e:
            self.log.error("Skipping user=%s: reading pvc=%s, the Kubernetes API answered %s", who,
                           json.dumps(claim_name), api_error(e))
            return None
        if claim is not None and claim.username not in (None, name):
            self.log.warning("Skipping user=%s: pvc=%s belongs to user=%s (its %s annotation)", who,
                             json.dumps(claim.name), json.dumps(show(claim.username)), USERNAME_ANNOTATION)
            return None
        return claim

    async def delete_claim(self, name: str, claim, deletions) -> None:
        """Delete the home's volume (the plan's one deletion, saved data); a refusal is
        logged and the run goes on with the next user."""
        from .kube import ApiException, api_error

        who, what, reason = json.dumps(show(name)), json.dumps(claim.name), deletions[0].reason
        if self.dry_run:
            self.log.info("Would delete user=%s pvc=%s reason=%s size=%d", who, what, reason, claim.size)
            return
        try:
            await self.claims.delete(claim)
        except ApiException as e:
            self.log.error("Did not delete user=%s pvc=%s: the Kubernetes API answered %s", who, what, api_error(e))
            return
        self.log.info("Deleted user=%s pvc=%s reason=%s size=%d", who, what, reason, claim.size)

    def home_of(self, name: str) -> str | None:
        """The user's home by `homes`; None when it is a system account we did not make."""
        if "{system_user}" not in self.homes:
            template = self.homes if "{username}" in self.homes else os.path.join(self.homes, "{username}")
            return template.format(username=name)
        account = system_users.system_name(self.system_user_prefix, name)
        entry = system_users.lookup(account)
        if entry is not None and not system_users.is_ours(entry, self.system_user_prefix, name):
            self.log.warning("Skipping user=%s: the system account %s was not made by the hub", json.dumps(show(name)),
                             account)
            return None
        return self.homes.format(username=name, system_user=account)

    def execute(self, name: str, home: str, deletions) -> None:
        who = json.dumps(show(name))
        for d in deletions:
            what = json.dumps(show(d.path + ("/" if d.is_dir else ""), 1000))
            if self.dry_run:
                self.log.info("Would delete user=%s path=%s reason=%s size=%d", who, what, d.reason, d.size)
                continue
            failed = remove(home, d)
            if failed is None:
                self.log.info("Deleted user=%s path=%s reason=%s size=%d", who, what, d.reason, d.size)
            elif not d.is_dir:  # a directory kept because something in it stayed is no news
                self.log.warning("Did not delete user=%s path=%s: %s", who, what, failed)

    async def loop(self) -> None:
        while True:
            try:
                await self.run_once()
            except (HubError, OSError) as e:  # the hub is down or restarting, say
                self.log.error("Retention run failed: %s; trying again in %d s", e, self.interval)
            except Exception:
                self.log.exception("Retention run failed; trying again in %d s", self.interval)
            if self.once:
                return
            await asyncio.sleep(self.interval)

    async def until_stopped(self) -> None:
        """Run the loop until it ends (--once) or SIGTERM/SIGINT (the hub stopping): then
        cancel it and return, so the job exits 0 without a traceback. A deletion in hand
        (in a thread) is finished before the process exits."""
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        work, stopped = asyncio.ensure_future(self.loop()), asyncio.ensure_future(stop.wait())
        await asyncio.wait({work, stopped}, return_when=asyncio.FIRST_COMPLETED)
        if stopped.done():
            self.log.info("Stopping: asked to by a signal")
            work.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await work
        else:
            stopped.cancel()
            work.result()

    def start(self) -> None:
        try:
            self.check()
        except ValueError as e:
            self.log.critical("%s", e)
            self.exit(1)
        asyncio.run(self.until_stopped())


main = RetentionJob.launch_instance
