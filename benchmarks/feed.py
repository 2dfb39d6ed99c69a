"""H. The calendar feed: `calendar_feed.render` (the icalendar package) for 50, 500 and 2000
events, against a minimal hand-written RFC 5545 serializer of the same document.

The hand-written one lives HERE ONLY, as a yardstick of what the library costs; the
product keeps icalendar (parsing, escaping and folding done by a maintained library).
Before timing, both documents are parsed back with icalendar and must hold the same
events, property for property.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from icalendar import Calendar

from booking_service.calendar_feed import PRODID, FeedEvent, description, render, summary, uid

from .common import UTC, LatencyRow

SIZES = (50, 500, 2000)
DOMAIN = "hub.example.org"
CALENDAR_URL = "https://hub.example.org/services/booking/calendar/"
REFRESH = timedelta(minutes=15)


def events(n: int) -> list[FeedEvent]:
    base = datetime(2027, 1, 4, 9, tzinfo=UTC)
    made = []
    for i in range(n):
        start = base + timedelta(hours=7 * i)
        phase = ("ACCEPTED", "COMPLETED", "CANCELLED", "RUNNING")[i % 4]
        made.append(FeedEvent(
            id=i + 1, pool="reserved-eu", package=None if i % 5 == 0 else "spark-large, with; commas",
            package_version=3, millicores=4000 + 250 * (i % 8), mib=16384, start=start,
            end=start + timedelta(hours=2 + i % 5), phase=phase, created=start - timedelta(days=3),
            modified=start - timedelta(days=1, minutes=i % 60), sequence=i % 3,
            cancel_reason="not started within 30 minutes" if phase == "CANCELLED" else None))
    return made


# --- the yardstick: RFC 5545 by hand ------------------------------------------------------

def _text(value: str) -> str:
    return value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def _time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _fold(line: str) -> str:
    """Lines of at most 75 octets, continued with CRLF and a space (RFC 5545 3.1)."""
    raw = line.encode()
    if len(raw) <= 75:
        return line
    parts, chunk = [], 75
    while raw:
        cut = min(chunk, len(raw))
        while cut < len(raw) and (raw[cut] & 0xC0) == 0x80:  # not inside a UTF-8 character
            cut -= 1
        parts.append(raw[:cut].decode())
        raw, chunk = raw[cut:], 74
    return "\r\n ".join(parts)


def by_hand(user: str, items: list[FeedEvent]) -> bytes:
    minutes = int(REFRESH.total_seconds() // 60)
    lines = ["BEGIN:VCALENDAR", f"PRODID:{PRODID}", "VERSION:2.0", "CALSCALE:GREGORIAN",
             f"NAME:{_text(f'Bookings of {user}')}", f"X-WR-CALNAME:{_text(f'Bookings of {user}')}",
             f"REFRESH-INTERVAL;VALUE=DURATION:PT{minutes}M", f"X-PUBLISHED-TTL:PT{minutes}M"]
    for e in items:
        lines += ["BEGIN:VEVENT", f"UID:{uid(e.id, DOMAIN)}", f"DTSTAMP:{_time(e.modified)}",
                  f"CREATED:{_time(e.created)}", f"LAST-MODIFIED:{_time(e.modified)}", f"SEQUENCE:{e.sequence}",
                  f"DTSTART:{_time(e.start)}", f"DTEND:{_time(e.end)}", f"SUMMARY:{_text(summary(e))}",
                  f"DESCRIPTION:{_text(description(e, CALENDAR_URL))}", f"URL:{CALENDAR_URL}",
                  "STATUS:" + ("CANCELLED" if e.phase in ("CANCELLED", "FAILED") else "CONFIRMED"),
                  "CLASS:PRIVATE", "END:VEVENT"]
    lines.append("END:VCALENDAR")
    return ("\r\n".join(_fold(line) for line in lines) + "\r\n").encode()


# --- the comparison -----------------------------------------------------------------------

PROPERTIES = ("UID", "DTSTAMP", "CREATED", "LAST-MODIFIED", "SEQUENCE", "DTSTART", "DTEND", "SUMMARY",
              "DESCRIPTION", "URL", "STATUS", "CLASS")


def parsed(document: bytes) -> list[tuple]:
    """The events as icalendar reads them back, each property decoded."""
    cal = Calendar.from_ical(document)
    found = []
    for event in cal.walk("VEVENT"):
        found.append(tuple(str(event.decoded(name)) if name in event else None for name in PROPERTIES))
    return [("calendar", str(cal.get("X-WR-CALNAME")), str(cal.get("NAME")))] + found


def run(reps: int, log) -> tuple[list[LatencyRow], list[str]]:
    rows, failures = [], []
    for n in SIZES:
        items = events(n)
        library = lambda: render("alice", items, domain=DOMAIN, calendar_url=CALENDAR_URL,  # noqa: E731
                                 refresh=REFRESH)
        hand = lambda: by_hand("alice", items)  # noqa: E731
        lib_doc, hand_doc = library(), hand()
        lib_events, hand_events = parsed(lib_doc), parsed(hand_doc)
        if lib_events != hand_events or len(lib_events) != n + 1:
            failures.append(f"feed with {n} events: the hand-written document reads back differently from "
                            f"icalendar's ({len(hand_events) - 1} against {len(lib_events) - 1} events)")
        if any(len(line) > 75 for line in lib_doc.split(b"\r\n")):
            failures.append(f"feed with {n} events: icalendar's document has a line over 75 octets")
        samples = {"icalendar (calendar_feed.render)": [], "by hand (yardstick)": [],
                   "parse back (icalendar)": []}
        for _ in range(reps):  # interleaved
            for name, call in (("icalendar (calendar_feed.render)", library), ("by hand (yardstick)", hand),
                               ("parse back (icalendar)", lambda: Calendar.from_ical(lib_doc))):
                t0 = time.perf_counter()
                call()
                samples[name].append((time.perf_counter() - t0) * 1000)
        lib_row = LatencyRow("icalendar (calendar_feed.render)", 0, f"{n} events", samples.pop(
            "icalendar (calendar_feed.render)"))
        lib_row.seed_median = lib_row.median
        rows.append(lib_row)
        rows += [LatencyRow(name, 0, f"{n} events", s, lib_row.median) for name, s in samples.items()]
        log(f"feed, {n} events: icalendar {lib_row.median:.1f} ms, by hand {rows[-2].median:.2f} ms, "
            f"{len(lib_doc) // 1024} KiB")
    return rows, failures
