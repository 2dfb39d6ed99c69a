"""A stand-in for the accounts API (`GET /hub/api/accounts/{name}`, scope
`custom:accounts:read`) inside the test hub, until the real one exists: answers from a
JSON file {name: email or null}, 404 for names not in it."""

from __future__ import annotations

import json

from jupyterhub.apihandlers.base import APIHandler
from tornado import web


class AccountsStub(APIHandler):
    accounts_file = ""  # set by the test hub's config

    def get(self, user_name):
        # needs_scope checks scope names when the class is defined, before the hub's
        # config declares the custom scope: check by hand
        if "custom:accounts:read" not in self.expanded_scopes:
            raise web.HTTPError(403, "custom:accounts:read is needed")
        with open(self.accounts_file) as f:
            accounts = json.load(f)
        if user_name not in accounts:
            raise web.HTTPError(404, "No such account")
        self.write(json.dumps({"name": user_name, "email": accounts[user_name]}))


HANDLERS = [(r"/api/accounts/([^/]+)", AccountsStub)]
