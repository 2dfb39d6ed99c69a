"""System accounts for hub users, when the hub runs as root: one unprivileged account per
hub user, made with useradd on first spawn and removed with userdel when the hub user is
deleted, as JupyterHub's LocalAuthenticator (create_system_users) and The Littlest
JupyterHub do. The naming rule and the marker that tells our accounts from the system's
own are pure functions here; the I/O is the three coroutines at the end."""

from __future__ import annotations

import asyncio
import hashlib
import os
import pwd
import re
import subprocess
import time

# useradd (shadow) refuses longer names; utmp and most tools stop at 32 as well.
NAME_MAX = 32
HASH_CHARS = 10
# What a hub name keeps as it is: what every useradd accepts. `_` is left out on purpose:
# it is the separator of the hashed form, so a kept name and a hashed one never meet.
KEPT = re.compile(r"[a-z0-9-]+")
PREFIX = re.compile(r"[a-z][a-z0-9_-]{0,19}")
MARKER = "aglais-hub account "


class AccountError(Exception):
    """An account cannot be made, used or removed; the message says why, for the spawn page."""


def check_prefix(prefix: str, owner: str = "") -> str:
    """`prefix` if it may start our accounts' names; else ValueError naming the option
    (`owner` is the class whose `system_user_prefix` it is)."""
    if not PREFIX.fullmatch(prefix):
        raise ValueError(f"{owner + '.' if owner else ''}system_user_prefix must be 1 to 20 of a-z, 0-9, '_' and '-', starting with a "
                         f"letter (it is what tells our accounts from the system's own), not {prefix!r}")
    return prefix


def system_name(prefix: str, username: str) -> str:
    """The system account of hub user `username`: `prefix + username` when the name is
    only a-z, 0-9 and '-' and fits in 32 characters; otherwise `prefix`, what fits of the
    name's a-z0-9- characters, '_' and ten hex digits of the name's SHA-256. The name after
    the prefix either has no '_' (kept) or ends in '_' and the hash (hashed), so two hub
    names share an account only if their hashes' first 40 bits are equal."""
    check_prefix(prefix)
    if KEPT.fullmatch(username) and len(prefix) + len(username) <= NAME_MAX:
        return prefix + username
    digest = hashlib.sha256(username.encode("utf-8", "surrogatepass")).hexdigest()[:HASH_CHARS]
    room = NAME_MAX - len(prefix) - 1 - HASH_CHARS
    readable = "".join(KEPT.findall(username))[:room]
    return f"{prefix}{readable}_{digest}"


def marker(username: str) -> str:
    """The account's comment (GECOS) field: says it is ours and whose. The hub name itself
    cannot go there (useradd refuses ':' and newlines), so a hash of it does."""
    return MARKER + hashlib.sha256(username.encode("utf-8", "surrogatepass")).hexdigest()[:24]


def lookup(name: str) -> pwd.struct_passwd | None:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        return None


def is_ours(entry: pwd.struct_passwd, prefix: str, username: str) -> bool:
    """Made by us for this hub user: the prefix and the marker. Any other account of the
    same name (a pre-existing system user) is never used nor removed."""
    return entry.pw_name.startswith(prefix) and entry.pw_gecos == marker(username) and entry.pw_uid != 0


async def _run(*cmd: str) -> tuple[int, str]:
    """Run a shadow tool; retry while another one holds the lock on /etc/passwd (exit 10)."""
    for attempt in range(20):
        process = await asyncio.create_subprocess_exec(
            *cmd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        out, _ = await process.communicate()
        if process.returncode != 10:
            return process.returncode, out.decode(errors="replace").strip()
        await asyncio.sleep(0.05 * (attempt + 1))
    return process.returncode, out.decode(errors="replace").strip()


async def ensure(prefix: str, username: str, homes: str, shell: str = "/bin/bash") -> pwd.struct_passwd:
    """The hub user's account, made now if missing: home `<homes>/<name>`, mode 0700, owned
    by it; a group of its own; no password (nobody logs in as it, the hub starts its server)."""
    name = system_name(prefix, username)
    entry = lookup(name)
    if entry is None:
        if not os.path.isdir(homes):
            os.makedirs(homes, mode=0o755)
        code, out = await _run("useradd", "--create-home", "--base-dir", homes, "--user-group",
                               "--shell", shell, "--comment", marker(username), name)
        entry = lookup(name)
        if entry is None:
            raise AccountError(f"useradd could not make the account {name} (exit {code}): {out}")
    if not is_ours(entry, prefix, username):
        raise AccountError(f"The system account {name} exists and was not made by this hub for this user: "
                           f"refusing to run a server as it.")
    home = entry.pw_dir
    os.makedirs(home, mode=0o700, exist_ok=True)
    if os.path.islink(home):
        raise AccountError(f"The home {home} of {name} is a symlink: refusing to use it.")
    os.chown(home, entry.pw_uid, entry.pw_gid)
    os.chmod(home, 0o700)  # useradd's mode follows login.defs (HOME_MODE, UMASK): not ours to trust
    return entry


def running_as(uid: int) -> list[int]:
    """The live processes of `uid`, as /proc shows them now. Zombies are left out: they run
    nothing, and where PID 1 reaps no orphans (some containers) they stay until it does."""
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                if os.stat(f"/proc/{pid}").st_uid == uid:
                    with open(f"/proc/{pid}/stat") as f:
                        state = f.read().rpartition(")")[2].split()[0]
                    if state not in ("Z", "X"):
                        found.append(int(pid))
            except (FileNotFoundError, ProcessLookupError, IndexError):
                pass
    return found


def kill_processes(uid: int, gid: int) -> None:
    """SIGKILL whatever still runs as `uid` (a kernel's child left behind, say): userdel
    refuses an account in use, and a later account given the same uid must not inherit it.

    The kill is sent *as* that uid, to pid -1: kill(2) then reaches every process the uid
    may signal, all of the account's, in one pass over the kernel's process list that a
    fork cannot slip past (fork waits for that pass). A scan of /proc with one kill per pid
    can be outrun by a chain that forks and exits every millisecond: it was, in a test."""
    for attempt in range(10):
        # always once: a scan of /proc can miss the chain it is meant to find
        if attempt and not running_as(uid):
            return
        subprocess.run(["/bin/kill", "-KILL", "-1"], user=uid, group=gid, extra_groups=[],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        time.sleep(0.05)  # the killed are reaped by their parents, or by init


async def remove(prefix: str, username: str) -> str | None:
    """Remove the hub user's account and its home, if it is ours; the name removed, or None."""
    name = system_name(prefix, username)
    entry = lookup(name)
    if entry is None or not is_ours(entry, prefix, username):
        return None
    for _ in range(10):
        await asyncio.to_thread(kill_processes, entry.pw_uid, entry.pw_gid)
        code, out = await _run("userdel", "--remove", name)
        if lookup(name) is None:
            break
        await asyncio.sleep(0.2)  # processes still exiting: userdel answers 8
    else:
        raise AccountError(f"userdel could not remove {name} (exit {code}): {out}")
    # files it left outside its home would belong to the next account given its uid
    shared = [d for d in ("/tmp", "/var/tmp", "/dev/shm", "/run/lock") if os.path.isdir(d)]
    await _run("find", *shared, "-xdev", "-uid", str(entry.pw_uid), "-delete")
    return name
