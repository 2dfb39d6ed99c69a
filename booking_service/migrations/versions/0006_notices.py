"""Notices: what a user should hear of (issue 12, "Telling people"), each made once (a
unique key per event), read or not, and whether it was mailed; and the bookings indexed
by phase and start, and by phase and end, for the lifecycle loop's rounds.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

# Frozen: UTCDateTime (aglais_common.db) is plain DateTime in the schema; no live code here.
UTCDateTime = sa.DateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notices",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("user", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("key", sa.String(255), nullable=False, unique=True),
        sa.Column("booking_id", sa.Integer, sa.ForeignKey("bookings.id", ondelete="CASCADE"), nullable=True),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("created", UTCDateTime, nullable=False),
        sa.Column("read", UTCDateTime, nullable=True),
        sa.Column("mail_state", sa.String(16), nullable=False),
        sa.Column("mail_tries", sa.Integer, nullable=False),
        sa.CheckConstraint("mail_state IN ('pending', 'sent', 'no-address', 'failed', 'off')",
                           name="notice_mail_state"),
    )
    op.create_index("ix_notices_user", "notices", ["user", "id"])
    op.create_index("ix_notices_mail", "notices", ["mail_state", "id"])
    # what the lifecycle loop asks each round: bookings in given phases by start, or end
    # (phase first, so the finished ones, most of a pool's history, are never walked)
    op.create_index("ix_bookings_phase_start", "bookings", ["phase", "start"])
    op.create_index("ix_bookings_phase_end", "bookings", ["phase", "end"])


def downgrade() -> None:
    op.drop_index("ix_bookings_phase_end", "bookings")
    op.drop_index("ix_bookings_phase_start", "bookings")
    op.drop_index("ix_notices_mail", "notices")
    op.drop_index("ix_notices_user", "notices")
    op.drop_table("notices")
