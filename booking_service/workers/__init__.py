"""Preparation workers (seed 004): single-function HTTP services that do one kind of step
(stage a file, make a directory, pull an image) and report back by a callback. This
package holds the client the booking service calls them with, and the workers we ship
(`stage_file`). The protocol is in docs/preparation.md."""

from __future__ import annotations

import json
from dataclasses import dataclass

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

# A worker answers at once (it works in the background): a slow answer is a dead worker.
TIMEOUT = 10


@dataclass(frozen=True)
class Started:
    """What became of asking a worker to start a step: `ok`, or refused for good (`refused`
    holds the worker's reason: the step fails), or neither (unreachable, 5xx: try again)."""

    ok: bool
    refused: str | None = None
    error: str | None = None


class WorkerClient:
    """Starts steps on their workers over HTTP (tornado's AsyncHTTPClient)."""

    def __init__(self, http: AsyncHTTPClient | None = None):
        self.http = http or AsyncHTTPClient()

    async def start(self, url: str, payload: dict, token: str = "") -> Started:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        request = HTTPRequest(url, method="POST", body=json.dumps(payload), follow_redirects=False,
                              headers=headers, request_timeout=TIMEOUT,
                              connect_timeout=TIMEOUT)
        try:
            await self.http.fetch(request)
        except HTTPClientError as e:
            if e.response is not None and 400 <= e.code < 500:
                return Started(False, refused=_message(e.response.body) or f"the worker answered {e.code}")
            return Started(False, error=f"the worker answered {e.code}")
        except OSError as e:
            return Started(False, error=f"the worker is unreachable ({type(e).__name__}: {e})")
        return Started(True)

    async def cancel(self, url: str, step: int, token: str = "") -> str | None:
        """Tell a worker its step was cancelled (`DELETE <worker url>/<step>`): it stops and
        removes what it had begun, and does not call back. None if it took it (2xx) or had
        no such step running (404), else what went wrong. Once, best effort: a step the
        worker never hears of ends there by itself (its callback gets 409)."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        request = HTTPRequest(f"{url.rstrip('/')}/{int(step)}", method="DELETE", headers=headers,
                              follow_redirects=False, request_timeout=TIMEOUT, connect_timeout=TIMEOUT)
        try:
            await self.http.fetch(request)
        except HTTPClientError as e:
            return None if e.code == 404 else f"the worker answered {e.code}"
        except OSError as e:
            return f"the worker is unreachable ({type(e).__name__}: {e})"
        return None


def _message(body: bytes | None) -> str:
    try:
        return str(json.loads(body or b"{}").get("message", ""))[:500]
    except (ValueError, AttributeError):
        return ""
