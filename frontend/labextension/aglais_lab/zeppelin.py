"""The Zeppelin flavour: Apache Zeppelin behind jupyter-server-proxy in a single-user server.

A Zeppelin server is an ordinary `jupyterhub-singleuser` (so the hub's login, activity
and culling work unchanged) in which jupyter-server-proxy runs Zeppelin as a managed
process, bound to 127.0.0.1 on a port it picks, at ``{base_url}zeppelin/``. Zeppelin
is told port, address and base path by its own settings (ZEPPELIN_PORT, ZEPPELIN_ADDR,
ZEPPELIN_SERVER_CONTEXT_PATH; docs/spawner.md). Its HTML pages get a script
(static/zeppelin.js) that shows the booking's countdown, warnings and Register from the
same /aglais/status and /aglais/extend the JupyterLab status item uses.

Turned on in a server whose session is a Zeppelin one ($AGLAIS_FLAVOUR, which both
booking-aware spawners set) or by ``c.AglaisZeppelin.enabled = True``.

Zeppelin's port on 127.0.0.1 is reachable by every process of the machine (on one
machine: every other user's kernel), and Zeppelin asks no login by default, which would
let anyone run code as this user. So each start gives Zeppelin a Shiro configuration
(shiro.ini in its ZEPPELIN_CONF_DIR, 0600) whose one user has a password made for that
start, with every URL under `authcBasic`, and the proxy adds that user's Authorization
to each request it passes on (jupyter-server-proxy's `request_headers_override`): the
browser, behind the hub's login, never sees the password, and a request straight to the
port is refused.
"""

from __future__ import annotations

import base64
import gzip
import os
import re
import secrets
import shutil
from html import escape
from pathlib import Path

from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.utils import url_path_join
from tornado import web
from traitlets import Bool, Float, List, Unicode, default
from traitlets.config import LoggingConfigurable

NAME = "zeppelin"  # the proxy's name: the path under the server, {base_url}zeppelin/
ADDRESS = "127.0.0.1"  # only this server reaches Zeppelin; the browser goes through the proxy
STATIC = Path(__file__).parent / "static"
SCRIPT = "zeppelin.js"
_HEAD_END = re.compile(rb"</head\s*>", re.IGNORECASE)
_BODY_END = re.compile(rb"</body\s*>", re.IGNORECASE)
PROXY_USER = "aglais"  # Zeppelin's one user: whoever comes through this server's proxy
SHIRO = """\
# Made by aglais_lab.zeppelin at each start of Zeppelin: one user, whose password only
# this server's proxy knows, and no URL without it (docs/spawner.md, the Zeppelin flavour).
[users]
{user} = {password}, admin

[main]
sessionManager = org.apache.shiro.web.session.mgt.DefaultWebSessionManager
securityManager.sessionManager = $sessionManager
securityManager.sessionManager.globalSessionTimeout = 86400000

[roles]
admin = *

[urls]
/** = authcBasic
"""


def _literal(text: str) -> str:
    """`text` as jupyter-server-proxy's templates ({port}, {base_url}) read it literally."""
    return text.replace("{", "{{").replace("}", "}}")


def spark_master(conf_dir: str) -> str | None:
    """spark.master from <conf_dir>/spark-defaults.conf, if it names one. Zeppelin's Spark
    interpreter always passes a master (its `spark.master`, from $SPARK_MASTER, else
    local[*]) and so overrides spark-defaults' own: it must learn the session's from us."""
    try:
        lines = (Path(conf_dir) / "spark-defaults.conf").read_text().splitlines()
    except OSError:
        return None
    master = None
    for line in lines:
        parts = line.strip().split(None, 1)
        if len(parts) == 2 and parts[0] == "spark.master":
            master = parts[1].strip()  # the last value of a key wins, as in Spark
    return master


class AglaisZeppelin(LoggingConfigurable):
    """Settings of the Zeppelin flavour (``c.AglaisZeppelin.zeppelin_home = ...`` in the server's config)."""

    enabled = Bool(
        config=True,
        help="""Run Zeppelin behind this server at ``{base_url}zeppelin/``. Default: on when
        $AGLAIS_FLAVOUR is ``zeppelin`` (the booking-aware spawners set it from the session).""",
    )

    @default("enabled")
    def _default_enabled(self):
        return os.environ.get("AGLAIS_FLAVOUR") == NAME

    zeppelin_home = Unicode(
        config=True,
        help="Zeppelin's installation (ZEPPELIN_HOME). Default: $ZEPPELIN_HOME, else /opt/zeppelin (the apache/zeppelin image's).",
    )

    @default("zeppelin_home")
    def _default_zeppelin_home(self):
        return os.environ.get("ZEPPELIN_HOME") or "/opt/zeppelin"

    command = List(
        Unicode(), config=True,
        help="""The command that runs Zeppelin in the foreground; ``{port}`` and ``{base_url}``
        are replaced as in jupyter-server-proxy's ``command``. Default:
        ``<zeppelin_home>/bin/zeppelin.sh``. Port, address and base path reach Zeppelin in
        its own settings, ZEPPELIN_PORT, ZEPPELIN_ADDR (127.0.0.1) and
        ZEPPELIN_SERVER_CONTEXT_PATH (``{base_url}zeppelin``).""",
    )

    @default("command")
    def _default_command(self):
        return [_literal(os.path.join(self.zeppelin_home, "bin", "zeppelin.sh"))]

    state_dir = Unicode(
        "~/.aglais/zeppelin", config=True,
        help="""Where Zeppelin keeps its logs, pid file, unpacked web app, interpreter settings
        and search index (ZEPPELIN_LOG_DIR, ZEPPELIN_PID_DIR, ZEPPELIN_WAR_TEMPDIR,
        ZEPPELIN_CONFIG_FS_DIR, ZEPPELIN_SEARCH_INDEX_PATH), unless the environment sets
        them: by default they are in ZEPPELIN_HOME, which a user's account cannot write,
        and the index in /tmp, which users would share.""",
    )
    notebook_dir = Unicode(
        "~/zeppelin", config=True,
        help="Where Zeppelin keeps the user's notes (ZEPPELIN_NOTEBOOK_DIR), unless the environment sets it.",
    )
    timeout = Float(
        180, config=True,
        help="Seconds Zeppelin may take to answer after its start (a JVM, and the web app unpacked on the first).",
    )
    inject = Bool(
        True, config=True,
        help="Add the booking's countdown, warnings and Register to Zeppelin's HTML pages.",
    )

    # -- the process -------------------------------------------------------------------

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.password = secrets.token_urlsafe(32)  # made anew at each start of Zeppelin (prepare)

    def conf_dir(self) -> str:
        """Zeppelin's ZEPPELIN_CONF_DIR: ours, under `state_dir`, since shiro.ini must be."""
        return os.path.join(os.path.expanduser(self.state_dir), "conf")

    def authorization(self) -> dict:
        """The header the proxy adds to every request it passes to Zeppelin (replacing any
        Authorization the browser or a program sent this server: that is the hub's token,
        not Zeppelin's business)."""
        pair = f"{PROXY_USER}:{self.password}".encode()
        return {"Authorization": "Basic " + base64.b64encode(pair).decode()}

    def environment(self) -> dict:
        """Zeppelin's settings for its process; the server's own environment wins for all
        but port, address, base path and configuration directory, which are ours."""
        env = {"ZEPPELIN_PORT": "{port}", "ZEPPELIN_ADDR": ADDRESS,
               "ZEPPELIN_SERVER_CONTEXT_PATH": "{base_url}" + NAME, "ZEPPELIN_HOME": _literal(self.zeppelin_home),
               "ZEPPELIN_CONF_DIR": _literal(self.conf_dir())}
        state = os.path.expanduser(self.state_dir)
        defaults = {
            "ZEPPELIN_LOG_DIR": os.path.join(state, "logs"),
            "ZEPPELIN_PID_DIR": os.path.join(state, "run"),
            "ZEPPELIN_WAR_TEMPDIR": os.path.join(state, "webapps"),
            "ZEPPELIN_CONFIG_FS_DIR": self.conf_dir(),
            "ZEPPELIN_SEARCH_INDEX_PATH": os.path.join(state, "search-index"),
            "ZEPPELIN_NOTEBOOK_DIR": os.path.expanduser(self.notebook_dir),
        }
        master = spark_master(os.environ["SPARK_CONF_DIR"]) if os.environ.get("SPARK_CONF_DIR") else None
        if master:
            defaults["SPARK_MASTER"] = master
        for key, value in defaults.items():
            if not os.environ.get(key):
                env[key] = _literal(value)
        return env

    def prepare(self) -> list[str]:
        """Make Zeppelin's directories (it makes only some of them itself) and its
        configuration: the installation's own files, then a shiro.ini with a new password;
        the command."""
        env = self.environment()
        for key in ("ZEPPELIN_LOG_DIR", "ZEPPELIN_PID_DIR", "ZEPPELIN_WAR_TEMPDIR", "ZEPPELIN_CONF_DIR",
                    "ZEPPELIN_CONFIG_FS_DIR", "ZEPPELIN_NOTEBOOK_DIR"):
            path = env.get(key, "").replace("{{", "{").replace("}}", "}")
            if path:
                os.makedirs(path, mode=0o700, exist_ok=True)
        self.write_conf()
        return list(self.command)

    def write_conf(self) -> None:
        """Copy the installation's conf/ files that are missing (zeppelin-site.xml, log4j2,
        ...; never over the user's own), then write shiro.ini anew, 0600, with a password
        made for this start."""
        conf = self.conf_dir()
        installed = os.path.join(self.zeppelin_home, "conf")
        if os.path.isdir(installed):
            for name in os.listdir(installed):
                source, target = os.path.join(installed, name), os.path.join(conf, name)
                if name != "shiro.ini" and os.path.isfile(source) and not os.path.lexists(target):
                    shutil.copyfile(source, target)
        self.password = secrets.token_urlsafe(32)
        path = os.path.join(conf, "shiro.ini")
        if os.path.lexists(path) or os.path.islink(path):
            os.unlink(path)  # a link planted there is not followed: a new file takes its place
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(SHIRO.format(user=PROXY_USER, password=self.password))

    def server_process(self, base_url) -> dict:
        """The jupyter-server-proxy server process (``c.ServerProxy.servers['zeppelin']``);
        `base_url()` is the server's base URL, asked when a page passes (jupyterhub-singleuser
        sets it after the extensions' link step)."""
        return {
            # jupyter-server-proxy calls these with the arguments their code names (its
            # call_with_asked_args reads __code__), so functions of nothing, not bound methods
            "command": lambda: self.prepare(),  # at each start of Zeppelin, before its environment
            "environment": lambda: self.environment(),
            # Zeppelin's one user's password (write_conf): the browser never holds it
            "request_headers_override": lambda: self.authorization(),
            "absolute_url": True,  # Zeppelin serves under its context path, so it sees the full path
            "timeout": self.timeout,
            "rewrite_response": self.rewriter(lambda: url_path_join(base_url(), "aglais", "static", SCRIPT)),
            "launcher_entry": {"title": "Apache Zeppelin", "path_info": NAME + "/"},
            "new_browser_tab": True,
        }

    # -- what the page gets --------------------------------------------------------------

    def rewriter(self, script_url):
        def rewrite(response):
            if self.inject:
                tag = f'<script src="{escape(script_url())}" defer data-aglais="zeppelin"></script>'
                inject_script(response, tag.encode())

        return rewrite


def inject_script(response, tag: bytes) -> None:
    """Put `tag` into an HTML page (before </head>, else </body>, else at its end). Any
    other answer passes untouched: JSON, scripts, images, redirects, errors. jupyter-server-
    proxy drops the backend's Content-Length and the server sends the new body's length."""
    content_type = response.headers.get("Content-Type", "")
    if response.code != 200 or not content_type.lower().startswith("text/html") or not response.body:
        return
    encoding = response.headers.get("Content-Encoding", "").lower()
    if encoding not in ("", "identity", "gzip"):
        return  # a compression we cannot open: leave the page as it is
    body = gzip.decompress(response.body) if encoding == "gzip" else response.body
    for pattern in (_HEAD_END, _BODY_END):
        match = pattern.search(body)
        if match:
            body = body[:match.start()] + tag + body[match.start():]
            break
    else:
        body += tag
    if encoding == "gzip":
        body = gzip.compress(body)
    response.body = body


class ScriptHandler(JupyterHandler, web.StaticFileHandler):
    """static/zeppelin.js, behind the server's login like the rest. Serving it also sets
    the server's XSRF cookie, which a page from Zeppelin has not been given otherwise and
    which the script sends back with every request to /aglais/ (the single-user server
    refuses cookie-authenticated API requests without it, GET too)."""

    auth_resource = "aglais"

    @web.authenticated
    def get(self, path, include_body=True):
        self.xsrf_token  # sets the _xsrf cookie (tornado) for the page's requests
        return web.StaticFileHandler.get(self, path, include_body)


def link(serverapp) -> None:
    """Add Zeppelin to jupyter-server-proxy's servers, in the link step of the server's
    extensions, which runs for every extension before any is loaded (jupyter_server's
    ExtensionManager), so jupyter-server-proxy reads it when it loads. An entry the
    server's own config has under the same name wins."""
    zeppelin = AglaisZeppelin(parent=serverapp, log=serverapp.log)
    if not zeppelin.enabled:
        return
    section = serverapp.config.ServerProxy
    servers = dict(section.get("servers", {}))
    if NAME in servers:
        serverapp.log.info("aglais_lab: ServerProxy.servers has a %r of its own; not adding Zeppelin's", NAME)
        return
    servers[NAME] = zeppelin.server_process(lambda: serverapp.web_app.settings["base_url"])
    section.servers = servers
    serverapp.log.info("aglais_lab: Apache Zeppelin (%s) at <base_url>%s/", " ".join(zeppelin.command), NAME)


def setup_handlers(serverapp) -> None:
    base = serverapp.web_app.settings["base_url"]
    serverapp.web_app.add_handlers(".*$", [
        (url_path_join(base, "aglais", "static", "(zeppelin\\.js)"), ScriptHandler, {"path": str(STATIC)}),
    ])
