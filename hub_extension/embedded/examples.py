"""The read-only examples of the embedded default: the hub publishes a copy of a directory
(the repository's own examples/) or of a git repository into a directory that every
server's account can read and none can write, and the local spawner links each home's
~/examples to it (`BookingLocalProcessSpawner.examples_dir`, docs/layout.md).

A git repository is pulled with nbgitpuller (the ecosystem's tool, here in the hub's own
venv) into a clone only the hub can read, and published from there: the servers never
see the clone, so nothing they do can change what the next pull merges. What is
published holds directories and regular files only: links (which could point anywhere
on this machine) and hidden names (.git) are left out.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import stat
from pathlib import Path

from . import server_env

log = logging.getLogger("aglais.examples")
REPO_EXAMPLES = server_env.REPO / "examples"


def default_target(data_dir: str) -> Path:
    """Where to publish: as root, under /opt/aglais-hub/examples/ (every account can enter
    it; the data directory is the hub's alone), one per checkout; otherwise in the data
    directory, which the servers (the hub's own user) read anyway."""
    if os.geteuid() != 0:
        return Path(data_dir) / "examples"
    key = hashlib.sha256(str(server_env.REPO).encode()).hexdigest()[:8]
    return server_env.ROOT / "examples" / f"{server_env.REPO.name}-{key}"


def pull(url: str, ref: str, clone: Path) -> Path:
    """`url` at `ref` (empty: its default branch) in `clone`, made or updated with
    nbgitpuller's GitPuller (depth 1); its output goes to the log. CalledProcessError
    (or nbgitpuller's own errors) when git fails."""
    from nbgitpuller.pull import GitPuller

    clone.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    for line in GitPuller(url, str(clone), branch=ref or None, depth=1).pull():
        log.debug("nbgitpuller: %s", line.rstrip())
    return clone


def publish(source: Path, target: Path) -> int:
    """Copy `source` (directories and regular files, no links, no hidden names) to
    `target`, readable by everyone and writable by no one (0555 and 0444: not even the
    owner without a chmod), replacing a previous copy in one rename. The files copied."""
    old = os.umask(0o022)
    try:
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
        new = target.with_name(target.name + ".new")
        _remove(new)
        count = _copy(source, new)
        _seal(new)
        previous = target.with_name(target.name + ".old")
        _remove(previous)
        if target.exists():
            target.rename(previous)
        new.rename(target)
        _remove(previous)
        return count
    finally:
        os.umask(old)


def _copy(source: Path, target: Path) -> int:
    target.mkdir(mode=0o755)
    count = 0
    with os.scandir(source) as listing:
        for item in listing:
            if item.name.startswith("."):
                continue
            st = item.stat(follow_symlinks=False)
            if stat.S_ISDIR(st.st_mode):
                count += _copy(Path(item.path), target / item.name)
            elif stat.S_ISREG(st.st_mode):
                shutil.copyfile(item.path, target / item.name, follow_symlinks=False)
                count += 1
    return count


def _seal(top: Path) -> None:
    for folder, dirs, files in os.walk(top, topdown=False):
        for name in files:
            os.chmod(os.path.join(folder, name), 0o444)
        os.chmod(folder, 0o555)


def _remove(path: Path) -> None:
    """A published copy, sealed as it is (a hub that is not root needs to unseal it)."""
    if path.is_symlink() or not path.exists():
        if path.is_symlink():
            path.unlink()
        return
    for folder, dirs, files in os.walk(path):
        os.chmod(folder, 0o755)
    shutil.rmtree(path)


def examples_dir(data_dir: str, *, own: str = "", git_url: str = "", git_ref: str = "",
                 target: Path | None = None) -> str:
    """The directory for `examples_dir`: `own` (an admin's directory, used as it is), or
    a copy published in `target` (default_target) of `git_url` (pulled into
    <data_dir>/examples-git), or of the repository's examples/. A pull that fails keeps
    the last published copy (or, the first time, publishes the repository's examples/)
    and says so in the log."""
    if own:
        return own
    target = target or default_target(data_dir)
    source = REPO_EXAMPLES
    if git_url:
        try:
            source = pull(git_url, git_ref, Path(data_dir) / "examples-git")
        except Exception as e:  # git's or nbgitpuller's: the hub starts without a fresh pull
            keeping = "the last published copy" if target.exists() else f"{REPO_EXAMPLES} instead"
            log.warning("Could not pull the examples from %s (%s): keeping %s", git_url, e, keeping)
            if target.exists():
                return str(target)
    count = publish(source, target)
    log.info("Published %d example file(s) from %s to %s", count, git_url or source, target)
    return str(target)
