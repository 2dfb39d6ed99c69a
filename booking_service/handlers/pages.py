"""Non-API routes: the OpenAPI document, the OAuth callback, and the booking calendar's
page, whose scripts (built from frontend/calendar/ into static/) call the REST API."""

from __future__ import annotations

import json
from functools import lru_cache
from html import escape
from pathlib import Path

import yaml
from jupyterhub.services.auth import HubOAuthCallbackHandler, HubOAuthenticated
from tornado import web

OPENAPI = Path(__file__).parent.parent / "openapi.yaml"
STATIC = Path(__file__).parent.parent / "static"
BUNDLE = ("calendar.js", "calendar.css")  # what `make calendar` writes into STATIC

# The page loads only its own scripts and styles and talks only to its own API: no
# inline script or style, no other origin, and no framing by other sites.
CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'self'",
])


def static_settings(prefix: str) -> dict:
    """Tornado settings that serve STATIC under the service prefix with StaticFileHandler;
    `static_url()` adds a hash of the content (`?v=...`), so browsers may cache forever."""
    return {"static_path": str(STATIC), "static_url_prefix": prefix + "static/"}


@lru_cache(maxsize=1)
def openapi_document() -> str:
    return json.dumps(yaml.safe_load(OPENAPI.read_text()))


class OpenAPIHandler(web.RequestHandler):
    """The API's description is public, like JupyterHub's own REST API docs."""

    def get(self):
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.finish(openapi_document())


class LandingHandler(HubOAuthenticated, web.RequestHandler):
    """The booking calendar: logs a browser in through the hub (OAuth), so its cookie works
    for the API, and hands the page the XSRF token its scripts send with every change."""

    def set_default_headers(self):
        self.set_header("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Referrer-Policy", "same-origin")

    @web.authenticated
    def get(self):
        user = self.current_user
        prefix = self.settings["booking_prefix"]
        api = prefix + "api/v1/"
        hub = self.hub_auth.hub_prefix
        built = all((STATIC / name).is_file() for name in BUNDLE)
        if built:
            head = (f'<link rel="stylesheet" href="{escape(self.static_url("calendar.css"))}">'
                    f'<script defer src="{escape(self.static_url("calendar.js"))}"></script>')
            body = ('<main id="calendar-app" tabindex="-1"><p class="loading">Loading the calendar&hellip;</p>'
                    "<noscript><p>The calendar needs JavaScript; the REST API below works without it.</p>"
                    "</noscript></main>")
        else:  # a source checkout without `make calendar`: say so instead of a blank page
            head = ""
            body = ("<main id=\"calendar-app\"><p>The calendar's scripts are not built: run "
                    "<code>make calendar</code>, which bundles <code>frontend/calendar/</code> into "
                    "<code>booking_service/static/</code>.</p></main>")
        self.finish(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            "<title>Booking calendar</title>"
            # the calendar's scripts send this back as X-XSRFToken on every change
            f'<meta name="xsrf-token" content="{escape(self.xsrf_token.decode())}">'
            f"{head}</head>"
            f'<body data-api="{escape(api)}" data-user="{escape(user["name"])}" data-hub="{escape(hub)}">'
            '<a class="skip-link" href="#calendar-app">Skip to the calendar</a>'
            '<header class="site-header"><h1>Booking calendar</h1>'
            f"<p>Logged in as <b>{escape(user['name'])}</b>. "
            f'<a href="{escape(hub)}home">Hub home</a> &middot; '
            f'<a href="{escape(api)}openapi.json">REST API</a> (<code>{escape(api)}</code>)</p></header>'
            f"{body}</body></html>"
        )


__all__ = ["HubOAuthCallbackHandler", "LandingHandler", "OpenAPIHandler", "static_settings"]
