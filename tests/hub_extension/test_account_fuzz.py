"""schemathesis over the account API's OpenAPI document, on a running hub of its own (the
fuzzer creates, changes and deletes accounts), with an admin's token and with a level-1
user's: no answer is a 5xx, every answer matches the document, invalid bodies are refused.
Bounded (tests/openapi_fuzz.py): a fixed number of derandomized examples each."""

from __future__ import annotations

import uuid

import pytest
import requests
import yaml

from tests.hub_extension.conftest import own_accounts_hub
from tests.hub_extension.test_account_openapi import DOCUMENT
from tests.openapi_fuzz import fuzz

pytestmark = [pytest.mark.fuzz, pytest.mark.timeout(900)]
EXAMPLES = 25


@pytest.fixture(scope="module")
def fuzz_hub(tmp_path_factory, mailbox, oidc_provider, stand_in):
    workdir = tmp_path_factory.mktemp("fuzz-hub")
    with own_accounts_hub(workdir, smtp_port=mailbox.port, oidc=oidc_provider, stand_in=stand_in,
                          extra="c.AglaisAuthenticator.mail_limit_account = '1000/h'\n") as hub:
        yield hub
    log = (workdir / "hub.log").read_text()
    assert log.count("Traceback") == 0, f"the hub logged tracebacks: {workdir / 'hub.log'}"


def account(hub) -> str:
    name = f"fuzz-{uuid.uuid4().hex[:8]}"
    resp = requests.post(hub.url + "hub/api/accounts", json={"name": name},
                         headers={"Authorization": f"token {hub.admin_token}"})
    assert resp.status_code == 201, resp.text
    return name


def token_of(hub, name: str) -> str:
    resp = requests.post(hub.url + f"hub/api/users/{name}/tokens", json={},
                         headers={"Authorization": f"token {hub.admin_token}"})
    return resp.json()["token"]


@pytest.mark.parametrize("caller", ["admin", "level-1"])
def test_the_account_api_survives_schemathesis(fuzz_hub, caller):
    doc = yaml.safe_load(DOCUMENT.read_text())
    user = account(fuzz_hub)
    token = fuzz_hub.admin_token if caller == "admin" else token_of(fuzz_hub, user)
    base = fuzz_hub.url.rstrip("/") + "/hub/api"
    # generated names (mostly no such account), then the caller's own account (admin: a
    # fresh one each run, which the fuzzer may well delete)
    failures = fuzz(doc, base, token, examples=EXAMPLES)
    failures += fuzz(doc, base, token, examples=EXAMPLES, path_parameters={"name": user})
    assert not failures, "\n\n".join(failures)
