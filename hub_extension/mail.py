"""Sending mail: confirmation and password-reset links, over SMTP.

smtplib is blocking, so each message is sent on a worker thread; the hub's loop goes on.
For `make run`, demo.maildir_mail_server() keeps every message in a Maildir of the data directory instead.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from email.message import EmailMessage

from traitlets import Bool, Integer, Unicode
from traitlets.config import LoggingConfigurable

from .text import for_log


class Mailer(LoggingConfigurable):
    smtp_host = Unicode("127.0.0.1", help="The SMTP server that sends the hub's mail.").tag(config=True)
    smtp_port = Integer(25, help="The SMTP server's port (587 for submission with STARTTLS, 465 for TLS).").tag(config=True)
    security = Unicode(
        "none",
        help="""How to secure the SMTP connection: 'none' (a relay on this machine or
        network), 'starttls' (port 587) or 'tls' (port 465).""",
    ).tag(config=True)
    smtp_username = Unicode("", help="The SMTP login, if the server wants one.").tag(config=True)
    smtp_password = Unicode("", help="The SMTP password; prefer $AGLAIS_SMTP_PASSWORD to a config file.").tag(config=True)
    from_address = Unicode("aglais-hub <noreply@localhost>", help="The From: of every message.").tag(config=True)
    timeout = Integer(20, help="Seconds before giving up on the SMTP server.").tag(config=True)
    enabled = Bool(True, help="Send mail at all. Without mail, email sign-up and password reset are not offered.").tag(config=True)

    def _send_now(self, message: EmailMessage) -> None:
        if self.security == "tls":
            smtp = smtplib.SMTP_SSL(self.smtp_host, self.smtp_port, timeout=self.timeout,
                                    context=ssl.create_default_context())
        else:
            smtp = smtplib.SMTP(self.smtp_host, self.smtp_port, timeout=self.timeout)
        with smtp:
            if self.security == "starttls":
                smtp.starttls(context=ssl.create_default_context())
            if self.smtp_username:
                smtp.login(self.smtp_username, self.smtp_password)
            smtp.send_message(message)

    async def send(self, to: str, subject: str, body: str) -> None:
        message = EmailMessage()
        message["From"] = self.from_address
        message["To"] = to
        message["Subject"] = subject
        # plain 7bit when it can be, so the links stay whole for people reading the raw
        # message (the console of `make run`, or a mail client's "view source")
        message.set_content(body, cte="7bit" if body.isascii() else "quoted-printable")
        await asyncio.to_thread(self._send_now, message)
        self.log.info("Sent %r to %s", subject, for_log(to))
