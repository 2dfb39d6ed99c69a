"""JSON over HTTP for the plugins that wrap a web service (tornado's AsyncHTTPClient),
with timeouts: whatever goes wrong on the way is a PlatformError naming the platform."""

from __future__ import annotations

import json

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

from .model import PlatformError

# The most of an answer read (after gzip): an offer set or a host list is kilobytes, and a
# bigger one (a gzip bomb: 100 KiB on the wire, 100 MiB unpacked) is refused, not held.
MAX_ANSWER = 4 << 20


async def call_json(platform: str, method: str, url: str, *, headers: dict, body=None,
                    timeout: float) -> tuple[int, object]:
    """(status, parsed JSON body or None) of any answer, 2xx or not; PlatformError if none came
    or it cannot be read."""
    chunks: list[bytes] = []
    size = 0

    def keep(chunk: bytes) -> None:  # unpacked chunks; past MAX_ANSWER only counted (raising here
        nonlocal size  # would have tornado log a traceback)
        size += len(chunk)
        if size <= MAX_ANSWER:
            chunks.append(chunk)

    request = HTTPRequest(url, method=method, headers={"Accept": "application/json", **headers,
                                                       **({"Content-Type": "application/json"} if body is not None
                                                          else {})},
                          body=None if body is None else json.dumps(body), connect_timeout=timeout,
                          request_timeout=timeout, follow_redirects=False, allow_nonstandard_methods=True,
                          streaming_callback=keep)
    try:
        response = await AsyncHTTPClient().fetch(request, raise_error=False)
    except HTTPClientError as e:  # raise_error=False still raises for a timeout (599)
        raise PlatformError(f"Platform '{platform}' did not answer ({e.message}).") from None
    except OSError as e:
        raise PlatformError(f"Platform '{platform}' could not be reached ({e.strerror or type(e).__name__}).") from None
    if response.code == 599:
        raise PlatformError(f"Platform '{platform}' did not answer ({response.error}).")
    if size > MAX_ANSWER:
        raise PlatformError(f"Platform '{platform}' answered {response.code} with more than "
                            f"{MAX_ANSWER >> 20} MiB; not read.")
    body = b"".join(chunks)
    if not body:
        return response.code, None
    try:
        return response.code, json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: nested too deep
        raise PlatformError(f"Platform '{platform}' answered {response.code} with something that is not JSON.") \
            from None


def message_of(answer) -> str:
    """A person's reason from an error body ({"message"}, Blazar's {"error_message"})."""
    if isinstance(answer, dict):
        for key in ("message", "error_message", "description"):
            if isinstance(answer.get(key), str):
                return answer[key][:300]
    return "no reason given"
