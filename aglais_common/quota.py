"""What several groups' properties grant together (pure): the hub's account pages and
API show it, the Kubernetes spawner sizes a server's storage by it."""

from __future__ import annotations


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
