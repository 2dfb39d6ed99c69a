"""The account tables' migrations: from an empty database, and from the previous version
with what it held (a0002 drops what the old sign-up left half-made), on SQLite and
PostgreSQL; down and up again."""

from __future__ import annotations

from datetime import datetime

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import text

from hub_extension.accounts.store import MIGRATIONS, AccountStore
from hub_extension.accounts.tables import Base


@pytest.fixture(params=["sqlite", "postgres"])
def url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/accounts.sqlite"
    cluster = request.getfixturevalue("postgres_cluster")
    return cluster.url(cluster.create_database())


def test_head_matches_the_tables(url):
    store = AccountStore(url)
    with store.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"version_table": "aglais_accounts_alembic_version"})
        assert compare_metadata(context, Base.metadata) == []


def test_a0002_drops_what_the_old_sign_up_left_half_made(url):
    store = AccountStore(url, upgrade=False)
    store.upgrade("a0001")
    when = datetime(2026, 12, 1)
    accounts = [  # name, transient
        ("squatted", False),  # only an unconfirmed address: an unconfirmed sign-up, maybe a squat
        ("registering", True),  # a trial account registering with an unconfirmed address
        ("linked", False),  # an OAuth account adding an address it has not confirmed yet
        ("confirmed", False),  # a confirmed sign-up
    ]
    identities = [  # id, account, provider, subject, confirmed
        (1, "squatted", "email", "v@example.org", False),
        (2, "registering", "email", "w@example.org", False),
        (3, "linked", "github", "42", True),
        (4, "linked", "email", "x@example.org", False),
        (5, "confirmed", "email", "y@example.org", True),
    ]
    with store.engine.begin() as db:
        for name, transient in accounts:
            db.execute(text("INSERT INTO accounts (name, created, transient, initial_level, attributes) "
                            "VALUES (:n, :c, :t, 'level-1', '{}')"), {"n": name, "c": when, "t": transient})
            db.execute(text("INSERT INTO passwords (account_name, hash, changed) VALUES (:n, 'h', :c)"),
                       {"n": name, "c": when})
        for id_, name, provider, subject, confirmed in identities:
            db.execute(text("INSERT INTO identities (id, account_name, provider, subject, confirmed, created) "
                            "VALUES (:i, :n, :p, :s, :f, :c)"),
                       {"i": id_, "n": name, "p": provider, "s": subject, "f": confirmed, "c": when})
        for digest, purpose, name, identity in (("c1", "confirm", "squatted", 1), ("c2", "confirm", "registering", 2),
                                                ("r5", "reset", "confirmed", None)):
            db.execute(text("INSERT INTO codes (digest, purpose, account_name, identity_id, created, expires) "
                            "VALUES (:d, :p, :n, :i, :c, :c)"), {"d": digest, "p": purpose, "n": name, "i": identity,
                                                                  "c": when})
    store.upgrade("head")
    assert store.names() == ["confirmed", "linked", "registering"]
    assert store.get("registering").password is None and store.get("registering").identities == []
    assert [i.provider for i in store.get("linked").identities] == ["github"]
    assert store.get("linked").password is not None  # set by its logged-in owner
    assert store.find_identity("email", "y@example.org").confirmed
    with store.engine.connect() as db:
        assert db.execute(text("SELECT digest FROM codes")).scalars().all() == ["r5"]
    # down to the previous version and up again
    with store.engine.begin() as conn:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["connection"] = conn
        command.downgrade(config, "a0001")
    store.upgrade("head")
    assert store.names() == ["confirmed", "linked", "registering"]
