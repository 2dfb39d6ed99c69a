"""The embedded default's own mail server and OAuth provider, in daemon threads of the
hub's process, so `make run` works offline and stops with the hub.

- maildir_mail_server: aiosmtpd's SMTP server with its Mailbox handler, which keeps every
  message it receives in a Maildir of the hub's 0700 data directory, and one line on the
  console saying to whom and where (never the message: its links sign in as the recipient,
  and a hub's output often lands in a file others can read).
- demo_provider: oidc-provider-mock's OpenID Connect provider (a Flask app) on werkzeug.

Both libraries start non-daemon threads of their own (Controller.start,
run_server_in_thread), which would keep the hub's process alive after it shut down;
hence these few lines.
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading


def _daemon(target, name: str) -> threading.Thread:
    thread = threading.Thread(target=target, name=name, daemon=True)
    thread.start()
    return thread


def maildir_mail_server(port: int, mail_dir: str, host: str = "127.0.0.1") -> threading.Thread:
    """Keep the hub's mail in the Maildir `mail_dir` (made 0700; each message 0600)."""
    from aiosmtpd.handlers import Mailbox
    from aiosmtpd.smtp import SMTP

    class Kept(Mailbox):
        def handle_message(self, message) -> None:
            key = self.mailbox.add(message)
            path = os.path.join(mail_dir, "new", key)
            if os.path.exists(path):  # Maildir honours the umask, so say 0600 ourselves
                os.chmod(path, 0o600)
            print(f"Mail to {message['To']} ({message['Subject']}): kept in {path}", file=sys.stdout, flush=True)

    handler = Kept(mail_dir)  # makes the Maildir and its cur/, new/, tmp/ when missing
    os.chmod(mail_dir, 0o700)
    ready = threading.Event()

    def run():
        loop = asyncio.new_event_loop()
        server = loop.run_until_complete(loop.create_server(lambda: SMTP(handler), host, port))
        ready.set()
        try:
            loop.run_forever()
        finally:
            server.close()

    thread = _daemon(run, "maildir-mail")
    if not ready.wait(10):
        raise RuntimeError(f"the mail server did not start on {host}:{port}")
    return thread


def demo_provider(port: int, users: list[dict], host: str = "localhost") -> threading.Thread:
    """`users`: [{"sub": ..., **claims}] offered as buttons on the provider's page."""
    import werkzeug.serving
    from oidc_provider_mock import User, app

    claims = [User(sub=u["sub"], claims={k: v for k, v in u.items() if k != "sub"}) for u in users]
    server = werkzeug.serving.make_server(host, port, app(user_claims=claims), threaded=True)
    return _daemon(server.serve_forever, "demo-provider")
