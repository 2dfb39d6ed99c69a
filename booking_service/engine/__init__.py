"""The pure availability engine: free-resource timelines, calendar grains and the text picture."""

from .calendar import (
    GRAINS,
    TooManyBlocks,
    block_boundaries,
    block_label,
    format_time,
    from_epoch,
    grain_floor,
    grain_next,
    to_epoch,
)
from .picture import render
from .timeline import ZERO, Block, Entry, Resources, Timeline

__all__ = [
    "GRAINS",
    "ZERO",
    "Block",
    "Entry",
    "Resources",
    "Timeline",
    "TooManyBlocks",
    "block_boundaries",
    "block_label",
    "format_time",
    "from_epoch",
    "grain_floor",
    "grain_next",
    "render",
    "to_epoch",
]
