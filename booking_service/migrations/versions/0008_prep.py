"""Preparation steps of bookings (issue 12, seed 004): what must be done before a booking
starts, each with its quote, its state and the hash of its callback secret.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

# Frozen: UTCDateTime (aglais_common.db) is plain DateTime in the schema; no live code here.
UTCDateTime = sa.DateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "preparation_steps",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("booking_id", sa.Integer, sa.ForeignKey("bookings.id", ondelete="CASCADE"), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("params", sa.Text, nullable=False),
        sa.Column("quote_seconds", sa.Integer, nullable=False),
        sa.Column("due", UTCDateTime, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=True),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("started", UTCDateTime, nullable=True),
        sa.Column("finished", UTCDateTime, nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.CheckConstraint("state IN ('PENDING', 'RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED')", name="step_state"),
        sa.UniqueConstraint("booking_id", "position", name="step_position"),
    )
    op.create_index("ix_steps_state_due", "preparation_steps", ["state", "due"])


def downgrade() -> None:
    op.drop_index("ix_steps_state_due", "preparation_steps")
    op.drop_table("preparation_steps")
