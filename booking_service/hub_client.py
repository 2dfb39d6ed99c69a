"""The booking service's calls to the hub's REST API, with the service's own token:
a user's groups (their level), stopping a server when its booking ends, and mailing
a notice (the hub knows the addresses; this service does not).

The token's role needs only `read:users:groups`, `read:users:name`, `list:users`,
`read:servers` and `delete:servers` (hub_extension/config/booking.py grants exactly these),
and `custom:accounts:notify` to mail notices, granted where the hub has the accounts.
"""

from __future__ import annotations

import json
import time
from urllib.parse import quote

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

from .domain import NotFound


class HubClient:
    def __init__(self, api_url: str, token: str, *, cache_seconds: float = 60):
        self.api_url = api_url.rstrip("/") + "/"
        self.token = token
        self.cache_seconds = cache_seconds
        self._users: dict[str, tuple[float, dict]] = {}
        self.http = AsyncHTTPClient()

    async def _call(self, method: str, path: str):
        request = HTTPRequest(self.api_url + path, method=method, headers={"Authorization": f"token {self.token}"},
                              request_timeout=20)
        try:
            response = await self.http.fetch(request)
        except HTTPClientError as e:
            if e.code == 404:
                return None
            raise
        return json.loads(response.body) if response.body else {}

    async def user(self, name: str) -> dict:
        """The hub's model of a user (groups included), cached briefly."""
        held = self._users.get(name)
        if held and held[0] > time.monotonic():
            return held[1]
        model = await self._call("GET", f"users/{quote(name, safe='')}")
        if model is None:
            raise NotFound(f"The hub has no user named '{name}'.")
        self._users[name] = (time.monotonic() + self.cache_seconds, model)
        return model

    async def running_servers(self) -> set[tuple[str, str]]:
        """(user, server name) of every server the hub runs or is starting."""
        found, offset, limit = set(), 0, 200
        while True:
            users = await self._call("GET", f"users?state=active&offset={offset}&limit={limit}") or []
            for user in users:
                found.update((user["name"], name) for name in (user.get("servers") or {}))
            if len(users) < limit:
                return found
            offset += limit

    async def stop_server(self, name: str, server_name: str = "") -> None:
        """Ask the hub to stop a server; one already gone is fine."""
        path = f"users/{quote(name, safe='')}/server"
        if server_name:
            path = f"users/{quote(name, safe='')}/servers/{quote(server_name, safe='')}"
        try:
            await self._call("DELETE", path)
        except HTTPClientError as e:
            if e.code != 400:  # 400: a named server on a hub without them, so not running
                raise

    async def send_notice(self, name: str, subject: str, text: str) -> str:
        """Ask the hub to mail a notice to the user (the accounts API's notices endpoint, scope
        ``custom:accounts:notify``): 'sent', or 'no-address' when the hub knows no confirmed
        address (or no account) for them. Anything else raises, to be tried again."""
        request = HTTPRequest(self.api_url + f"accounts/{quote(name, safe='')}/notices", method="POST",
                              headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
                              body=json.dumps({"subject": subject, "text": text}), request_timeout=60)
        try:
            response = await self.http.fetch(request)
        except HTTPClientError as e:
            if e.code == 404:
                return "no-address"
            raise
        return "sent" if json.loads(response.body).get("sent") else "no-address"
