"""User-supplied text as it may appear in a log line or a mail."""

from __future__ import annotations


def for_log(text: str, limit: int = 32) -> str:
    """A user-supplied string as it may appear in a log line or a mail: undecodable bytes
    and control characters escaped (one printable line), cut after `limit` characters."""
    raw = str(text).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    shown = "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in raw)
    return shown if len(shown) <= limit else shown[:limit] + "..."
