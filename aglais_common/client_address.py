"""The client's address as a service behind trusted proxies sees it: the key of every
per-address limit, the hub's (hub_extension/accounts/client.py) and the booking service's
(its calendar feed).

It is the address the trusted proxies wrote, never one the client wrote. Each proxy in
front of the hub (or a service) appends its peer's address to `X-Forwarded-For`, so with
`hops` trusted proxies the client is the `hops`-th entry from the right; everything to the
left of it came from the client and is ignored, and so is `X-Real-Ip` (configurable-http-proxy
passes it through untouched). JupyterHub and the booking service start tornado with
`xheaders=True`, which makes `request.remote_ip` whatever a client put in `X-Real-Ip`, so it
is never read here.
"""

from __future__ import annotations

import ipaddress
import socket

# configurable-http-proxy's `xfwd` (on unless --no-x-forward): it appends its peer's address,
# http-proxy-3 passes/web-incoming.js `XHeaders`: header = existing + "," + remoteAddress
HEADER = "X-Forwarded-For"


def peer_address(request) -> str | None:
    """The address of the socket the request came in on (the hub's direct peer), or None
    for a Unix socket.

    tornado overwrites `request.remote_ip` from the headers when xheaders is on, and keeps
    the socket's address only on the connection's context. Fenced here, the one use of it:
    https://github.com/tornadoweb/tornado/blob/v6.6.1/tornado/httpserver.py#L293-L316
    (`_HTTPRequestContext.__init__`: `address`, `address_family`).
    """
    context = getattr(request.connection, "context", None)
    address = getattr(context, "address", None)
    if getattr(context, "address_family", None) in (socket.AF_INET, socket.AF_INET6) and address:
        return address[0]
    return None


def forwarded_chain(request) -> list[str]:
    """Every X-Forwarded-For entry, oldest first, over all the header's lines."""
    return [part.strip() for line in request.headers.get_list(HEADER) for part in line.split(",") if part.strip()]


def pick(chain: list[str], peer: str | None, hops: int) -> str | None:
    """The client's address from the X-Forwarded-For entries and the socket's peer, with
    `hops` trusted proxies in front of the hub (each appended one entry).

    hops=0: the hub is reached directly, the peer is the client. Fewer entries than hops:
    the request came in behind fewer proxies than configured, all that is there was written
    by trusted ones, so the oldest entry is the client. An entry that is not an address
    (only a misconfigured proxy writes one) gives the peer.
    """
    if hops <= 0 or not chain:
        return peer
    candidate = chain[-hops] if len(chain) >= hops else chain[0]
    return candidate if canonical(candidate) is not None else peer


def canonical(text: str | None) -> str | None:
    """The address as a limit's key: IPv4 as is (also when written IPv4-mapped, as Node
    writes its peers on a dual-stack socket: ::ffff:10.0.0.1), IPv6 as its /64 network,
    which is what one subscriber gets and can pick addresses from at will. None if `text`
    is not an address."""
    try:
        address = ipaddress.ip_address((text or "").strip().strip("[]"))
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def client_address(request, hops: int) -> str:
    """The key of the per-address limits for `request` behind `hops` trusted proxies."""
    peer = peer_address(request)
    return canonical(pick(forwarded_chain(request), peer, hops)) or canonical(peer) or "unknown"
