"""The client's address, as the hub sees it: the key of every per-address limit."""

from __future__ import annotations


def client_address(handler) -> str:
    # JupyterHub runs tornado with xheaders, so behind the proxy this is the client's address.
    return (handler.request.remote_ip or "unknown")[:64]

