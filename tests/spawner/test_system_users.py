"""The system accounts' naming rule and the spawner's modes, without a hub."""

from __future__ import annotations

import itertools
import os
import re

import pytest
from traitlets import TraitError

from spawner import system_users
from spawner.local import BookingLocalProcessSpawner
from spawner.system_users import NAME_MAX, system_name

# what shadow's useradd accepts (is_valid_user_name), within the 32 characters we allow
VALID = re.compile(r"[a-z_][a-z0-9_-]*")


@pytest.mark.parametrize("username, expected", [
    ("ada", "jupyter-ada"),
    ("try-abcd1234", "jupyter-try-abcd1234"),
    ("x" * 24, "jupyter-" + "x" * 24),  # exactly 32
    ("123", "jupyter-123"),  # all digits would be refused alone; the prefix starts with a letter
    ("-", "jupyter--"),
], ids=["short", "trial", "32-chars", "digits", "dash"])
def test_a_name_useradd_accepts_and_that_fits_is_kept(username, expected):
    assert system_name("jupyter-", username) == expected


@pytest.mark.parametrize("username", [
    "x" * 25, "ada@example.org", "ada.lovelace", "ada_lovelace", "ädä", "testuser<'&\">", "../../etc", "",
    "Ada", "a b", "a:b\n", "\udcff", "x" * 300,
], ids=["33-chars", "email", "dot", "underscore", "non-ascii", "hostile", "path", "empty", "upper",
        "space", "colon-newline", "surrogate", "very-long"])
def test_other_names_are_hashed_into_a_valid_unique_name(username):
    name = system_name("jupyter-", username)
    assert len(name) <= NAME_MAX and VALID.fullmatch(name), name
    assert name.startswith("jupyter-") and re.search(r"_[0-9a-f]{10}$", name)


def test_kept_and_hashed_names_never_meet():
    """The kept form has no '_' after the prefix; the hashed one ends in '_' and the hash,
    so a hub user cannot pick a name whose account is another user's hashed one."""
    hashed = system_name("jupyter-", "ada@example.org")
    squatter = hashed[len("jupyter-"):]
    assert system_name("jupyter-", squatter) != hashed
    names = ["ada", "ada@example.org", "adaexampleorg", "ada.example.org", "Ada@example.org", "x" * 40, "x" * 41]
    accounts = [system_name("jupyter-", n) for n in names]
    assert len(set(accounts)) == len(names)


def test_prefixes_are_checked():
    for bad in ("", "Jupyter-", "-x", "1x", "a" * 21, "a:b", "a/"):
        with pytest.raises(ValueError, match="system_user_prefix"):
            system_name(bad, "ada")
    for good, username in itertools.product(("j", "jupyter-", "a" * 20, "x_"), ("ada", "y" * 200)):
        assert len(system_name(good, username)) <= NAME_MAX


def test_the_marker_says_whose_account_it_is():
    assert system_users.marker("ada") != system_users.marker("bob")
    assert ":" not in system_users.marker("a:b") and "\n" not in system_users.marker("a\nb")


API = "http://127.0.0.1:1/services/booking/api/v1"  # never called here


def test_shared_os_user_is_refused_as_root_and_the_modes_exclude_each_other():
    assert os.geteuid() == 0, "the tests run as root, as the embedded default and CI do"
    with pytest.raises((TraitError, ValueError), match="create_system_users"):
        BookingLocalProcessSpawner(shared_os_user=True, booking_api_url=API)
    with pytest.raises((TraitError, ValueError), match="system_user_prefix"):
        BookingLocalProcessSpawner(system_user_prefix="Root", booking_api_url=API)
    spawner = BookingLocalProcessSpawner(create_system_users=True, booking_api_url=API)
    with pytest.raises((TraitError, ValueError), match="exclude each other"):
        spawner._check_mode(shared_os_user=True)


# A chain that forks and exits every millisecond: its pid changes faster than a scan of
# /proc can kill it. It writes its uid to `mark` while it lives.
FORK_CHAIN = r"""
import os, sys, time
mark = sys.argv[1]
if os.fork(): os._exit(0)
os.setsid()
end = time.time() + 60
while time.time() < end:
    if os.fork(): os._exit(0)
    try:
        with open(mark, "w") as f: f.write(str(time.time()))
    except OSError:
        pass
"""


async def test_a_removed_account_leaves_no_process_behind_for_the_next_owner_of_its_uid(tmp_path):
    """Deleting a hub user kills everything its account runs, even a fork chain, so the
    next account given the same uid inherits no process (found by trying it as an attacker)."""
    import subprocess
    import time

    prefix = f"k{os.urandom(3).hex()}-"
    homes = tmp_path / "homes"
    tmp_path.chmod(0o755)
    entry = await system_users.ensure(prefix, "chain", str(homes))
    mark = f"/tmp/{prefix}mark"
    try:
        subprocess.run(["/usr/bin/python3", "-c", FORK_CHAIN, mark], user=entry.pw_uid, group=entry.pw_gid,
                       extra_groups=[], check=True, cwd="/")
        deadline = time.monotonic() + 10
        while not os.path.exists(mark) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert os.path.exists(mark), "the chain did not start"
        assert await system_users.remove(prefix, "chain") == entry.pw_name
        if os.path.exists(mark):  # find may have run while the last write was in flight
            os.unlink(mark)
        time.sleep(0.5)  # a survivor would have written it again by now
        assert not os.path.exists(mark), "a process of the removed account is still running"
        assert system_users.running_as(entry.pw_uid) == []
    finally:
        system_users.kill_processes(entry.pw_uid, entry.pw_gid)
        subprocess.run(["userdel", "--remove", entry.pw_name], capture_output=True)
        if os.path.exists(mark):
            os.unlink(mark)
