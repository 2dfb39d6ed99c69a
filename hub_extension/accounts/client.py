"""The client's address, as the hub sees it: the key of every per-address limit. The
parsing is aglais_common.client_address (the booking service keys its limits the same way);
here the number of trusted proxies comes from the authenticator."""

from __future__ import annotations

from aglais_common import client_address as _address
from aglais_common.client_address import HEADER, canonical, forwarded_chain, peer_address, pick  # noqa: F401


def client_address(handler, hops: int | None = None) -> str:
    """The key of the per-address limits for this request: see aglais_common.client_address.
    `hops` defaults to the authenticator's `trusted_proxy_hops` (1: configurable-http-proxy)."""
    if hops is None:
        hops = getattr(getattr(handler, "authenticator", None), "trusted_proxy_hops", 1)
    return _address.client_address(handler.request, hops)
