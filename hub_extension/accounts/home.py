"""The hub's home page (/hub/home): JupyterHub's own page and template, with what the
user may run now and soon above it: their bookings on now and to come, the walk-in and
the state of its queue, a Start for each choice and flavour, and the calendar.

The page reads the user's entitlement in the hub, through the booking-aware spawner
(`BookingSpawnerMixin.entitlement`), with the token the hub holds for the spawner anyway
and already uses for the same user's options form on /hub/spawn. Reading it in the page
instead would need a booking credential in the browser (the booking service's OAuth
cookie, which also books and cancels, or a token minted per visit), which the page's
scripts could leak; this way the browser holds nothing new and asks only for its own
user. A Start is the hub's own REST call, ``POST /hub/api/users/{name}/server`` with
``user_options`` (docs/home.md), made with the page's login and XSRF token.
"""

from __future__ import annotations

from jupyterhub.handlers.pages import HomeHandler
from tornado import web

from aglais_common import describe
from aglais_common.facts import FLAVOUR_LABELS, WALK_IN
from aglais_common.times import for_people, parse_api_time


def when(stamp: str | None) -> dict | None:
    """A booking service time for the page: ISO (the browser shows it in its own zone) and UTC, labelled."""
    if not stamp:
        return None
    return {"iso": stamp, "utc": for_people(parse_api_time(stamp))}


def choices(entitlement: dict, supported: tuple[str, ...], running: dict | None) -> dict:
    """What the page shows, from the booking service's entitlement: `now` (bookings on now
    and the walk-in, each startable), `soon` (bookings to come), the flavours to start them
    with, and what the default server runs (`running`: its session, or None)."""
    flavours = [(f, FLAVOUR_LABELS.get(f, f)) for f in entitlement.get("flavours", []) if f in supported]
    bookings = []
    for booking in entitlement.get("bookings", []):
        bookings.append({
            "id": booking["id"],
            "choice": booking["id"],
            "active": booking["status"] == "active",
            "title": f"{describe.what(booking['package'])} on {booking['pool']}",
            "contents": describe.contents(booking["package"], booking["resources"]),
            "start": when(booking["start"]),
            "end": when(booking["end"]),
            "runs": bool(running) and running.get("booking_id") == booking["id"],
        })
    walk_in = entitlement.get("walk_in") or {"state": "none", "reason": entitlement.get("reason", "")}
    walk_in = {**walk_in, "choice": WALK_IN,
               "title": describe.what(walk_in.get("package")) + " without a booking",
               "contents": describe.contents(walk_in.get("package")) if walk_in.get("package") else "",
               "runs": bool(running) and running.get("kind") == "walk-in"}
    return {
        "now": [b for b in bookings if b["active"]],
        "soon": [b for b in bookings if not b["active"]],
        "walk_in": walk_in,
        "flavours": flavours,
        "level_name": entitlement.get("level_name"),
        "running": running,
        # a walk-in server while a booking is on: the page offers the restart under the booking
        "restart": running is not None and running.get("kind") == "walk-in" and any(b["active"] for b in bookings),
    }


class AglaisHomeHandler(HomeHandler):
    """JupyterHub's HomeHandler, rendering home.html with `aglais`: the choices (None
    where the spawner is not booking-aware or the booking service does not answer)."""

    _choices: dict | None = None
    _unavailable = ""

    @web.authenticated
    async def get(self):
        user = self.current_user
        spawner = user.spawner
        if callable(getattr(spawner, "entitlement", None)):
            entitlement = await spawner.entitlement()
            if entitlement is None:
                self._unavailable = "The booking service is not answering, so your bookings cannot be shown now."
            else:
                if spawner.active:
                    await spawner.poll_and_notify()  # a server that died is not offered a restart
                running = spawner.booking_session if spawner.active and spawner.booking_session else None
                self._choices = choices(entitlement, spawner.supported_flavours(), running)
                self._choices["calendar_url"] = spawner.calendar_url
        await super().get()

    @property
    def template_namespace(self):
        return {**super().template_namespace, "aglais": self._choices, "aglais_unavailable": self._unavailable}
