"""Notices by mail, end to end: a real hub with the accounts, its hub-managed booking service
(lifecycle every second) and a real SMTP server (aiosmtpd). A booking about to start makes a
notice that the booking service hands to the hub (POST /hub/api/accounts/{name}/notices,
scope custom:accounts:notify), and the hub mails the account's confirmed address; a user
with no address gets none and the notice says so. The hub's endpoint keeps to its scope
and to AglaisAuthenticator.notice_limit_recipient.
Also: the embedded default's order of configuration grants the booking service that scope."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest
import requests
from traitlets.config import Config

from tests.booking_service.conftest import BookingAPI, iso
from tests.hub_extension.conftest import READER_TOKEN, own_accounts_hub

EXTRA = """
c.AglaisAuthenticator.notice_limit_recipient = '3/h'
for _role in c.JupyterHub.load_roles:
    if _role['name'] == 'booking-service':  # configure_accounts ran after the booking service here
        _role['scopes'] = sorted(set(_role['scopes']) | {'custom:accounts:notify'})
for _service in c.JupyterHub.services:
    if _service['name'] == 'booking':
        _service['command'] = _service['command'] + ['--BookingService.lifecycle_interval=1']
"""


@pytest.fixture(scope="module")
def hub(tmp_path_factory, mailbox, oidc_provider, stand_in):
    workdir = tmp_path_factory.mktemp("notice-hub")
    with own_accounts_hub(workdir, smtp_port=mailbox.port, oidc=oidc_provider, stand_in=stand_in,
                          extra=EXTRA) as running:
        yield running
    for log in ("hub.log",):
        text = (workdir / log).read_text()
        assert "Traceback" not in text, f"{log} has tracebacks: {workdir / log}"


def hub_api(hub, method, path, token=None, **kw):
    return requests.request(method, hub.url + "hub/api/" + path,
                            headers={"Authorization": f"token {token or hub.admin_token}"}, **kw)


def new_account(hub, email: bool = True) -> str:
    name = f"nina-{uuid.uuid4().hex[:8]}"
    body = {"name": name, **({"email": f"{name}@example.org", "email_confirmed": True} if email else {})}
    resp = hub_api(hub, "POST", "accounts", json=body)
    assert resp.status_code == 201, resp.text
    return name


async def wait_for_mail_state(api, user, admin, booking_id, timeout=20) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        listed = await api.ok("GET", f"users/{user}/notices", admin)
        mine = [n for n in listed["notices"] if n["booking_id"] == booking_id]
        if mine and mine[0]["mail"] != "pending":
            return mine[0]
        await asyncio.sleep(0.3)
    raise AssertionError(f"no mailed notice for booking {booking_id}: {listed}")


async def test_a_booking_about_to_start_is_mailed_to_its_user(hub, mailbox):
    admin = await hub.new_user(admin=True, prefix="admin")
    api = BookingAPI(hub, "booking")
    pool = await api.new_pool(admin)
    soon = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(minutes=10)
    slot = {"pool": pool, "resources": {"cores": 1, "memory_gib": 1}, "start": iso(soon),
            "end": iso(soon + timedelta(hours=1))}

    nina = new_account(hub)
    before = len(mailbox.messages)
    booking = await api.ok("POST", "bookings", admin, {**slot, "user": nina})
    message = mailbox.wait_for(f"{nina}@example.org", "Your booking starts soon", after=before, timeout=30)
    text = message.get_payload(decode=True).decode()
    assert f"Booking {booking['id']}" in text and "starts in" in text and nina in text
    assert (await wait_for_mail_state(api, nina, admin, booking["id"]))["mail"] == "sent"

    # no address: nothing is mailed, and the notice says why
    quiet = new_account(hub, email=False)
    booking = await api.ok("POST", "bookings", admin, {**slot, "user": quiet})
    assert (await wait_for_mail_state(api, quiet, admin, booking["id"]))["mail"] == "no-address"
    assert not [m for m in mailbox.messages[before:] if quiet in (m["To"] or "")]


def test_the_hub_mails_a_notice_only_with_its_scope(hub, mailbox):
    nina = new_account(hub)
    notice = {"subject": "Your booking ends soon", "text": "Booking 3 ends in 30 minutes."}
    resp = hub_api(hub, "POST", f"accounts/{nina}/notices", token=READER_TOKEN, json=notice)
    assert resp.status_code == 403 and "custom:accounts:notify" in resp.json()["message"]
    for bad in ({"subject": "a\r\nBcc: x@example.org", "text": "t"}, {"subject": "s"}, {**notice, "to": "x@y.z"}):
        resp = hub_api(hub, "POST", f"accounts/{nina}/notices", json=bad)
        assert resp.status_code == 400, (bad, resp.text)
    before = len(mailbox.messages)
    resp = hub_api(hub, "POST", f"accounts/{nina}/notices", json=notice)
    assert resp.json() == {"sent": True}
    mailbox.wait_for(f"{nina}@example.org", "Your booking ends soon", after=before)
    for _ in range(2):  # AglaisAuthenticator.notice_limit_recipient, 3 an hour here
        assert hub_api(hub, "POST", f"accounts/{nina}/notices", json=notice).json() == {"sent": True}
    resp = hub_api(hub, "POST", f"accounts/{nina}/notices", json=notice)
    assert resp.status_code == 429 and "Too many notices" in resp.json()["message"]


def test_the_embedded_order_grants_the_booking_service_the_notify_scope():
    from hub_extension.config.accounts import configure_accounts
    from hub_extension.config.booking import configure_booking_service

    c = Config()
    configure_accounts(c, trial_culler_timeout=None)
    configure_booking_service(c, url="http://127.0.0.1:10101")
    (role,) = [r for r in c.JupyterHub.load_roles if r["name"] == "booking-service"]
    assert "custom:accounts:notify" in role["scopes"]
    bare = Config()
    configure_booking_service(bare, url="http://127.0.0.1:10101")  # no accounts: no such scope to grant
    (role,) = [r for r in bare.JupyterHub.load_roles if r["name"] == "booking-service"]
    assert "custom:accounts:notify" not in role["scopes"]
