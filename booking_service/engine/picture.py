"""The text picture of a pool's calendar: per package and block, whether the package fits
for the whole block ("==="), at some moment only ("~~~") or never ("---")."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import tzinfo

from .calendar import block_label, format_time, from_epoch
from .timeline import Block

CELL_WIDTH = 3
FITS_THROUGHOUT = "==="
FITS_AT_TIMES = "~~~"
NEVER_FITS = "---"


def _iso(seconds: int) -> str:
    return format_time(from_epoch(seconds))


def _cell(block: Block, package: str) -> str:
    counts = block.packages.get(package)
    if counts is None:
        raise ValueError(
            f"the block starting {_iso(block.start)} has no count for package {package!r}"
        )
    fewest, most = counts
    if fewest >= 1:
        return FITS_THROUGHOUT
    return FITS_AT_TIMES if most >= 1 else NEVER_FITS


def render(
    pool_name: str, grain: str, blocks: Sequence[Block], package_names: Sequence[str],
    zone: tzinfo | None = None,
) -> str:
    """A header line, one row per package in the given order, and a row of block labels
    (in `zone`, default UTC)."""
    if not blocks:
        raise ValueError("there are no blocks to draw")
    width = max((len(name) for name in package_names), default=0)
    lines = [
        f"pool {pool_name}, {grain} blocks from {_iso(blocks[0].start)} to {_iso(blocks[-1].end)}"
        + (f" in {zone}" if zone is not None else "")
    ]
    for name in package_names:
        lines.append(f"{name.ljust(width)} " + " ".join(_cell(block, name) for block in blocks))
    labels = " ".join(
        block_label(from_epoch(block.start), grain, zone).ljust(CELL_WIDTH) for block in blocks
    )
    lines.append((" " * (width + 1) + labels).rstrip())
    return "\n".join(lines) + "\n"
