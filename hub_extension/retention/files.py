"""Reading and deleting in a user's home for the retention job, safely: walking down from
the home by directory descriptors, never following a symlink, never deleting what changed
since it was read."""

from __future__ import annotations

import os
import stat
from datetime import datetime, timezone

from .rules import Deletion, Entry

MAX_DEPTH = 64  # deeper directories are kept unread (and so never deleted)
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW


def scan_home(home: str) -> list[Entry]:
    """Everything in `home`, without following symlinks (a link is listed, not entered).
    A directory that cannot be read, or lies too deep, is listed as marked: what is in
    it is unknown, so it is kept."""
    entries: list[Entry] = []
    fd = os.open(home, _DIR)
    try:
        _scan(fd, "", entries, 0)
    finally:
        os.close(fd)
    return entries


def _scan(fd: int, prefix: str, entries: list, depth: int) -> None:
    with os.scandir(fd) as listing:
        items = list(listing)
    for item in items:
        try:
            st = item.stat(follow_symlinks=False)
        except FileNotFoundError:
            continue
        is_dir = stat.S_ISDIR(st.st_mode)
        path = prefix + item.name
        mtime = datetime.fromtimestamp(st.st_mtime, timezone.utc)
        if not is_dir:
            entries.append(Entry(path, st.st_size, mtime))
            continue
        try:
            if depth >= MAX_DEPTH:
                raise OSError("too deep")
            sub = os.open(item.name, _DIR, dir_fd=fd)
        except OSError:
            entries.append(Entry(path, 0, mtime, is_dir=True, marked=True))
            continue
        inside: list[Entry] = []
        try:
            _scan(sub, path + "/", inside, depth + 1)
            entries.append(Entry(path, 0, mtime, is_dir=True))
        except OSError:  # vanished or unreadable half-way: keep it
            entries.append(Entry(path, 0, mtime, is_dir=True, marked=True))
        finally:
            os.close(sub)
        entries += inside


def remove(home: str, deletion: Deletion) -> str | None:
    """Delete one planned path, walking down from `home` without following symlinks.
    A file changed since the scan is left alone. None when deleted, else why not."""
    *parents, name = deletion.path.split("/")
    fds = [os.open(home, _DIR)]
    try:
        for part in parents:
            fds.append(os.open(part, _DIR, dir_fd=fds[-1]))
        st = os.stat(name, dir_fd=fds[-1], follow_symlinks=False)
        if stat.S_ISDIR(st.st_mode) != deletion.is_dir:
            return "changed since the scan"
        if deletion.is_dir:
            os.rmdir(name, dir_fd=fds[-1])  # fails if something new is in it
        elif datetime.fromtimestamp(st.st_mtime, timezone.utc) != deletion.mtime:
            return "changed since the scan"
        else:
            os.unlink(name, dir_fd=fds[-1])
        return None
    except OSError as e:
        return e.strerror or str(e)
    finally:
        for fd in fds:
            os.close(fd)
