"""Nothing tells a stranger which addresses are registered (issue 9, item 7): sign-up,
resend and reset answer a known and an unknown address alike (status, page, cookies) over
more requests than the limit allows, because both are counted alike; and they take about
the same time, because what differs (looking the address up, issuing a code, hashing,
mailing) is not on the request's path."""

from __future__ import annotations

import difflib
import re
import statistics
import time
import uuid

import pytest
import requests

from tests.hub_extension.conftest import Browser, some_address
from tests.hub_extension.test_ways_in import sign_up

XSRF = re.compile(r'(xsrf_token: |name="_xsrf" value=)"[^"]*"')


def registered(hub) -> str:
    address = f"known-{uuid.uuid4().hex[:8]}@example.org"
    resp = requests.post(hub.url + "hub/api/accounts", headers={"Authorization": f"token {hub.admin_token}"},
                         json={"name": address.split("@")[0], "email": address, "email_confirmed": True,
                               "password": "a long password 1"})
    assert resp.status_code == 201, resp.text
    return address


def answer(resp: requests.Response, address: str) -> tuple:
    """What a stranger sees: the status, the page with the address and the per-request
    _xsrf token taken out, the names of the cookies set."""
    page = XSRF.sub(r'\1"XSRF"', resp.text.replace(address, "ADDRESS"))
    cookies = sorted(c.split("=", 1)[0] for c in resp.raw.headers.getlist("Set-Cookie"))
    return resp.status_code, page, cookies


def answers(hub, path: str, address: str, form: dict, times: int = 4) -> list[tuple]:
    browser = Browser(hub, some_address())
    browser.get(path.replace("resend", "signup"))
    return [answer(browser.post(path, {"email": address, **form}), address) for _ in range(times)]


CASES = {
    # the 4th request for a known address used to be the 429 "We sent you mail only a moment ago"
    "reset": ("hub/accounts/reset", {}),
    "resend": ("hub/accounts/resend", {}),
    "sign-up": ("hub/accounts/signup", {"password": "a long password 2"}),
}


@pytest.mark.parametrize("case", CASES)
def test_known_and_unknown_addresses_get_the_same_answers(accounts_hub, mailbox, case):
    path, form = CASES[case]
    known, unknown = registered(accounts_hub), f"nobody-{uuid.uuid4().hex[:8]}@example.org"
    times = 4
    if case == "resend":
        # what resend would give away is a sign-up waiting for confirmation; that sign-up
        # counts once for its address, so the unknown one is counted once too (a reset)
        known = f"waiting-{uuid.uuid4().hex[:8]}@example.org"
        sign_up(Browser(accounts_hub, some_address()), mailbox, known)
        answers(accounts_hub, "hub/accounts/reset", unknown, {}, times=1)
        times = 3
    seen_known = answers(accounts_hub, path, known, form, times)
    seen_unknown = answers(accounts_hub, path, unknown, form, times)
    assert [status for status, _, _ in seen_known] == [200] * (times - 1) + [429]  # the limit holds
    for mine, theirs in zip(seen_known, seen_unknown):
        assert mine == theirs, "\n".join(difflib.unified_diff(mine[1].splitlines(), theirs[1].splitlines(), lineterm=""))


def test_known_and_unknown_addresses_take_about_the_same_time(accounts_hub):
    """A generous statistical comparison, not a timed assertion: the medians of
    interleaved requests are within a factor of two of each other. Before, a sign-up for a
    new address hashed a password and mailed on the request's path, and one for a taken
    address did neither."""
    samples = {("signup", True): [], ("signup", False): [], ("reset", True): [], ("reset", False): []}
    browser = Browser(accounts_hub, some_address())
    browser.get("hub/accounts/signup")
    for _ in range(9):
        for (kind, known), seen in samples.items():
            address = registered(accounts_hub) if known else f"new-{uuid.uuid4().hex[:8]}@example.org"
            form = {"email": address, "password": "a long password 3"} if kind == "signup" else {"email": address}
            start = time.perf_counter()
            resp = browser.post(f"hub/accounts/{kind}", form)
            seen.append(time.perf_counter() - start)
            assert resp.status_code == 200
    for kind in ("signup", "reset"):
        known, unknown = statistics.median(samples[kind, True]), statistics.median(samples[kind, False])
        assert max(known, unknown) < 2 * min(known, unknown), (kind, known, unknown)
