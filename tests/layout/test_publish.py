"""The embedded default's examples (hub_extension/embedded/examples.py): a directory or a
git repository (real git, pulled by nbgitpuller) published where every account can read
and none can write, without links or hidden files."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

import pytest

from hub_extension.embedded import examples, server_env


@pytest.fixture
def shared():
    """A directory other accounts can enter (pytest's own tmp is 0700)."""
    path = Path(tempfile.mkdtemp(prefix="aglais-examples-", dir="/tmp"))
    os.chmod(path, 0o755)
    yield path
    examples._remove(path / "published")
    shutil.rmtree(path, ignore_errors=True)


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.org", *args],
                   check=True, capture_output=True)


def modes(top: Path) -> set[tuple[str, int]]:
    return {(str(p.relative_to(top)), stat.S_IMODE(p.lstat().st_mode)) for p in [top, *top.rglob("*")]}


def test_the_repositorys_examples_are_published_read_only(shared):
    target = shared / "published"
    count = examples.publish(examples.REPO_EXAMPLES, target)
    names = sorted(p.name for p in examples.REPO_EXAMPLES.glob("*.ipynb"))
    assert count >= 4 and sorted(p.name for p in target.glob("*.ipynb")) == names
    assert {mode for _, mode in modes(target)} <= {0o555, 0o444}
    # an account with no rights of its own (as a server's is) reads them and writes nothing
    reads = server_env.as_nobody(["cat", str(target / names[0])])
    assert reads.returncode == 0 and '"cells"' in reads.stdout
    writes = server_env.as_nobody(["sh", "-c", f"echo x > '{target}/new.ipynb' || echo x >> '{target / names[0]}'"])
    assert writes.returncode != 0 and not (target / "new.ipynb").exists()


def test_a_git_repository_is_pulled_with_nbgitpuller_and_republished(shared, tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "first.ipynb").write_text('{"cells": []}')
    (repo / "sub").mkdir()
    (repo / "sub" / "second.ipynb").write_text('{"cells": []}')
    (repo / "escape").symlink_to("/etc/passwd")  # a repository may hold links: never published
    (repo / ".hidden").write_text("x")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "one")
    data_dir = tmp_path / "data"
    target = shared / "published"
    published = examples.examples_dir(str(data_dir), git_url=f"file://{repo}", git_ref="main", target=target)
    assert published == str(target)
    assert sorted(str(p.relative_to(target)) for p in target.rglob("*")) == ["first.ipynb", "sub", "sub/second.ipynb"]
    assert (data_dir / "examples-git" / ".git").is_dir()  # nbgitpuller's clone, the hub's alone

    (repo / "third.ipynb").write_text('{"cells": []}')
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "two")
    examples.examples_dir(str(data_dir), git_url=f"file://{repo}", git_ref="main", target=target)
    assert (Path(published) / "third.ipynb").exists()
    # a pull that fails keeps the last copy
    assert examples.examples_dir(str(data_dir), git_url=f"file://{tmp_path}/gone", git_ref="main",
                                 target=target) == published
    assert (Path(published) / "third.ipynb").exists()
