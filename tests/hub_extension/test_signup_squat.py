"""Sign-up cannot squat an address (issue 9, item 2): the attack as requests through the
real hub and the real SMTP server. A password chosen at sign-up waits with the code mailed
for that sign-up; a newer sign-up for the address voids it; an account exists only once
its address is confirmed, so nothing can be linked to it before."""

from __future__ import annotations

import uuid

import requests

from tests.hub_extension.conftest import Browser, some_address
from tests.hub_extension.test_oauth import account, demo_login
from tests.hub_extension.test_ways_in import confirm, sign_up

ATTACKER_PASSWORD = "mallory's own password"
VICTIM_PASSWORD = "victim's own password"


def admin_api(hub, method, path, **kw):
    return requests.request(method, hub.url + "hub/api/" + path, headers={"Authorization": f"token {hub.admin_token}"},
                            **kw)


def victim_signs_up_and_confirms(hub, mailbox, address):
    victim = Browser(hub)
    message = sign_up(victim, mailbox, address, password=VICTIM_PASSWORD)
    # their sign-up replaced one still waiting, so its page asks for the password they chose
    page = confirm(victim, mailbox, message)
    assert 'name="password"' in page.text
    assert victim.form_post(page, {"password": ATTACKER_PASSWORD}).status_code == 400
    done = victim.form_post(page, {"password": VICTIM_PASSWORD}, allow_redirects=False)
    assert done.status_code == 302, done.text[:1000]
    return victim, message


def test_a_squatted_sign_up_gives_the_attacker_nothing(accounts_hub, mailbox):
    address = f"victim-{uuid.uuid4().hex[:6]}@example.org"
    local = address.split("@")[0]
    # the attacker signs up first with the victim's address and a password of their choosing
    attacker = Browser(accounts_hub, some_address())
    squat_mail = sign_up(attacker, mailbox, address, password=ATTACKER_PASSWORD)
    # nothing exists yet that anything could be linked to, or a login link made for
    assert admin_api(accounts_hub, "GET", f"accounts/{local}").status_code == 404
    assert admin_api(accounts_hub, "POST", f"accounts/{local}/login-links", json={}).status_code == 404
    # the victim signs up with their own password and confirms with the mail of *their* sign-up
    victim, message = victim_signs_up_and_confirms(accounts_hub, mailbox, address)
    name = victim.whoami()
    assert name == local
    # the attacker's password is refused, the victim's works, and it is the victim's account
    assert Browser(accounts_hub, some_address()).login(address, ATTACKER_PASSWORD).status_code == 403
    assert Browser(accounts_hub, some_address()).login(name, ATTACKER_PASSWORD).status_code == 403
    again = Browser(accounts_hub, some_address())
    assert again.login(address, VICTIM_PASSWORD, allow_redirects=False).status_code == 302
    assert again.whoami() == name
    assert [(i["provider"], i["confirmed"]) for i in account(accounts_hub, name)["identities"]] == [("email", True)]
    # the squatter's code (in the victim's mailbox) was voided by the victim's sign-up,
    # and the victim's own works once
    for used in (squat_mail, message):
        page = Browser(accounts_hub).get(mailbox.link(used))
        assert page.status_code == 410, page.text[:500]


def test_a_trial_account_registering_a_strangers_address_and_an_identity_gets_neither(accounts_hub, mailbox):
    """The attacker registers their trial account with the victim's address and their own
    password, then links an OpenID identity of their own to it; later the victim signs
    up. The victim's confirmation makes an account of the victim's, with nothing of the
    attacker's on it, and the attacker's account never gets the address."""
    address = f"target-{uuid.uuid4().hex[:6]}@example.org"
    attacker = Browser(accounts_hub, some_address())
    attacker.get("hub/login")
    attacker.post("hub/try")
    trial = attacker.whoami()
    register_mail = sign_up(attacker, mailbox, address, password=ATTACKER_PASSWORD, path="hub/register")
    form = attacker.post("hub/account/link/demo")
    mallory = f"mallory-{uuid.uuid4().hex[:6]}"
    back = attacker.session.post(form.url, data={"sub": mallory}, allow_redirects=False)
    assert attacker.get(back.headers["Location"]).status_code == 200
    assert attacker.whoami() == trial
    assert [i["provider"] for i in account(accounts_hub, trial)["identities"]] == ["demo"]  # no address on it

    victim, _ = victim_signs_up_and_confirms(accounts_hub, mailbox, address)
    name = victim.whoami()
    assert name != trial
    model = account(accounts_hub, name)
    assert [(i["provider"], i["confirmed"]) for i in model["identities"]] == [("email", True)]
    assert model["email"] == address
    # the attacker's identity logs into the attacker's account, which has no address
    assert demo_login(Browser(accounts_hub), mallory).status_code == 302
    assert account(accounts_hub, trial)["email"] is None
    # the attacker's password is refused for the address and the victim's name
    assert Browser(accounts_hub, some_address()).login(address, ATTACKER_PASSWORD).status_code == 403
    assert Browser(accounts_hub, some_address()).login(name, ATTACKER_PASSWORD).status_code == 403
    # the registration mail the attacker made is void: it cannot add the address later
    page = victim.get(mailbox.link(register_mail))
    assert page.status_code == 410
    assert account(accounts_hub, trial)["email"] is None


def test_an_earlier_sign_up_is_void_and_a_later_one_for_a_confirmed_address_changes_nothing(accounts_hub, mailbox):
    address = f"twice-{uuid.uuid4().hex[:6]}@example.org"
    first = sign_up(Browser(accounts_hub), mailbox, address, password="first password 123")
    second = sign_up(Browser(accounts_hub), mailbox, address, password="second password 123")
    assert Browser(accounts_hub).get(mailbox.link(first)).status_code == 410  # void before it was ever used
    owner = Browser(accounts_hub)
    owner.form_post(confirm(owner, mailbox, second), {"password": "second password 123"})
    name = owner.whoami()
    assert Browser(accounts_hub).login(address, "first password 123").status_code == 403
    # a third sign-up for the now confirmed address: its owner is told, the password is not taken
    stranger = Browser(accounts_hub)
    stranger.get("hub/accounts/signup")
    before = len(mailbox.messages)
    assert stranger.post("hub/accounts/signup", {"email": address, "password": "third password 123"}).status_code == 200
    mailbox.wait_for(address, "Your address is already registered", after=before)
    assert Browser(accounts_hub).login(address, "third password 123").status_code == 403
    assert Browser(accounts_hub).login(address, "second password 123", allow_redirects=False).status_code == 302
    assert account(accounts_hub, name)["email"] == address


def test_a_sign_up_made_after_the_owners_cannot_be_confirmed_by_the_owner_unawares(accounts_hub, mailbox):
    """The race the other way round: the owner signs up, then the attacker does with the
    same address and their own password, voiding the owner's link. The owner finds the
    newer mail and presses Confirm: that sign-up replaced a waiting one, so it asks for
    the password chosen with it, which the owner does not know. Signing up again works."""
    address = f"owner-{uuid.uuid4().hex[:6]}@example.org"
    owner = Browser(accounts_hub)
    first = sign_up(owner, mailbox, address, password=VICTIM_PASSWORD)
    squat = sign_up(Browser(accounts_hub, some_address()), mailbox, address, password=ATTACKER_PASSWORD)
    assert owner.get(mailbox.link(first)).status_code == 410
    page = confirm(owner, mailbox, squat)
    assert "Another sign-up" in page.text and 'name="password"' in page.text
    assert owner.form_post(page, {"password": VICTIM_PASSWORD}).status_code == 400
    assert owner.form_post(page).status_code == 400
    assert owner.whoami() is None
    victim, _ = victim_signs_up_and_confirms(accounts_hub, mailbox, address)
    assert Browser(accounts_hub, some_address()).login(address, ATTACKER_PASSWORD).status_code == 403
    assert Browser(accounts_hub, some_address()).login(address, VICTIM_PASSWORD, allow_redirects=False).status_code == 302
