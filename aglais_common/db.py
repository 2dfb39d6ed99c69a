"""What both of aglais-hub's databases (the booking service's and the hub's accounts)
share: the UTC column type, the engine set-up for SQLite or PostgreSQL, and running a
package's alembic migrations at start-up. Neither package reaches into the other for it."""

from __future__ import annotations

from datetime import timezone
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import DateTime, create_engine, event, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.types import TypeDecorator

__all__ = ["UTCDateTime", "make_engine", "make_sync_engine", "upgrade", "upgrade_connection", "downgrade"]


class UTCDateTime(TypeDecorator):
    """Stores naive UTC (portable across SQLite and PostgreSQL), hands back aware UTC.

    Its DDL is plain ``DateTime``: migrations write ``sa.DateTime()`` and stay frozen."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None:
            if value.tzinfo is None:
                raise ValueError("naive datetime given to a UTC column")
            value = value.astimezone(timezone.utc).replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        if value is not None:
            value = value.replace(tzinfo=timezone.utc)
        return value


def _sqlite_pragmas(sync_engine: Engine) -> None:
    @event.listens_for(sync_engine, "connect")
    def _pragmas(dbapi_connection, _record):
        cursor = dbapi_connection.cursor()
        # WAL lets readers go on while one writer holds the lock; foreign keys are off
        # by default in SQLite.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()


def make_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    """An asyncio engine (aiosqlite or psycopg)."""
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 30})
        _sqlite_pragmas(engine.sync_engine)
        return engine
    # No pre-ping: it costs a round trip per checkout on a request's path; a dropped
    # connection fails its request and is replaced (SQLAlchemy invalidates it).
    return create_async_engine(url, pool_size=pool_size, max_overflow=pool_size * 2)


def make_sync_engine(url: str, *, pool_size: int = 5) -> Engine:
    """A blocking engine, for stores used off the event loop (the hub's accounts)."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30})
        _sqlite_pragmas(engine)
        return engine
    return create_engine(url, pool_size=pool_size, max_overflow=pool_size * 2, pool_pre_ping=True)


def _alembic_config(connection: Connection, migrations: Path) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations))
    config.attributes["connection"] = connection  # env.py runs on it
    return config


def upgrade_connection(connection: Connection, migrations: Path, *, lock_key: int, revision: str = "head") -> None:
    """Migrate to `revision` on a connection in a transaction. On PostgreSQL, processes
    starting at once take turns under the advisory lock `lock_key` (one per schema)."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": lock_key})
    command.upgrade(_alembic_config(connection, migrations), revision)


async def upgrade(engine: AsyncEngine, migrations: Path, *, lock_key: int, revision: str = "head") -> None:
    async with engine.begin() as conn:
        await conn.run_sync(lambda sync: upgrade_connection(sync, migrations, lock_key=lock_key, revision=revision))


async def downgrade(engine: AsyncEngine, migrations: Path, revision: str) -> None:
    async with engine.begin() as conn:
        await conn.run_sync(lambda sync: command.downgrade(_alembic_config(sync, migrations), revision))
