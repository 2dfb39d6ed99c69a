"""Schema migrations (alembic): from an empty database to head and back, on SQLite and
PostgreSQL; head matches the models; several processes migrating at once is safe."""

from __future__ import annotations

import asyncio

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from booking_service import store
from booking_service.orm import Base


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path, postgres_db):
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path}/booking.sqlite"
    return postgres_db()


async def tables(engine) -> set[str]:
    async with engine.connect() as conn:
        return set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))


async def test_upgrade_from_empty_matches_the_models_and_downgrades(db_url):
    engine = store.make_engine(db_url)
    try:
        await store.upgrade(engine)
        assert {"pools", "capacity_grants", "package_templates", "bookings", "alembic_version"} <= await tables(engine)
        async with engine.connect() as conn:
            diff = await conn.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync), Base.metadata)
            )
        assert diff == [], f"the models and the migrations disagree: {diff}"
        await store.downgrade(engine, "base")
        assert await tables(engine) <= {"alembic_version"}
        await store.upgrade(engine)  # and up again from the previous version
        assert "bookings" in await tables(engine)
    finally:
        await engine.dispose()


async def test_concurrent_upgrades_on_postgresql(postgres_db):
    """Service processes starting together take turns under an advisory lock."""
    url = postgres_db()
    engines = [store.make_engine(url) for _ in range(4)]
    try:
        await asyncio.gather(*(store.upgrade(e) for e in engines))
        assert "bookings" in await tables(engines[0])
    finally:
        for engine in engines:
            await engine.dispose()


LIVE_PACKAGES = {"booking_service", "hub_extension", "spawner", "aglais_common"}


def module_level_imports(path) -> set[str]:
    """Top-level packages a file imports when it runs (not those inside functions or branches)."""
    import ast

    found = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("package", ["booking_service", "hub_extension.accounts"])
def test_migrations_import_no_live_code(package):
    """A migration freezes what it needs: a later change to the models must not change
    what an old migration does (the booking service's and the accounts' alike)."""
    import importlib
    from pathlib import Path

    folder = Path(importlib.import_module(f"{package}.store").MIGRATIONS)
    files = [folder / "env.py", *sorted((folder / "versions").glob("[0-9a-z]*[0-9]*.py"))]
    assert len(files) > 2
    for path in files:
        assert not module_level_imports(path) & LIVE_PACKAGES, path
