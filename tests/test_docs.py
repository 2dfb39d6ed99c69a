"""The configuration reference (docs/configuration.md) says what the traitlets' help says; the
README's table shows every screenshot."""

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


SPAWNER_DOC = (Path(__file__).resolve().parent.parent / "docs" / "spawner.md").read_text()


def spawner_classes():
    from spawner.kube import BookingKubeSpawner
    from spawner.local import BookingLocalProcessSpawner
    from spawner.mixin import BookingSpawnerMixin

    return [BookingSpawnerMixin, BookingLocalProcessSpawner, BookingKubeSpawner]


@pytest.mark.parametrize("index", range(3))
def test_every_spawner_option_is_documented(index):
    cls = spawner_classes()[index]
    doc = flat(SPAWNER_DOC)
    for name, trait in cls.class_own_traits(config=True).items():
        assert name in SPAWNER_DOC, f"{cls.__name__}.{name} is not in docs/spawner.md"
        first = flat(trait.help).split(". ")[0]
        assert first in doc, f"docs/spawner.md does not quote the help of {cls.__name__}.{name}: {first!r}"


ACCOUNTS_DOC = (Path(__file__).resolve().parent.parent / "docs" / "accounts.md").read_text()


def accounts_classes():
    from hub_extension.accounts.authenticator import AglaisAuthenticator
    from hub_extension.levels import Levels
    from hub_extension.mail import Mailer

    return [AglaisAuthenticator, Levels, Mailer]


@pytest.mark.parametrize("index", range(3))
def test_every_accounts_option_is_documented(index):
    cls = accounts_classes()[index]
    doc = flat(ACCOUNTS_DOC)
    for name, trait in cls.class_own_traits(config=True).items():
        assert f"{cls.__name__}.{name}" in ACCOUNTS_DOC, f"{cls.__name__}.{name} is not in docs/accounts.md"
        assert flat(trait.help) in doc, f"docs/accounts.md does not quote the help of {cls.__name__}.{name}"


LABEXTENSION_DOC = (Path(__file__).resolve().parent.parent / "docs" / "labextension.md").read_text()


def test_every_zeppelin_option_is_documented_with_its_help():
    from aglais_lab.zeppelin import AglaisZeppelin

    doc = flat(LABEXTENSION_DOC)
    for name, trait in AglaisZeppelin.class_own_traits(config=True).items():
        assert f"AglaisZeppelin.{name}" in LABEXTENSION_DOC, f"AglaisZeppelin.{name} is not in docs/labextension.md"
        assert flat(trait.help) in doc, f"docs/labextension.md does not quote the help of AglaisZeppelin.{name}"


def test_every_screenshot_is_in_the_readmes_table_with_a_caption():
    """docs/screenshots/*.png each appear in the README's table, with alt text saying what
    it shows, and the table names no picture that is not there."""
    repo = Path(__file__).resolve().parent.parent
    readme = (repo / "README.md").read_text()
    shown = dict((path, alt) for alt, path in re.findall(r"!\[([^\]]*)\]\(docs/screenshots/([^)]+\.png)\)", readme))
    on_disk = {p.name for p in (repo / "docs" / "screenshots").glob("*.png")}
    assert set(shown) == on_disk, (sorted(on_disk - set(shown)), sorted(set(shown) - on_disk))
    assert all(len(alt.split()) >= 4 for alt in shown.values()), shown
