"""Accounts, identities, passwords, single-use codes and counted attempts.

Revision ID: a0001
Revises:
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

# Frozen: the store's UTC column type is plain DateTime in the schema; no live code here.
UTCDateTime = sa.DateTime

revision = "a0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("created", UTCDateTime(), nullable=False),
        sa.Column("transient", sa.Boolean, nullable=False),
        sa.Column("initial_level", sa.String(64), nullable=False),
        sa.Column("terms_accepted", UTCDateTime(), nullable=True),
        sa.Column("attributes", sa.JSON, nullable=False),
    )
    op.create_table(
        "identities",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("account_name", sa.String(255), sa.ForeignKey("accounts.name", ondelete="CASCADE"), nullable=False),
        sa.Column("provider", sa.String(64), nullable=False),
        sa.Column("subject", sa.String(320), nullable=False),
        sa.Column("email", sa.String(320), nullable=True),
        sa.Column("confirmed", sa.Boolean, nullable=False),
        sa.Column("label", sa.String(255), nullable=True),
        sa.Column("created", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("provider", "subject", name="uq_identity"),
    )
    op.create_index("ix_identities_account_name", "identities", ["account_name"])
    op.create_table(
        "passwords",
        sa.Column("account_name", sa.String(255), sa.ForeignKey("accounts.name", ondelete="CASCADE"), primary_key=True),
        sa.Column("hash", sa.String(255), nullable=False),
        sa.Column("changed", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "codes",
        sa.Column("digest", sa.String(64), primary_key=True),
        sa.Column("purpose", sa.String(16), nullable=False),
        sa.Column("account_name", sa.String(255), sa.ForeignKey("accounts.name", ondelete="CASCADE"), nullable=False),
        sa.Column("identity_id", sa.Integer, sa.ForeignKey("identities.id", ondelete="CASCADE"), nullable=True),
        sa.Column("created", UTCDateTime(), nullable=False),
        sa.Column("expires", UTCDateTime(), nullable=False),
        sa.Column("used", UTCDateTime(), nullable=True),
        sa.Column("next_url", sa.String(2048), nullable=True),
    )
    op.create_index("ix_codes_account_name", "codes", ["account_name"])
    op.create_table(
        "attempts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(400), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_attempts_key_at", "attempts", ["key", "at"])


def downgrade() -> None:
    for table in ("attempts", "codes", "passwords", "identities", "accounts"):
        op.drop_table(table)
