"""The embedded default's own mail server and OAuth provider, in daemon threads of the
hub's process, so `make run` works offline and stops with the hub.

- console_mail_server: aiosmtpd's SMTP server with its Debugging handler, which prints
  every message it receives (confirmation and reset links included) on the console.
- demo_provider: oidc-provider-mock's OpenID Connect provider (a Flask app) on werkzeug.

Both libraries start non-daemon threads of their own (Controller.start,
run_server_in_thread), which would keep the hub's process alive after it shut down;
hence these few lines.
"""

from __future__ import annotations

import asyncio
import sys
import threading


def _daemon(target, name: str) -> threading.Thread:
    thread = threading.Thread(target=target, name=name, daemon=True)
    thread.start()
    return thread


def console_mail_server(port: int, host: str = "127.0.0.1") -> threading.Thread:
    from aiosmtpd.handlers import Debugging
    from aiosmtpd.smtp import SMTP

    ready = threading.Event()

    def run():
        loop = asyncio.new_event_loop()
        server = loop.run_until_complete(loop.create_server(lambda: SMTP(Debugging(sys.stdout)), host, port))
        ready.set()
        try:
            loop.run_forever()
        finally:
            server.close()

    thread = _daemon(run, "console-mail")
    if not ready.wait(10):
        raise RuntimeError(f"the console mail server did not start on {host}:{port}")
    return thread


def demo_provider(port: int, users: list[dict], host: str = "localhost") -> threading.Thread:
    """`users`: [{"sub": ..., **claims}] offered as buttons on the provider's page."""
    import werkzeug.serving
    from oidc_provider_mock import User, app

    claims = [User(sub=u["sub"], claims={k: v for k, v in u.items() if k != "sub"}) for u in users]
    server = werkzeug.serving.make_server(host, port, app(user_claims=claims), threaded=True)
    return _daemon(server.serve_forever, "demo-provider")
