"""The account API's OpenAPI document (hub_extension/accounts/openapi.yaml): valid OpenAPI
3.1, served by the hub, documenting exactly the routes the API serves, and describing the
answers the real hub gives (checked with jsonschema); and no body makes a 500: every
hostile body is a 4xx {"status", "message"} that changes nothing."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import pytest
import requests
import yaml
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from tornado import web

from hub_extension.accounts import api as account_api
from hub_extension.accounts.bodies import Body, BodyError, parse

DOCUMENT = Path(account_api.__file__).with_name("openapi.yaml")
METHODS = ("get", "post", "patch", "delete")
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


@pytest.fixture(scope="module")
def doc():
    return yaml.safe_load(DOCUMENT.read_text())


def test_the_document_is_valid_openapi_3_1_and_the_hub_serves_it(accounts_hub, doc):
    validate(doc)
    assert doc["openapi"] == "3.1.0" and doc["servers"] == [{"url": "/hub/api"}]
    resp = requests.get(accounts_hub.url + "hub/api/openapi/accounts.json")  # public: no token
    assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("application/json")
    assert resp.json() == doc


def test_the_documented_operations_are_the_served_routes(doc):
    served = set()
    for pattern, handler in account_api.routes():
        path = pattern.removeprefix("/api")
        for i, name in enumerate(["name"] * path.count("([^/]+)")):
            path = path.replace("([^/]+)", "{" + name + "}", 1)
        for method in METHODS:
            if getattr(handler, method) is not getattr(web.RequestHandler, method):
                served.add((path, method))
    documented = {(path, method) for path, item in doc["paths"].items() for method in item if method in HTTP_METHODS}
    assert documented == served


def lookup(doc, ref: str):
    node = doc
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def resolve(doc, node):
    return lookup(doc, node["$ref"]) if "$ref" in node else node


class Checked:
    """Calls the API and checks each answer against the document's schema for its path,
    method and status; remembers which operations answered successfully."""

    def __init__(self, hub, doc):
        self.hub, self.doc, self.seen = hub, doc, set()

    def __call__(self, method, template, *, status, token=None, body=None, raw=None, **params):
        path = template.format(**params)
        headers = {"Authorization": f"token {token or self.hub.admin_token}"}
        data = raw if raw is not None else (None if body is None else json.dumps(body))
        resp = requests.request(method, self.hub.url + "hub/api" + path, headers=headers, data=data)
        assert resp.status_code == status, (method, path, resp.status_code, resp.text)
        operation = self.doc["paths"][template][method.lower()]
        assert str(status) in operation["responses"], f"{method} {template} does not document {status}"
        answer = resolve(self.doc, operation["responses"][str(status)])
        if "content" in answer:
            assert resp.headers["Content-Type"].startswith("application/json")
            schema = dict(answer["content"]["application/json"]["schema"], components=self.doc["components"])
            Draft202012Validator(schema).validate(resp.json())
        else:
            assert not resp.content
        if status < 300:
            self.seen.add((template, method.lower()))
        return resp


def test_real_answers_match_the_document(accounts_hub, doc):
    call = Checked(accounts_hub, doc)
    name = f"doc-{uuid.uuid4().hex[:8]}"
    call("GET", "/accounts", status=200)
    call("POST", "/accounts", status=201, body={"name": name, "email": f"{name}@example.org", "email_confirmed": True,
                                               "password": "a long enough password", "level": "level-n",
                                               "attributes": {"project": "gaia", "seats": 3, "tags": ["a", "b"],
                                                              "ratio": 0.5, "lead": None, "open": True}})
    call("POST", "/accounts", status=409, body={"name": name})
    call("POST", "/accounts", status=400, raw="[]")
    call("POST", "/accounts", status=413, raw=json.dumps({"name": "x" * 70000}))
    call("GET", "/accounts/{name}", status=200, name=name)
    call("GET", "/accounts/{name}", status=404, name="nobody-" + name)
    call("PATCH", "/accounts/{name}", status=200, body={"level": "level-1", "attributes": {"project": "x"}}, name=name)
    call("PATCH", "/accounts/{name}", status=200, raw="", name=name)
    call("PATCH", "/accounts/{name}", status=400, raw="null", name=name)
    call("GET", "/accounts/{name}/identities", status=200, name=name)
    call("POST", "/accounts/{name}/login-links", status=201, body={"next": "/hub/token", "lifetime_minutes": 5},
         name=name)
    call("POST", "/accounts/{name}/login-links", status=400, body={"lifetime_minutes": 10**300}, name=name)
    notice = {"subject": "Your booking starts soon", "text": "Booking 7 starts in 60 minutes."}
    call("POST", "/accounts/{name}/notices", status=200, body=notice, name=name)
    call("POST", "/accounts/{name}/notices", status=400, body={**notice, "text": ""}, name=name)
    call("POST", "/accounts/{name}/notices", status=404, body=notice, name="nobody-" + name)
    user_token = requests.post(accounts_hub.url + f"hub/api/users/{name}/tokens", json={},
                               headers={"Authorization": f"token {accounts_hub.admin_token}"}).json()["token"]
    call("GET", "/accounts", status=403, token=user_token)
    call("DELETE", "/accounts/{name}", status=204, name=name)
    call("DELETE", "/accounts/{name}", status=404, name=name)
    documented = {(path, method) for path, item in doc["paths"].items() for method in item if method in HTTP_METHODS}
    assert call.seen == documented - {("/openapi/accounts.json", "get")}


def api(hub, method, path, **kw):
    return requests.request(method, hub.url + "hub/api/" + path, headers={"Authorization": f"token {hub.admin_token}"},
                            **kw)


HOSTILE_CREATE = {
    "array": b"[]",
    "null": b"null",
    "string": b'"ada"',
    "number": b"1",
    "not-json": b"{name: ada}",
    "not-utf8": b'{"name": "\xff"}',
    "nan": b'{"name": "nan-x", "attributes": {"a": NaN}}',
    "infinite": b'{"name": "inf-x", "attributes": {"a": 1e400}}',
    "email-list": json.dumps({"name": "list-x", "email": ["a@example.org"]}).encode(),
    "email-object": json.dumps({"name": "obj-x", "email": {"a": 1}}).encode(),
    "numeric-name": json.dumps({"name": 12345}).encode(),
    "name-crlf": json.dumps({"name": "crlf\r\nx"}).encode(),
    "email-crlf": json.dumps({"name": "mail-x", "email": "a@example.org\r\nBcc: b@example.org"}).encode(),
    "password-number": json.dumps({"name": "pw-x", "password": 12345678901}).encode(),
    "confirmed-string": json.dumps({"name": "conf-x", "email": "c@example.org", "email_confirmed": "false"}).encode(),
    "level-number": json.dumps({"name": "lvl-x", "level": 1}).encode(),
    "attributes-list": json.dumps({"name": "attr-x", "attributes": [1, 2]}).encode(),
    "attribute-numeric-name": json.dumps({"name": "attr-x", "attributes": {"123": 1}}).encode(),
    "attribute-long-name": json.dumps({"name": "attr-x", "attributes": {"a" * 65: 1}}).encode(),
    "attribute-huge-integer": ('{"name": "attr-x", "attributes": {"a": ' + "9" * 300 + "}}").encode(),
    "attribute-nested": json.dumps({"name": "attr-x", "attributes": {"a": {"b": {"c": 1}}}}).encode(),
    "attribute-crlf": json.dumps({"name": "attr-x", "attributes": {"a": "x\r\ny"}}).encode(),
    "attribute-surrogate": b'{"name": "attr-x", "attributes": {"a": "\\ud800"}}',
    "attributes-too-big": json.dumps({"name": "attr-x", "attributes": {f"k{i}": "x" * 200 for i in range(60)}}).encode(),
    "deep": b'{"name": "deep-x", "attributes": {"a": ' + b"[" * 100000 + b"]" * 100000 + b"}}",
}


@pytest.mark.parametrize("raw", HOSTILE_CREATE.values(), ids=HOSTILE_CREATE.keys())
def test_a_hostile_body_to_create_is_a_4xx_and_makes_nothing(accounts_hub, raw):
    before = api(accounts_hub, "GET", "accounts").json()["accounts"]
    resp = api(accounts_hub, "POST", "accounts", data=raw)
    assert 400 <= resp.status_code < 500, resp.text
    assert set(resp.json()) >= {"status", "message"} and resp.json()["status"] == resp.status_code
    assert api(accounts_hub, "GET", "accounts").json()["accounts"] == before


HOSTILE_CHANGE = {
    "array": b"[]", "null": b"null", "string": b'"level-n"',
    "level-list": b'{"level": ["level-n"]}',
    "attributes-string": b'{"attributes": "x"}',
    "attribute-huge-integer": b'{"attributes": {"a": -' + b"9" * 300 + b"}}",
    "unknown": b'{"admin": true}',
}


@pytest.mark.parametrize("raw", HOSTILE_CHANGE.values(), ids=HOSTILE_CHANGE.keys())
def test_a_hostile_body_to_change_or_link_is_a_4xx_and_changes_nothing(accounts_hub, raw):
    name = f"hostile-{uuid.uuid4().hex[:8]}"
    assert api(accounts_hub, "POST", "accounts", json={"name": name, "attributes": {"keep": 1}}).status_code == 201
    for method, path in (("PATCH", f"accounts/{name}"), ("POST", f"accounts/{name}/login-links")):
        resp = api(accounts_hub, method, path, data=raw)
        assert 400 <= resp.status_code < 500 and set(resp.json()) >= {"status", "message"}, (method, resp.text)
    model = api(accounts_hub, "GET", f"accounts/{name}").json()
    assert model["attributes"] == {"keep": 1} and model["level"] == "level-1"


def test_a_login_link_s_next_with_cr_or_lf_is_refused_when_made(accounts_hub):
    name = f"next-{uuid.uuid4().hex[:8]}"
    assert api(accounts_hub, "POST", "accounts", json={"name": name}).status_code == 201
    for bad in ("/hub/token\r\nSet-Cookie: x=1", "/hub/\ntoken"):
        resp = api(accounts_hub, "POST", f"accounts/{name}/login-links", json={"next": bad})
        assert resp.status_code == 400, resp.text


@pytest.mark.parametrize("raw, message", [
    (b'{"a": 1, "a": 2}', None),  # the last wins, as JSON readers do
    (b'{"b": 1}', "Unknown field(s): 'b'. Use a."),
    (b'{"a": "x"}', "a must be a whole number from 0 to 5."),
])
def test_a_body_names_the_field_it_refuses(raw, message):
    from hub_extension.accounts.bodies import Whole

    spec = Body({"a": Whole(0, 5)})
    if message is None:
        assert parse(raw, spec) == {"a": 2}
    else:
        with pytest.raises(BodyError, match=re.escape(message)):
            parse(raw, spec)
