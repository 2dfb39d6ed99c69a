"""What a user's home holds, measured against their level's quota (levels.py):
notebooks (how many, and the largest), saved data, and temp data (under tmp/, as the
retention rules count it)."""

from __future__ import annotations

from ..retention.rules import Entry

MB = 1024 * 1024


def usage(entries: list[Entry]) -> dict:
    """The quota keys' current values, from a listing of the home (retention_files.scan_home)."""
    files = [e for e in entries if not e.is_dir]
    temp = [e for e in files if e.path.startswith("tmp/")]
    notebooks = [e for e in files if e.path.endswith(".ipynb") and not e.path.startswith("tmp/")
                 and "/.ipynb_checkpoints/" not in f"/{e.path}"]
    return {
        "notebooks": len(notebooks),
        "notebook_mb": round(max((e.size for e in notebooks), default=0) / MB, 1),
        "saved_mb": round(sum(e.size for e in files if not e.path.startswith("tmp/")) / MB, 1),
        "temp_mb": round(sum(e.size for e in temp) / MB, 1),
    }


def home_of(user) -> str | None:
    """The user's home when the hub can see it: the local spawner's (spawner/local.py
    `user_home`: a shared-user home, or the system account's); None for other spawners."""
    home = getattr(user.spawner, "user_home", None)
    return home() if callable(home) else None
