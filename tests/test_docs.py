"""The configuration reference (docs/configuration.md) says what the traitlets' help says."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from booking_service.app import BookingService
from booking_service.policy import LevelPolicy

DOC = (Path(__file__).resolve().parent.parent / "docs" / "configuration.md").read_text()


def flat(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("<br>", " ")).strip()


@pytest.mark.parametrize("cls", [BookingService, LevelPolicy])
def test_every_option_is_documented_with_its_help(cls):
    doc = flat(DOC)
    for name, trait in cls.class_own_traits(config=True).items():
        assert f"{cls.__name__}.{name}" in DOC, f"{cls.__name__}.{name} is not in docs/configuration.md"
        first = flat(trait.help).split(". ")[0]
        assert first in doc, f"docs/configuration.md does not quote the help of {cls.__name__}.{name}: {first!r}"
