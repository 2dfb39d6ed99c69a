"""The retention tests' real hub (users, groups with properties, the accounts API) and
SMTP server; one hub for the package (users are named apart), an inbox per module."""

from __future__ import annotations

import email
import email.policy
import os
import secrets
import sys
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from tests.hub import REPO, free_port, start_hub, stop_hub

VENV_BIN = Path(sys.executable).parent


class Inbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 OK"


@pytest.fixture(scope="module")
def smtp():
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    inbox.port = controller.port
    yield inbox
    controller.stop()


@pytest.fixture(scope="package")
def retention_hub(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("retention-hub")
    token = secrets.token_hex(16)
    extra = f"""
        import os
        sys.path.insert(0, {str(REPO)!r})
        from hub_extension.config.accounts import configure_accounts
        from hub_extension.config.retention import retention_service
        # the accounts, whose API gives the job users' addresses (custom:accounts:read)
        configure_accounts(c, trial_culler_timeout=None)
        c.AglaisAuthenticator.db_url = 'sqlite:///{workdir}/accounts.sqlite'
        retention_service(c, '{workdir}/homes', state_dir='{workdir}/state', managed=False, api_token={token!r})
        # the same, run by the hub, on other homes, changing nothing
        retention_service(c, '{workdir}/homes-dry', state_dir='{workdir}/state-dry', name='retention-dry',
                          interval=1, extra_args=['--dry-run'])
        c.JupyterHub.spawner_class = 'simple'
        c.SimpleLocalProcessSpawner.home_dir_template = '{workdir}/homes/{{username}}'
        c.Spawner.cmd = ['{VENV_BIN}/jupyterhub-singleuser']
        c.Spawner.default_url = '/api/status'
        c.Spawner.args = ['--allow-root'] if os.getuid() == 0 else []
        c.Spawner.start_timeout = 60
        c.Spawner.http_timeout = 60
    """
    (workdir / "homes-dry").mkdir()
    hub = start_hub(workdir, {}, extra_config=extra)
    hub.retention_token = token
    yield hub
    stop_hub(hub.process)


