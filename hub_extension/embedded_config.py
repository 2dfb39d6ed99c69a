"""JupyterHub configuration for `make run`: the embedded default.

One machine, no outside services: the hub, the proxy and the booking service
all listen on 127.0.0.1 and keep their state in SQLite files under
$AGLAIS_DATA_DIR (default: .run/ in the repository).

Ports, from $PORT (default 8000):
  PORT    the proxy, the only address a browser uses
  PORT+1  the booking service ($AGLAIS_BOOKING_PORT overrides it)
  PORT+2  the proxy's REST API
  PORT+3  the hub itself, behind the proxy
JupyterHub's own defaults (8001 for the proxy API, 8081 for the hub) would
collide with the booking service, hence the explicit block of ports.
"""

import importlib.util
import os
import secrets
import sys

from hub_extension.booking import configure_booking_service

c = get_config()  # noqa: F821 (provided by JupyterHub's config loader)

repo_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
port = int(os.environ.get("PORT") or 8000)
booking_port = int(os.environ.get("AGLAIS_BOOKING_PORT") or port + 1)

# Relative paths are taken from the caller's directory, like any shell path;
# the default is fixed to the repository so it does not depend on where we start.
data_dir = os.path.abspath(os.environ.get("AGLAIS_DATA_DIR") or os.path.join(repo_root, ".run"))
# 0700: the cookie secret, the admin password and the databases live here.
os.makedirs(data_dir, mode=0o700, exist_ok=True)

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

# One admin account with a known password is all the embedded default needs;
# real deployments configure their own authenticator.
c.JupyterHub.authenticator_class = "dummy"
c.DummyAuthenticator.password = admin_password
c.Authenticator.allowed_users = {"admin"}
c.Authenticator.admin_users = {"admin"}

# The log scrolls fast: frame the one line a new user needs (a password the
# user chose is not echoed; a generated one has to be).
_login = "Log in at http://127.0.0.1:%d/hub/login as admin with password %s" % (
    port,
    "$AGLAIS_ADMIN_PASSWORD" if os.environ.get("AGLAIS_ADMIN_PASSWORD") else admin_password,
)
print("+" + "-" * (len(_login) + 2) + "+", "| " + _login + " |", "+" + "-" * (len(_login) + 2) + "+",
      sep="\n", flush=True)

configure_booking_service(
    c,
    url="http://127.0.0.1:%d" % booking_port,
    db_url="sqlite+aiosqlite:///" + os.path.join(data_dir, "booking.sqlite"),
    managed=True,
    seed_local_pool=True,
)

# Servers are local processes, gated and sized by the booking service. Hub users are
# not OS users here, so every server runs as this process's user with a home of its
# own under the data directory (no isolation: a one-machine demo, see docs/spawner.md).
c.JupyterHub.spawner_class = "booking-local"
c.BookingLocalProcessSpawner.shared_os_user = True
c.BookingLocalProcessSpawner.home_dir_template = os.path.join(data_dir, "homes", "{username}")
c.Spawner.cmd = [os.path.join(os.path.dirname(sys.executable), "jupyterhub-singleuser")]
if importlib.util.find_spec("jupyterlab") is not None:
    c.Spawner.default_url = "/lab"
