"""docs/retention.md documents every option of the retention job."""

from __future__ import annotations

from pathlib import Path

from hub_extension.retention.job import SCOPES, RetentionJob

DOC = (Path(__file__).resolve().parents[2] / "docs" / "retention.md").read_text()


def test_every_option_and_scope_is_documented():
    for name in RetentionJob.class_own_traits(config=True):
        assert f"RetentionJob.{name}" in DOC, f"RetentionJob.{name} is not in docs/retention.md"
    for alias in list(RetentionJob.aliases) + list(RetentionJob.flags):
        assert f"--{alias}" in DOC, f"--{alias} is not in docs/retention.md"
    for scope in SCOPES:
        assert f"`{scope}`" in DOC
