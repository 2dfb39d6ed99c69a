"""A user's private calendar feed as an iCalendar (RFC 5545) document: one VEVENT per
booking, built with the icalendar package from plain data (pure: no I/O, no clock).

The feed has no METHOD (it is published, not a scheduling message), so each event's
DTSTAMP is when the booking last changed (RFC 5545 3.8.7.2), and the document stays the
same byte for byte until a booking changes: a client's If-None-Match gets a 304.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from icalendar import Calendar, Event, vDuration, vText

from .domain import CANCELLED, FAILED, MIB_PER_GIB, MILLICORES_PER_CORE

PRODID = "-//aglais-hub//booking service calendar feed//EN"
# Bookings that did not happen: kept a while with STATUS:CANCELLED, so a calendar
# application that had them removes (or strikes through) them.
CALLED_OFF = (CANCELLED, FAILED)


@dataclass(frozen=True)
class FeedEvent:
    """What the feed says of one booking."""

    id: int
    pool: str
    package: str | None  # None: a booking of explicit resources
    package_version: int | None
    millicores: int
    mib: int
    start: datetime  # aware, UTC
    end: datetime
    phase: str
    created: datetime
    modified: datetime  # its last change we know the time of (its last transition)
    sequence: int  # grows with every change of the booking
    cancel_reason: str | None = None


def resources_text(millicores: int, mib: int) -> str:
    return f"{millicores / MILLICORES_PER_CORE:g} cores, {mib / MIB_PER_GIB:g} GiB"


def summary(event: FeedEvent) -> str:
    what = event.package or resources_text(event.millicores, event.mib)
    text = f"{what} on {event.pool}"
    return f"{event.phase.capitalize()}: {text}" if event.phase in CALLED_OFF else text


def description(event: FeedEvent, calendar_url: str) -> str:
    what = (f"package {event.package} (version {event.package_version}), " if event.package else "") + \
        resources_text(event.millicores, event.mib)
    lines = [f"Booking #{event.id}: {what}, on pool {event.pool}.", f"Phase: {event.phase}."]
    if event.phase in CALLED_OFF and event.cancel_reason:
        lines.append(f"Reason: {event.cancel_reason}.")
    lines.append(f"The booking calendar: {calendar_url}")
    return "\n".join(lines)


def uid(booking_id: int, domain: str) -> str:
    """Stable per booking and install: a calendar application matches updates by it."""
    return f"booking-{booking_id}@{domain}"


def render(user: str, events: list[FeedEvent], *, domain: str, calendar_url: str, refresh: timedelta) -> bytes:
    """The feed of `user`'s `events`; `domain` makes the UIDs unique to this service,
    `calendar_url` is the booking calendar's page, `refresh` how often clients should poll."""
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    # as TEXT, escaped (icalendar knows neither name's type); the second is what Apple's
    # and Google's calendars read
    cal.add("name", vText(f"Bookings of {user}"))  # RFC 7986
    cal.add("x-wr-calname", vText(f"Bookings of {user}"))
    # RFC 7986's REFRESH-INTERVAL, and the older name Outlook reads
    cal.add("refresh-interval", vDuration(refresh), parameters={"VALUE": "DURATION"})
    cal.add("x-published-ttl", vDuration(refresh))
    for event in events:
        entry = Event()
        entry.add("uid", uid(event.id, domain))
        entry.add("dtstamp", event.modified)
        entry.add("created", event.created)
        entry.add("last-modified", event.modified)
        entry.add("sequence", event.sequence)
        entry.add("dtstart", event.start)
        entry.add("dtend", event.end)
        entry.add("summary", summary(event))
        entry.add("description", description(event, calendar_url))
        entry.add("url", calendar_url)
        entry.add("status", "CANCELLED" if event.phase in CALLED_OFF else "CONFIRMED")
        entry.add("class", "PRIVATE")
        cal.add_component(entry)
    return cal.to_ical()
