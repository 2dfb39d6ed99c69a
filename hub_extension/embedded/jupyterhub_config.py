"""JupyterHub configuration for `make run`: the embedded default.

One machine, no outside services: the hub, the proxy and the booking service
all listen on 127.0.0.1 and keep their state in SQLite files under
$AGLAIS_DATA_DIR (default: .run/ in the repository).

Ports, from $PORT (default 8000):
  PORT    the proxy, the only address a browser uses
  PORT+1  the booking service ($AGLAIS_BOOKING_PORT overrides it)
  PORT+2  the proxy's REST API
  PORT+3  the hub itself, behind the proxy
  PORT+4  the Demo provider (OpenID Connect, for trying OAuth offline)
  PORT+5  the mail server keeping the hub's mail in $AGLAIS_DATA_DIR/mail/, unless $AGLAIS_SMTP_HOST
  PORT+6  the stage_file preparation worker (docs/preparation.md)
JupyterHub's own defaults (8001 for the proxy API, 8081 for the hub) would
collide with the booking service, hence the explicit block of ports.
"""

import importlib.util
import os
import secrets

from hub_extension.config.accounts import configure_accounts
from hub_extension.config.booking import configure_booking_service
from hub_extension.config.preparation import stage_file_service
from hub_extension.config.retention import retention_service
from hub_extension.embedded import examples, server_env
from hub_extension.embedded.demo import demo_provider, maildir_mail_server

c = get_config()  # noqa: F821 (provided by JupyterHub's config loader)

repo_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
port = int(os.environ.get("PORT") or 8000)
booking_port = int(os.environ.get("AGLAIS_BOOKING_PORT") or port + 1)

# Relative paths are taken from the caller's directory, like any shell path;
# the default is fixed to the repository so it does not depend on where we start.
data_dir = os.path.abspath(os.environ.get("AGLAIS_DATA_DIR") or os.path.join(repo_root, ".run"))
# The cookie secret, the admin password, the databases and the services' state live here:
# 0700 and 0600, the hub's alone. The umask covers what the hub, the proxy and the
# services write from now on (SQLite's files and journals, pid files, state); the walk
# tightens what an older version left.
os.umask(0o077)
os.makedirs(data_dir, mode=0o700, exist_ok=True)
for _dir, _dirs, _files in os.walk(data_dir):
    if _dir == os.path.join(data_dir, "homes"):
        _dirs[:] = []  # shared-user homes: the user's files, the hub's user's anyway
        continue
    os.chmod(_dir, 0o700)
    for _name in _files:
        _path = os.path.join(_dir, _name)
        if not os.path.islink(_path):
            os.chmod(_path, 0o600)

c.JupyterHub.bind_url = "http://127.0.0.1:%d/" % port
c.JupyterHub.hub_bind_url = "http://127.0.0.1:%d" % (port + 3)
c.JupyterHub.db_url = "sqlite:///" + os.path.join(data_dir, "jupyterhub.sqlite")
c.JupyterHub.cookie_secret_file = os.path.join(data_dir, "jupyterhub_cookie_secret")
c.JupyterHub.pid_file = os.path.join(data_dir, "jupyterhub.pid")

# Use the proxy `make` installed from package-lock.json, not whatever is on PATH.
chp = os.path.join(repo_root, "node_modules", ".bin", "configurable-http-proxy")
c.ConfigurableHTTPProxy.command = [chp if os.path.exists(chp) else "configurable-http-proxy"]
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:%d" % (port + 2)
c.ConfigurableHTTPProxy.pid_file = os.path.join(data_dir, "configurable-http-proxy.pid")


def _admin_password():
    """$AGLAIS_ADMIN_PASSWORD, else one generated once and kept so restarts don't change it."""
    if os.environ.get("AGLAIS_ADMIN_PASSWORD"):
        return os.environ["AGLAIS_ADMIN_PASSWORD"]
    path = os.path.join(data_dir, "admin_password")
    try:
        with open(path) as f:
            saved = f.read().strip()
        if saved:
            return saved
    except FileNotFoundError:
        pass
    password = secrets.token_urlsafe(12)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(password + "\n")
    return password


admin_password = _admin_password()

# Accounts: give it a try, email sign-up, the Demo provider, and the admin, a local
# account with the password above (docs/accounts.md).
configure_accounts(c, trial_culler_timeout=int(os.environ.get("AGLAIS_TRIAL_TIMEOUT") or 3600))
c.Authenticator.admin_users = {"admin"}
c.AglaisAuthenticator.db_url = "sqlite:///" + os.path.join(data_dir, "accounts.sqlite")
c.AglaisAuthenticator.local_accounts = {"admin": admin_password}

# Mail: to $AGLAIS_SMTP_HOST if set, else to aiosmtpd in this process, which keeps every
# message in the Maildir $AGLAIS_DATA_DIR/mail/ (0700) and prints only to whom and where.
if os.environ.get("AGLAIS_SMTP_HOST"):
    c.Mailer.smtp_host = os.environ["AGLAIS_SMTP_HOST"]
    c.Mailer.smtp_port = int(os.environ.get("AGLAIS_SMTP_PORT") or 587)
    c.Mailer.security = os.environ.get("AGLAIS_SMTP_SECURITY") or "starttls"
    c.Mailer.smtp_username = os.environ.get("AGLAIS_SMTP_USERNAME", "")
    c.Mailer.smtp_password = os.environ.get("AGLAIS_SMTP_PASSWORD", "")
    c.Mailer.from_address = os.environ.get("AGLAIS_MAIL_FROM") or c.Mailer.from_address
else:
    maildir_mail_server(port + 5, os.path.join(data_dir, "mail"))
    c.Mailer.smtp_host = "127.0.0.1"
    c.Mailer.smtp_port = port + 5

# The "Demo provider": a real OpenID Connect provider in this process, so OAuth can be
# tried offline (pick a user on its page, or type any name).
if importlib.util.find_spec("oidc_provider_mock") is not None:
    demo_provider(port + 4, [
        {"sub": "ada", "email": "ada@example.org", "email_verified": True, "preferred_username": "ada"},
        {"sub": "grace", "email": "grace@example.org", "email_verified": True, "preferred_username": "grace"},
    ])
    c.AglaisAuthenticator.providers = {"demo": {
        "kind": "oidc", "label": "Demo provider", "issuer": "http://localhost:%d" % (port + 4),
        "client_id": "aglais-demo", "client_secret": "the-demo-provider-does-not-check-it"}}

# The log scrolls fast: frame the one line a new user needs. It never holds the
# password: the hub's output may end up in a file others can read (a trial's kernel
# read it from a shell's `> hub.log`), the password file is the hub's user's alone.
_login = "Log in at http://127.0.0.1:%d/hub/login as admin with the password in %s" % (
    port,
    "$AGLAIS_ADMIN_PASSWORD" if os.environ.get("AGLAIS_ADMIN_PASSWORD") else os.path.join(data_dir, "admin_password"),
)
print("+" + "-" * (len(_login) + 2) + "+", "| " + _login + " |", "+" + "-" * (len(_login) + 2) + "+",
      sep="\n", flush=True)

configure_booking_service(
    c,
    url="http://127.0.0.1:%d" % booking_port,
    db_url="sqlite+aiosqlite:///" + os.path.join(data_dir, "booking.sqlite"),
    managed=True,
    seed_local_pool=True,
    # the calendar feeds' key, made 0600 at the first start beside the hub's cookie secret
    # (the path is no secret, so the command line may carry it)
    extra_args=["--BookingService.feed_secret_file=" + os.path.join(data_dir, "booking_feed_secret")],
)

# The retention job: temp data, and saved data after a mailed warning, by the level
# groups' retention properties (docs/retention.md), in the homes below.
# It mails through the hub's Mailer settings (config.retention.hub_mail).

# Servers are local processes, gated and sized by the booking service (docs/spawner.md).
# As root, each hub user's server runs as a system account of their own (jupyter-<name>,
# made on the first spawn, removed with the user, home /home/jupyter-<name>). Without
# root, every server can only run as this process's user, with a home under the data
# directory: no isolation, so "Give it a try" stays off unless $AGLAIS_ALLOW_TRY is set.
c.JupyterHub.spawner_class = "booking-local"
system_user_prefix = os.environ.get("AGLAIS_SYSTEM_USER_PREFIX") or "jupyter-"
if os.geteuid() == 0:
    c.BookingLocalProcessSpawner.create_system_users = True
    c.BookingLocalProcessSpawner.system_user_prefix = system_user_prefix
    c.BookingLocalProcessSpawner.system_homes = os.environ.get("AGLAIS_SYSTEM_HOMES") or "/home"
    homes = os.path.join(c.BookingLocalProcessSpawner.system_homes, "{system_user}")
else:
    c.BookingLocalProcessSpawner.shared_os_user = True
    homes = os.path.join(data_dir, "homes", "{username}")
    c.BookingLocalProcessSpawner.home_dir_template = homes
    if os.environ.get("AGLAIS_ALLOW_TRY"):
        c.AglaisAuthenticator.allow_try = True
# The file layout (docs/layout.md): ~/notebooks, ~/saved, ~/tmp in each home, and read-only
# links ~/examples (the repository's examples/, $AGLAIS_EXAMPLES_GIT pulled with nbgitpuller,
# or an admin's $AGLAIS_EXAMPLES_DIR) and ~/data ($AGLAIS_SHARED_DATA_DIR, if set).
c.BookingLocalProcessSpawner.examples_dir = examples.examples_dir(
    data_dir, own=os.environ.get("AGLAIS_EXAMPLES_DIR", ""), git_url=os.environ.get("AGLAIS_EXAMPLES_GIT", ""),
    git_ref=os.environ.get("AGLAIS_EXAMPLES_REF", ""))
c.BookingLocalProcessSpawner.shared_data_dir = os.environ.get("AGLAIS_SHARED_DATA_DIR", "")
retention_service(c, homes, state_dir=os.path.join(data_dir, "retention"),
                  system_user_prefix=system_user_prefix if os.geteuid() == 0 else None)
# Preparation steps: the stage_file worker copies a file from a URL into ~/saved before a
# booking starts, as the home's owner (docs/preparation.md). It fetches from public
# addresses only, and from the hosts in $AGLAIS_STAGE_ALLOWED_HOSTS (comma-separated: a
# site's own data server on a private address).
stage_file_service(c, port=port + 6, homes=homes,
                   system_user_prefix=system_user_prefix if os.geteuid() == 0 else None,
                   allowed_hosts=[h.strip() for h in os.environ.get("AGLAIS_STAGE_ALLOWED_HOSTS", "").split(",")
                                  if h.strip()])

# The servers' Python: as root, a venv outside the checkout that `make` builds and every
# account can read (hub_extension/embedded/server_env.py); otherwise the hub's own.
servers = server_env.path()
singleuser = os.path.join(servers, "bin", "jupyterhub-singleuser")
if not os.access(singleuser, os.X_OK):
    raise SystemExit(f"{singleuser} is missing: `make run` builds it (make server-env)")
c.Spawner.cmd = [singleuser]
# What a server inherits is JupyterHub's env_keep without the hub's own Python (PATH,
# PYTHONPATH, VIRTUAL_ENV point into the hub's venv and checkout): its Python is the
# servers' venv, for the kernels and the terminal alike.
c.Spawner.env_keep = ["LANG", "LC_ALL", "JUPYTERHUB_SINGLEUSER_APP"]
c.Spawner.environment = {"PATH": f"{servers}/bin:/usr/local/bin:/usr/bin:/bin", "VIRTUAL_ENV": str(servers)}
if importlib.util.find_spec("jupyterlab") is not None:
    c.Spawner.default_url = "/lab"
