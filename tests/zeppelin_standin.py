"""A stand-in for Apache Zeppelin, which cannot be installed here (no Debian, PyPI or npm
package ships it): a small HTTP server that takes its port, address and base path from
Zeppelin's own settings, as bin/zeppelin.sh hands them to Zeppelin, and serves a page
like Zeppelin's index (its title, its Angular app's markers) and its /api/version JSON.

    python tests/zeppelin_standin.py           # serves as ZEPPELIN_PORT/ADDR/SERVER_CONTEXT_PATH say
    make_home(directory)                       # a ZEPPELIN_HOME whose bin/zeppelin.sh runs it

Like Zeppelin with Apache Shiro, it reads $ZEPPELIN_CONF_DIR/shiro.ini (else
$ZEPPELIN_HOME/conf/shiro.ini) and, where its [urls] put ``/**`` under ``authcBasic``,
answers 401 to a request without the Basic credentials of a [users] entry. Like
Zeppelin (Jetty) it serves only under its context path (``/ctx`` redirects to
``/ctx/``, anything outside is a 404), runs in the foreground, and compresses its HTML
for a client that accepts gzip (Jetty's GzipHandler). It is stdlib only, so any
account's Python can run it.
"""

from __future__ import annotations

import base64
import configparser
import gzip
import json
import os
import shutil
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

VERSION = "0.12.0-standin"
PAGE = """<!DOCTYPE html>
<html ng-app="zeppelinWebApp" ng-controller="MainCtrl" class="no-js">
  <head>
    <meta charset="utf-8" />
    <title ng-bind="$root.pageTitle">Zeppelin</title>
  </head>
  <body ng-class="{{'bodyAsIframe': asIframe}}">
    <nav class="navbar navbar-inverse navbar-fixed-top"><a class="navbar-brand" href="#/">Zeppelin</a></nav>
    <div id="main" class="container">
      <h3 id="standin-welcome">Welcome to Zeppelin!</h3>
      <p id="standin-context">{context}</p>
      <p id="standin-user">{user}</p>
    </div>
  </body>
</html>
"""


def version_body() -> bytes:
    """What the stand-in answers at /api/version, as Zeppelin's ZeppelinRestApi shapes it."""
    return json.dumps({"status": "OK", "message": "Zeppelin version",
                       "body": {"version": VERSION, "git-commit-id": "", "git-timestamp": ""}}).encode()


def shiro_users() -> dict | None:
    """{user: password} when shiro.ini puts every URL under authcBasic; None when it does
    not (or there is no shiro.ini: Zeppelin's default, anonymous access)."""
    conf = os.environ.get("ZEPPELIN_CONF_DIR") or os.path.join(os.environ.get("ZEPPELIN_HOME", ""), "conf")
    ini = configparser.ConfigParser(delimiters=("=",), interpolation=None, strict=False)
    ini.optionxform = str  # user names and URL patterns keep their case
    if not ini.read(os.path.join(conf, "shiro.ini")) or ini.get("urls", "/**", fallback="").strip() != "authcBasic":
        return None
    return {user: value.split(",")[0].strip() for user, value in ini.items("users")} if ini.has_section("users") else {}


class Handler(BaseHTTPRequestHandler):
    server_version = "Jetty(stand-in)"
    context = "/"
    users: dict | None = None  # shiro_users() at start

    def authorized(self) -> bool:
        if self.users is None:
            return True
        scheme, _, value = self.headers.get("Authorization", "").partition(" ")
        if scheme != "Basic":
            return False
        try:
            user, _, password = base64.b64decode(value).decode().partition(":")
        except ValueError:
            return False
        return user in self.users and self.users[user] == password

    def log_message(self, format, *args):  # to stderr, which the proxy's log collects
        sys.stderr.write("zeppelin-standin: " + format % args + "\n")

    def _send(self, code: int, body: bytes, content_type: str, extra: dict | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        if not self.authorized():
            self._send(401, b"Unauthorized", "text/plain", {"WWW-Authenticate": 'Basic realm="application"'})
            return
        path = self.path.split("?", 1)[0]
        root = self.context.rstrip("/")
        if root and path == root:
            self._send(302, b"", "text/plain", {"Location": root + "/"})
            return
        if not path.startswith(root + "/"):
            self._send(404, b"Not Found", "text/plain")
            return
        inner = path[len(root):]
        if inner in ("/", "/index.html"):
            page = PAGE.format(context=self.context, user=os.environ.get("USER", "")).encode()
            headers = {}
            if "gzip" in self.headers.get("Accept-Encoding", ""):
                page, headers = gzip.compress(page), {"Content-Encoding": "gzip", "Vary": "Accept-Encoding"}
            self._send(200, page, "text/html;charset=utf-8", headers)
        elif inner == "/api/version":
            self._send(200, version_body(), "application/json")
        else:
            self._send(404, b"Not Found", "text/plain")


def main() -> None:
    """Serve as Zeppelin would: ZEPPELIN_ADDR (Zeppelin's default 127.0.0.1), ZEPPELIN_PORT
    (8080), ZEPPELIN_SERVER_CONTEXT_PATH (/)."""
    address = os.environ.get("ZEPPELIN_ADDR", "127.0.0.1")
    port = int(os.environ.get("ZEPPELIN_PORT", "8080"))
    Handler.context = os.environ.get("ZEPPELIN_SERVER_CONTEXT_PATH", "/") or "/"
    Handler.users = shiro_users()
    server = ThreadingHTTPServer((address, port), Handler)
    sys.stderr.write(f"zeppelin-standin: serving {Handler.context} on {address}:{port}\n")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


def make_home(directory: Path, python: str | None = None) -> Path:
    """A ZEPPELIN_HOME at `directory` whose bin/zeppelin.sh execs this stand-in with
    `python` (default: the system's python3, which every account can run), all readable
    and executable by everyone; its zeppelin.sh."""
    python = python or next((p for p in ("/usr/bin/python3", sys.executable) if os.access(p, os.X_OK)))
    bin_dir = directory / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(__file__, directory / "zeppelin_standin.py")
    script = bin_dir / "zeppelin.sh"
    script.write_text(f'#!/bin/sh\n# the stand-in Zeppelin (tests/zeppelin_standin.py)\n'
                      f'exec {python} "$(dirname "$0")/../zeppelin_standin.py"\n')
    for path in (directory, bin_dir):
        path.chmod(0o755)
    (directory / "zeppelin_standin.py").chmod(0o644)
    script.chmod(0o755)
    return script


if __name__ == "__main__":
    main()
