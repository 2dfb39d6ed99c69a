"""Recurring bookings (issue 12): the booking_series table, and each booking's series_id.

`bookings.series_id` is a plain indexed column, without a foreign key: on SQLite a
foreign key can only be added by copying the table, and dropping the old copy would
cascade to booking_transitions. Existing bookings are in no series.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

# Frozen: UTCDateTime (aglais_common.db) is plain DateTime in the schema; no live code here.
UTCDateTime = sa.DateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "booking_series",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("user", sa.String(255), nullable=False),
        sa.Column("pool_id", sa.Integer, sa.ForeignKey("pools.id", ondelete="CASCADE"), nullable=False),
        sa.Column("package_id", sa.Integer, sa.ForeignKey("package_templates.id"), nullable=True),
        sa.Column("millicores", sa.BigInteger, nullable=False),
        sa.Column("mib", sa.BigInteger, nullable=False),
        sa.Column("start", sa.String(32), nullable=False),
        sa.Column("tz", sa.String(64), nullable=False),
        sa.Column("duration", sa.String(40), nullable=False),
        sa.Column("rrule", sa.Text, nullable=False),
        sa.Column("mode", sa.String(8), nullable=False),
        sa.Column("skipped", sa.Text, nullable=False),
        sa.Column("created", UTCDateTime, nullable=False),
        sa.Column("created_by", sa.String(255), nullable=False),
        sa.Column("cancelled", UTCDateTime, nullable=True),
        sa.CheckConstraint("mode IN ('all', 'fit')", name="series_mode"),
    )
    op.create_index("ix_booking_series_user", "booking_series", ["user"])
    # a plain new column: an ALTER TABLE in place, even on SQLite
    op.add_column("bookings", sa.Column("series_id", sa.Integer, nullable=True))
    op.create_index("ix_bookings_series_id", "bookings", ["series_id"])


def downgrade() -> None:
    # The occurrences stay, as single bookings.
    op.drop_index("ix_bookings_series_id", "bookings")
    op.drop_column("bookings", "series_id")  # SQLite 3.35 and later drop a plain column in place
    op.drop_index("ix_booking_series_user", "booking_series")
    op.drop_table("booking_series")
