"""The file layout (aglais_common.layout) in a local home, made at every start by a hub
that may be root, in a home that is the user's: ~/notebooks, ~/saved and ~/tmp as
directories of the user's, ~/examples and ~/data as links to the shared, read-only
directories. As spawner/local.py's write_private does, every step is taken relative to
the home's descriptor with O_NOFOLLOW, so nothing is made, changed or chowned through a
link the user planted; a name the user already uses for something else is left alone."""

from __future__ import annotations

import errno
import os
import pwd

from aglais_common import layout

_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW


def make(home: str, owner: pwd.struct_passwd | None, links: dict[str, str | None]) -> list[str]:
    """Make the own areas and the links `links` (area -> shared directory; None: none
    configured, whatever is there is left) in `home`. What could not be made, as
    sentences for the log: a start does not fail for it."""
    problems = []
    fd = os.open(home, _DIR)
    try:
        for name in layout.OWN:
            try:
                os.mkdir(name, 0o700, dir_fd=fd)
                made = True
            except FileExistsError:
                made = False
            try:
                child = os.open(name, _DIR, dir_fd=fd)
            except OSError as e:  # a link or a file of the user's: theirs, not ours
                problems.append(f"~/{name} is not a directory ({os.strerror(e.errno)}): left as it is")
                continue
            try:
                if made and owner:
                    os.fchown(child, owner.pw_uid, owner.pw_gid)
            finally:
                os.close(child)
        for name, target in links.items():
            if target:
                problem = _link(fd, name, target, owner)
                if problem:
                    problems.append(problem)
    finally:
        os.close(fd)
    return problems


def _link(fd: int, name: str, target: str, owner: pwd.struct_passwd | None) -> str | None:
    """~/<name> -> target: made, or replaced when it is a link elsewhere (a previous
    setting's); never when it is anything else."""
    try:
        if os.readlink(name, dir_fd=fd) == target:
            return None
        os.unlink(name, dir_fd=fd)  # a link: unlinked itself, never followed
    except FileNotFoundError:
        pass
    except OSError as e:
        if e.errno == errno.EINVAL:  # not a link
            return f"~/{name} is the user's own, not a link to {target}: left as it is"
        raise
    try:
        os.symlink(target, name, dir_fd=fd)
    except FileExistsError:  # made meanwhile by the user's own processes
        return f"~/{name} appeared while it was being linked: left as it is"
    if owner:
        os.chown(name, owner.pw_uid, owner.pw_gid, dir_fd=fd, follow_symlinks=False)
    return None
