"""Sessions (running servers and what they hold), the walk-in queue, and leases.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

# Frozen: UTCDateTime (aglais_common.db) is plain DateTime in the schema; no live code here.
UTCDateTime = sa.DateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sessions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("user", sa.String(255), nullable=False),
        sa.Column("server_name", sa.String(255), nullable=False),
        sa.Column("pool_id", sa.Integer, sa.ForeignKey("pools.id", ondelete="CASCADE"), nullable=False),
        sa.Column("booking_id", sa.Integer, sa.ForeignKey("bookings.id"), nullable=True),
        sa.Column("package_id", sa.Integer, sa.ForeignKey("package_templates.id"), nullable=True),
        sa.Column("millicores", sa.BigInteger, nullable=False),
        sa.Column("mib", sa.BigInteger, nullable=False),
        sa.Column("flavour", sa.String(32), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("started", UTCDateTime, nullable=False),
        sa.Column("stopped", UTCDateTime, nullable=True),
        sa.Column("stop_reason", sa.Text, nullable=False),
        sa.Column("changed_version", sa.BigInteger, nullable=False),
        sa.CheckConstraint("state IN ('running', 'stopped')", name="session_state"),
    )
    op.create_index("ix_sessions_user", "sessions", ["user"])
    op.create_index("ix_sessions_pool_changed", "sessions", ["pool_id", "changed_version"])
    op.create_index("ix_sessions_state", "sessions", ["state"])
    op.create_table(
        "queue_entries",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("user", sa.String(255), nullable=False),
        sa.Column("pool_id", sa.Integer, sa.ForeignKey("pools.id", ondelete="CASCADE"), nullable=False),
        sa.Column("package_id", sa.Integer, sa.ForeignKey("package_templates.id"), nullable=False),
        sa.Column("millicores", sa.BigInteger, nullable=False),
        sa.Column("mib", sa.BigInteger, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("joined", UTCDateTime, nullable=False),
        sa.Column("offered", UTCDateTime, nullable=True),
        sa.Column("hold_until", UTCDateTime, nullable=True),
        sa.Column("changed_version", sa.BigInteger, nullable=False),
        sa.CheckConstraint("state IN ('waiting', 'offered', 'claimed', 'expired', 'left')", name="queue_state"),
    )
    op.create_index("ix_queue_pool_state", "queue_entries", ["pool_id", "state", "id"])
    op.create_index("ix_queue_pool_changed", "queue_entries", ["pool_id", "changed_version"])
    op.create_table(
        "leases",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("holder", sa.String(255), nullable=False),
        sa.Column("expires", UTCDateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("leases")
    op.drop_table("queue_entries")
    op.drop_table("sessions")
