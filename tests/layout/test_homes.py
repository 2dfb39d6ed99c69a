"""The layout in a local home (spawner/homes.py), made as root for another account: the
own areas are the account's, the links point at the shared directories, and nothing is
made, changed or chowned through a link the user planted."""

from __future__ import annotations

import os
import pwd
import stat

import pytest

from aglais_common import layout
from spawner import homes

NOBODY = pwd.getpwnam("nobody")


@pytest.fixture
def home(tmp_path):
    path = tmp_path / "home"
    path.mkdir(mode=0o700)
    if os.geteuid() == 0:
        os.chown(path, NOBODY.pw_uid, NOBODY.pw_gid)
    return path


def owner():
    return NOBODY if os.geteuid() == 0 else None


def test_a_new_home_gets_its_areas_and_links(home, tmp_path):
    shared = tmp_path / "examples"
    shared.mkdir()
    assert homes.make(str(home), owner(), {layout.EXAMPLES: str(shared), layout.DATA: None}) == []
    for name in layout.OWN:
        st = (home / name).lstat()
        assert stat.S_ISDIR(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o700
        if owner():
            assert (st.st_uid, st.st_gid) == (NOBODY.pw_uid, NOBODY.pw_gid)
    assert os.readlink(home / "examples") == str(shared)
    assert not (home / "data").exists() and not (home / "data").is_symlink()  # none configured
    if owner():
        assert (home / "examples").lstat().st_uid == NOBODY.pw_uid
    # a second start changes nothing, and keeps what the user put there
    (home / "notebooks" / "mine.ipynb").write_text("{}")
    assert homes.make(str(home), owner(), {layout.EXAMPLES: str(shared)}) == []
    assert (home / "notebooks" / "mine.ipynb").read_text() == "{}"


def test_links_the_user_planted_are_never_followed(home, tmp_path):
    victim = tmp_path / "victim"  # a directory of someone else's, root's say
    victim.mkdir(mode=0o755)
    (home / "notebooks").symlink_to(victim)
    (home / "saved").write_text("a file, not a folder")
    problems = homes.make(str(home), owner(), {})
    assert len(problems) == 2 and all("left as it is" in p for p in problems)
    assert os.readlink(home / "notebooks") == str(victim) and list(victim.iterdir()) == []
    assert victim.stat().st_uid == os.geteuid()  # not chowned through the link
    assert (home / "saved").read_text() == "a file, not a folder"
    assert (home / "tmp").is_dir()


def test_a_link_elsewhere_is_replaced_and_the_users_own_folder_is_kept(home, tmp_path):
    old, new = tmp_path / "old-examples", tmp_path / "new-examples"
    old.mkdir(), new.mkdir()
    (home / "examples").symlink_to(old)
    (home / "data").mkdir()
    (home / "data" / "mine.csv").write_text("1,2\n")
    problems = homes.make(str(home), owner(), {layout.EXAMPLES: str(new), layout.DATA: str(new)})
    assert os.readlink(home / "examples") == str(new)
    assert problems == [f"~/data is the user's own, not a link to {new}: left as it is"]
    assert (home / "data" / "mine.csv").read_text() == "1,2\n"


def test_a_home_that_is_a_link_is_refused(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "home").symlink_to(tmp_path / "real")
    with pytest.raises(OSError):
        homes.make(str(tmp_path / "home"), owner(), {})
    assert list((tmp_path / "real").iterdir()) == []
