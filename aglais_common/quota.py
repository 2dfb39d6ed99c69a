"""What several groups' properties grant together (pure): the hub's account pages and
API show it, the Kubernetes spawner sizes a server's storage by it; and storage sizes as
Kubernetes writes them."""

from __future__ import annotations

import re
from decimal import Decimal


def effective(properties: list[dict]) -> dict:
    """The most generous quota and retention of several groups' properties.

    Larger numbers win; for saved_months None (permanent) beats any number. A key no
    group sets stays absent: nothing is granted or deleted on missing information.
    """
    result: dict = {}
    for props in properties:
        for section in ("quota", "retention"):
            for key, value in (props or {}).get(section, {}).items():
                have = result.setdefault(section, {})
                if key not in have:
                    have[key] = value
                elif key == "saved_months" and (value is None or have[key] is None):
                    have[key] = None
                elif isinstance(value, (int, float)) and isinstance(have[key], (int, float)):
                    have[key] = max(have[key], value)
    return result


_QUANTITY = re.compile(r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)((?:[eE][0-9]+)?)([KMGTPE]i?|k|m)?")
_FACTORS = {None: 1, "m": Decimal("0.001"), "k": 10**3, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12,
            "P": 10**15, "E": 10**18, **{f"{p}i": 1024**n for n, p in enumerate("KMGTPE", start=1)}}


def quantity_bytes(text: str) -> Decimal:
    """A Kubernetes quantity ("5Gi", "5120Mi", "5G", "512") in bytes; ValueError if it is
    none. Hand-written: kubernetes_asyncio has no parser (the blocking client's
    kubernetes.utils.parse_quantity is not installed with it). Decimal exponents ("1e9")
    as Kubernetes writes them; no negative ones."""
    match = _QUANTITY.fullmatch(str(text).strip())
    if not match:
        raise ValueError(f"not a storage quantity: {text!r}")
    return Decimal(match.group(1) + match.group(2)) * _FACTORS[match.group(3)]
