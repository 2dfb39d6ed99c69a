"""CPU and memory caps for a process tree, where the machine lets root make control groups.

A Spark worker's cores are whole numbers to Spark; a package's are not (half a core). The
kernel's CPU controller enforces a fraction: a quota of `cores` x the period per period. The
memory controller caps the tree's memory. Both cgroup versions are handled: v1 (a hierarchy
per controller, /sys/fs/cgroup/<controller>/..., as on this project's machines) and v2 (one
unified hierarchy). Each group is made under the hub's own group, so a hub in a container
stays within what the container was given. Where neither can be made (no root, no
controller, a read-only /sys/fs/cgroup), `make` answers None and the caller falls back to
what a process can do alone (CPU affinity), as docs/spawner.md says.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")
PERIOD_US = 100_000
CONTROLLERS = ("cpu", "memory")


def _own_paths() -> dict[str, str]:
    """The hub's own group in each hierarchy: controller (or "" for v2) -> path."""
    found = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        for controller in controllers.split(",") if controllers else [""]:
            found[controller] = path
    return found


@dataclass(frozen=True)
class Group:
    """One group per controller (v1) or one group (v2): the directories to join and remove."""

    dirs: tuple[str, ...]

    def join(self) -> None:
        """Put the calling process in the group (in a child before exec, as root)."""
        for d in self.dirs:
            with open(os.path.join(d, "cgroup.procs"), "w") as f:
                f.write(str(os.getpid()))

    def pids(self) -> set[int]:
        found = set()
        for d in self.dirs:
            try:
                found |= {int(p) for p in Path(d, "cgroup.procs").read_text().split()}
            except FileNotFoundError:
                pass
        return found

    def kill_and_remove(self, timeout: float = 10) -> None:
        """SIGKILL every process in the group until it is empty, then remove it. A fork
        lands in the group too, so nothing started inside can slip out of it."""
        deadline = time.monotonic() + timeout
        while (pids := self.pids()) and time.monotonic() < deadline:
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.05)
        for d in self.dirs:
            try:
                os.rmdir(d)
            except FileNotFoundError:
                pass


def _write(path: Path, value: str) -> None:
    with open(path, "w") as f:
        f.write(value)


def make(name: str, cores: float, memory_bytes: int) -> Group | None:
    """A new group `name` capped at `cores` CPUs and `memory_bytes`; None where the machine
    offers no way to make one (then nothing was made)."""
    if os.geteuid() != 0:
        return None
    try:
        own = _own_paths()
    except OSError:
        return None
    quota = str(max(1000, round(cores * PERIOD_US)))
    made: list[Path] = []
    try:
        if all((ROOT / c / "cgroup.procs").exists() and c in own for c in CONTROLLERS):  # v1
            cpu = ROOT / "cpu" / own["cpu"].lstrip("/") / name
            memory = ROOT / "memory" / own["memory"].lstrip("/") / name
            for d in (cpu, memory):
                d.mkdir()
                made.append(d)
            _write(cpu / "cpu.cfs_period_us", str(PERIOD_US))
            _write(cpu / "cpu.cfs_quota_us", quota)
            _write(memory / "memory.limit_in_bytes", str(memory_bytes))
        elif "" in own and (ROOT / "cgroup.controllers").exists():  # v2
            parent = ROOT / own[""].lstrip("/")
            enabled = set((parent / "cgroup.subtree_control").read_text().split())
            if not set(CONTROLLERS) <= enabled:
                # refused (EBUSY) where the parent holds processes itself: then no group
                _write(parent / "cgroup.subtree_control", " ".join(f"+{c}" for c in CONTROLLERS))
            group = parent / name
            group.mkdir()
            made.append(group)
            _write(group / "cpu.max", f"{quota} {PERIOD_US}")
            _write(group / "memory.max", str(memory_bytes))
            if (group / "memory.swap.max").exists():
                _write(group / "memory.swap.max", "0")
        else:
            return None
    except OSError:
        for d in reversed(made):
            try:
                d.rmdir()
            except OSError:
                pass
        return None
    return Group(tuple(str(d) for d in made))
