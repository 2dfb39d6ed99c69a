"""Non-API routes: the OpenAPI document, the OAuth callback, and a small landing page."""

from __future__ import annotations

import json
from functools import lru_cache
from html import escape
from pathlib import Path

import yaml
from jupyterhub.services.auth import HubOAuthCallbackHandler, HubOAuthenticated
from tornado import web

OPENAPI = Path(__file__).parent.parent / "openapi.yaml"


@lru_cache(maxsize=1)
def openapi_document() -> str:
    return json.dumps(yaml.safe_load(OPENAPI.read_text()))


class OpenAPIHandler(web.RequestHandler):
    """The API's description is public, like JupyterHub's own REST API docs."""

    def get(self):
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.finish(openapi_document())


class LandingHandler(HubOAuthenticated, web.RequestHandler):
    """Logs a browser in through the hub (OAuth), so its cookie works for the API."""

    @web.authenticated
    def get(self):
        user = self.current_user
        prefix = self.settings["booking_prefix"]
        self.finish(
            "<!doctype html><html lang=en><meta charset=utf-8><title>Booking service</title>"
            # the calendar's scripts send this back as X-XSRFToken on every change
            f"<meta name=\"xsrf-token\" content=\"{escape(self.xsrf_token.decode())}\">"
            f"<h1>Booking service</h1><p>Logged in as <b>{escape(user['name'])}</b>.</p>"
            f"<p>The REST API is at <code>{escape(prefix)}api/v1/</code>; "
            f"its description is <a href=\"{escape(prefix)}api/v1/openapi.json\">openapi.json</a>.</p></html>"
        )


__all__ = ["HubOAuthCallbackHandler", "LandingHandler", "OpenAPIHandler"]
