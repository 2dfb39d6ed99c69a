"""The account page's measure of a home: notebooks, saved and temp data, in a real directory."""

from __future__ import annotations

from hub_extension.retention.files import scan_home
from hub_extension.accounts.usage import MB, usage


def test_usage_of_a_home(tmp_path):
    (tmp_path / "tmp").mkdir()
    (tmp_path / "tmp" / "scratch.bin").write_bytes(b"x" * (3 * MB))
    (tmp_path / "tmp" / "draft.ipynb").write_bytes(b"{}")  # temp, not a kept notebook
    (tmp_path / "work" / ".ipynb_checkpoints").mkdir(parents=True)
    (tmp_path / "work" / "a.ipynb").write_bytes(b"x" * (2 * MB))
    (tmp_path / "work" / ".ipynb_checkpoints" / "a-checkpoint.ipynb").write_bytes(b"x" * MB)
    (tmp_path / "b.ipynb").write_bytes(b"x" * (MB // 2))
    (tmp_path / "data.csv").write_bytes(b"x" * MB)
    (tmp_path / "outside").symlink_to("/usr")  # not followed
    used = usage(scan_home(str(tmp_path)))
    assert used == {"notebooks": 2, "notebook_mb": 2.0, "saved_mb": 4.5, "temp_mb": 3.0}
