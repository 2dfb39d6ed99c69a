"""Alembic environment: runs on the connection the service hands over (aglais_common.db.upgrade),
or on `sqlalchemy.url` when invoked from the alembic command line.

At start-up it imports no live code: the migrations describe the schema themselves.
Only the command line (autogenerate) compares against the service's tables."""

from alembic import context
from sqlalchemy import engine_from_config, pool

config = context.config


def run(connection, target_metadata=None) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things in place; batch mode copies the table.
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    run(connection)
else:
    from booking_service.orm import Base  # for `alembic revision --autogenerate` only

    engine = engine_from_config(config.get_section(config.config_ini_section), prefix="sqlalchemy.", poolclass=pool.NullPool)
    with engine.connect() as conn:
        run(conn, Base.metadata)
