"""Reading and deleting in a home never follows a symlink out of it, and never deletes
what changed since the scan."""

from __future__ import annotations

import os
from dataclasses import replace

from hub_extension.retention.job import show
from hub_extension.retention.files import remove, scan_home
from hub_extension.retention.rules import Deletion


def test_scan_lists_links_without_entering_them(tmp_path):
    home, outside = tmp_path / "home", tmp_path / "outside"
    (home / "tmp").mkdir(parents=True), outside.mkdir()
    (outside / "secret").write_text("x")
    (home / "tmp" / "link").symlink_to(outside)
    (home / "notes").write_text("hello")
    entries = {e.path: e for e in scan_home(str(home))}
    assert set(entries) == {"tmp", "tmp/link", "notes"}
    assert entries["tmp"].is_dir and not entries["tmp/link"].is_dir and entries["notes"].size == 5


def test_an_unreadable_directory_is_kept(tmp_path):
    home = tmp_path / "home"
    (home / "locked").mkdir(parents=True)
    os.chmod(home / "locked", 0)
    try:
        entries = {e.path: e for e in scan_home(str(home))}
        if os.access(home / "locked", os.R_OK):  # root reads it anyway
            assert not entries["locked"].marked
        else:
            assert entries["locked"].marked
    finally:
        os.chmod(home / "locked", 0o700)


def test_remove_does_not_follow_a_directory_swapped_for_a_link(tmp_path):
    home, outside = tmp_path / "home", tmp_path / "outside"
    (home / "tmp" / "d").mkdir(parents=True), outside.mkdir()
    (home / "tmp" / "d" / "f").write_text("x")
    (outside / "f").write_text("precious")
    entry = {e.path: e for e in scan_home(str(home))}["tmp/d/f"]
    deletion = Deletion(entry.path, "temp", entry.size, False, entry.mtime)
    # between the scan and the deletion, the directory becomes a link out of the home
    (home / "tmp" / "d" / "f").unlink(), (home / "tmp" / "d").rmdir()
    (home / "tmp" / "d").symlink_to(outside)
    assert remove(str(home), deletion) is not None
    assert (outside / "f").read_text() == "precious"


def test_remove_leaves_a_file_changed_since_the_scan(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "f").write_text("x")
    entry = scan_home(str(home))[0]
    deletion = Deletion(entry.path, "saved", entry.size, False, entry.mtime)
    os.utime(home / "f", (0, entry.mtime.timestamp() + 5))
    assert remove(str(home), deletion) == "changed since the scan" and (home / "f").exists()
    os.utime(home / "f", (0, entry.mtime.timestamp()))
    assert remove(str(home), deletion) is None and not (home / "f").exists()
    # a directory goes only when empty
    (home / "d").mkdir(), (home / "d" / "new").write_text("x")
    d = scan_home(str(home))[0]
    assert remove(str(home), Deletion("d", "saved", 0, True, d.mtime)) is not None and (home / "d/new").exists()
    assert remove(str(home), replace(deletion, path="missing")) is not None


def test_names_are_shown_safely():
    assert show("a\nb\x1b[31m") == "a\\nb\\x1b[31m"
    assert show(os.fsdecode(b"caf\xe9")) == "caf\\xe9"
    assert show("x" * 300).endswith("...") and len(show("x" * 300)) == 203
