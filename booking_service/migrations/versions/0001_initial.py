"""Pools, capacity grants, package templates and bookings.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

# Frozen: UTCDateTime (aglais_common.db) is plain DateTime in the schema; no live code here.
UTCDateTime = sa.DateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pools",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.Column("created", UTCDateTime, nullable=False),
        sa.CheckConstraint("kind IN ('reserved', 'shared')", name="pool_kind"),
    )
    op.create_table(
        "capacity_grants",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("pool_id", sa.Integer, sa.ForeignKey("pools.id", ondelete="CASCADE"), nullable=False),
        sa.Column("start", UTCDateTime, nullable=False),
        sa.Column("end", UTCDateTime, nullable=False),
        sa.Column("millicores", sa.BigInteger, nullable=False),
        sa.Column("mib", sa.BigInteger, nullable=False),
        sa.Column("created", UTCDateTime, nullable=False),
        sa.Column("created_by", sa.String(255), nullable=False),
        sa.Column("changed_version", sa.BigInteger, nullable=False),
        sa.CheckConstraint('"end" > start', name="grant_interval"),
    )
    op.create_index("ix_grants_pool_changed", "capacity_grants", ["pool_id", "changed_version"])
    op.create_table(
        "package_templates",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("notebook_millicores", sa.BigInteger, nullable=False),
        sa.Column("notebook_mib", sa.BigInteger, nullable=False),
        sa.Column("spark_workers", sa.Integer, nullable=False),
        sa.Column("worker_millicores", sa.BigInteger, nullable=False),
        sa.Column("worker_mib", sa.BigInteger, nullable=False),
        sa.Column("created", UTCDateTime, nullable=False),
        sa.UniqueConstraint("name", "version", name="package_version"),
    )
    op.create_table(
        "bookings",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("user", sa.String(255), nullable=False),
        sa.Column("pool_id", sa.Integer, sa.ForeignKey("pools.id", ondelete="CASCADE"), nullable=False),
        sa.Column("package_id", sa.Integer, sa.ForeignKey("package_templates.id"), nullable=True),
        sa.Column("start", UTCDateTime, nullable=False),
        sa.Column("end", UTCDateTime, nullable=False),
        sa.Column("millicores", sa.BigInteger, nullable=False),
        sa.Column("mib", sa.BigInteger, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created", UTCDateTime, nullable=False),
        sa.Column("created_by", sa.String(255), nullable=False),
        sa.Column("cancelled", UTCDateTime, nullable=True),
        sa.Column("changed_version", sa.BigInteger, nullable=False),
        sa.CheckConstraint('"end" > start', name="booking_interval"),
        sa.CheckConstraint("state IN ('booked', 'cancelled')", name="booking_state"),
    )
    op.create_index("ix_bookings_user", "bookings", ["user"])
    op.create_index("ix_bookings_pool_changed", "bookings", ["pool_id", "changed_version"])
    op.create_index("ix_bookings_pool_time", "bookings", ["pool_id", "start", "end"])


def downgrade() -> None:
    op.drop_table("bookings")
    op.drop_table("package_templates")
    op.drop_table("capacity_grants")
    op.drop_table("pools")
