"""The throwaway PostgreSQL cluster is real, recent enough, and reachable on loopback only."""

import psycopg
import pytest

pytestmark = pytest.mark.postgres


def test_fresh_database_on_loopback_only(postgres_db):
    url = postgres_db()
    assert url.startswith("postgresql+psycopg://postgres@127.0.0.1:")

    libpq_url = url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(libpq_url) as conn:
        assert conn.info.server_version >= 150000
        version = conn.execute("select version()").fetchone()[0]
        assert version.startswith("PostgreSQL ")
        assert int(version.split()[1].split(".")[0]) >= 15
        assert conn.execute("show listen_addresses").fetchone()[0] == "127.0.0.1"
        assert conn.execute("select current_database()").fetchone()[0] == url.rsplit("/", 1)[1]

    # Each call gives a database of its own.
    assert postgres_db() != url
