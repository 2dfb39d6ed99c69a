"""Alembic environment of the account tables: runs on the connection store.py hands over.

The version table has its own name so the accounts may share a PostgreSQL database
with the booking service or with the hub.

At start-up it imports no live code: the migrations describe the schema themselves
(target_metadata only serves autogenerate, which this project does not run here)."""

from alembic import context

VERSION_TABLE = "aglais_accounts_alembic_version"

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    version_table=VERSION_TABLE,
    # SQLite cannot ALTER most things in place; batch mode copies the table.
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
