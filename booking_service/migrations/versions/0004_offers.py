"""Offer sets, the bookings' lifecycle phases and their transitions (issue 12, seed 004).

Existing bookings get the phase their state and the clock give them: cancelled ones
CANCELLED, ended ones COMPLETED, ones with a running server RUNNING, ones under way
WAITING, later ones ACCEPTED; each gets the transitions that took it there, as of when it
was made (and cancelled).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from contextlib import contextmanager
from datetime import datetime, timezone

import sqlalchemy as sa
from alembic import op

# Frozen: UTCDateTime (aglais_common.db) is plain DateTime in the schema; no live code here.
UTCDateTime = sa.DateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

PHASES = ("OFFERED", "ACCEPTED", "PREPARING", "WAITING", "RUNNING", "RELEASING", "COMPLETED",
          "CANCELLED", "FAILED", "EXPIRED", "REJECTED")
PHASE_SQL = "phase IN (" + ", ".join(f"'{p}'" for p in PHASES) + ")"
STATE_OF_PHASE_SQL = (
    "(state = 'offered' AND phase = 'OFFERED') OR "
    "(state = 'booked' AND phase IN ('ACCEPTED', 'PREPARING', 'WAITING', 'RUNNING', 'RELEASING', 'COMPLETED')) OR "
    "(state = 'cancelled' AND phase IN ('CANCELLED', 'FAILED', 'EXPIRED', 'REJECTED'))"
)
MIGRATED = "as of migration 0004 (before phases were recorded)"


@contextmanager
def _sessions_detached():
    """SQLite changes a CHECK constraint by copying the table (batch mode); dropping the old
    `bookings` would break the foreign keys of sessions under bookings, and SQLite's way
    around that (foreign_keys=OFF) does nothing inside the migration's transaction. So the
    sessions let go of their bookings meanwhile and take them back after the copy."""
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        yield
        return
    bind.exec_driver_sql("CREATE TEMP TABLE session_bookings AS SELECT id, booking_id FROM sessions "
                         "WHERE booking_id IS NOT NULL")
    bind.exec_driver_sql("UPDATE sessions SET booking_id = NULL WHERE booking_id IS NOT NULL")
    yield
    bind.exec_driver_sql("UPDATE sessions SET booking_id = (SELECT booking_id FROM session_bookings s "
                         "WHERE s.id = sessions.id) WHERE id IN (SELECT id FROM session_bookings)")
    bind.exec_driver_sql("DROP TABLE session_bookings")


def upgrade() -> None:
    op.create_table(
        "offer_sets",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("user", sa.String(255), nullable=False),
        sa.Column("created", UTCDateTime, nullable=False),
        sa.Column("created_by", sa.String(255), nullable=False),
        sa.Column("expires", UTCDateTime, nullable=False),
        sa.Column("request", sa.Text, nullable=False),
        sa.Column("result", sa.String(3), nullable=False),
        sa.Column("messages", sa.Text, nullable=False),
        sa.CheckConstraint("result IN ('YES', 'NO')", name="offer_set_result"),
    )
    op.create_index("ix_offer_sets_user", "offer_sets", ["user"])
    # plain new columns: an ALTER TABLE in place, even on SQLite
    op.add_column("bookings", sa.Column("phase", sa.String(16), nullable=True))
    op.add_column("bookings", sa.Column("offer_index", sa.Integer, nullable=True))
    op.add_column("bookings", sa.Column("expires", UTCDateTime, nullable=True))
    bind = op.get_bind()
    now = datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)
    running = "EXISTS (SELECT 1 FROM sessions s WHERE s.booking_id = bookings.id AND s.state = 'running')"
    bind.execute(sa.text(f"""
        UPDATE bookings SET phase = CASE
            WHEN state = 'cancelled' THEN 'CANCELLED'
            WHEN "end" <= :now THEN 'COMPLETED'
            WHEN {running} THEN 'RUNNING'
            WHEN start <= :now THEN 'WAITING'
            ELSE 'ACCEPTED' END
    """).bindparams(sa.bindparam("now", now, type_=sa.DateTime)))

    with _sessions_detached():
        with op.batch_alter_table("bookings") as batch:
            batch.add_column(sa.Column("offer_set_id", sa.Integer,
                                       sa.ForeignKey("offer_sets.id", name="fk_bookings_offer_set"), nullable=True))
            batch.alter_column("phase", existing_type=sa.String(16), nullable=False)
            batch.drop_constraint("booking_state", type_="check")
            batch.create_check_constraint("booking_state", "state IN ('booked', 'cancelled', 'offered')")
            batch.create_check_constraint("booking_phase", PHASE_SQL)
            batch.create_check_constraint("booking_state_of_phase", STATE_OF_PHASE_SQL)
            batch.create_index("ix_bookings_offer_set", ["offer_set_id", "offer_index"])
            batch.create_index("ix_bookings_state_expires", ["state", "expires"])

    op.create_table(
        "booking_transitions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("booking_id", sa.Integer, sa.ForeignKey("bookings.id", ondelete="CASCADE"), nullable=False),
        sa.Column("from_phase", sa.String(16), nullable=True),
        sa.Column("to_phase", sa.String(16), nullable=False),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("cause", sa.Text, nullable=False),
        sa.Column("by", sa.String(255), nullable=False),
    )
    op.create_index("ix_transitions_booking", "booking_transitions", ["booking_id", "id"])
    # The history each booking would have: made (ACCEPTED), then on to its phase now.
    insert = 'INSERT INTO booking_transitions (booking_id, from_phase, to_phase, at, cause, "by") '
    bind.execute(sa.text(insert + "SELECT id, NULL, 'ACCEPTED', created, 'booked', created_by FROM bookings"))
    bind.execute(sa.text(
        insert + "SELECT id, 'ACCEPTED', 'CANCELLED', COALESCE(cancelled, created), "
        "COALESCE(cancel_reason, 'cancelled'), created_by FROM bookings WHERE phase = 'CANCELLED'"))
    bind.execute(sa.text(
        insert + "SELECT id, 'ACCEPTED', phase, :now, :cause, 'lifecycle' FROM bookings "
        "WHERE phase IN ('WAITING', 'RUNNING', 'COMPLETED')"
    ).bindparams(sa.bindparam("now", now, type_=sa.DateTime), cause=MIGRATED))


def downgrade() -> None:
    op.drop_table("booking_transitions")
    bind = op.get_bind()
    # Offers that were never accepted were never bookings: they go with their sets.
    bind.execute(sa.text("DELETE FROM sessions WHERE booking_id IN (SELECT id FROM bookings WHERE state = 'offered' "
                         "OR phase IN ('EXPIRED', 'REJECTED'))"))
    bind.execute(sa.text("DELETE FROM bookings WHERE state = 'offered' OR phase IN ('EXPIRED', 'REJECTED')"))
    with _sessions_detached(), op.batch_alter_table("bookings") as batch:
        batch.drop_index("ix_bookings_state_expires")
        batch.drop_index("ix_bookings_offer_set")
        batch.drop_constraint("booking_state_of_phase", type_="check")
        batch.drop_constraint("booking_phase", type_="check")
        batch.drop_constraint("booking_state", type_="check")
        batch.create_check_constraint("booking_state", "state IN ('booked', 'cancelled')")
        batch.drop_constraint("fk_bookings_offer_set", type_="foreignkey")
        batch.drop_column("expires")
        batch.drop_column("offer_index")
        batch.drop_column("offer_set_id")
        batch.drop_column("phase")
    op.drop_index("ix_offer_sets_user", "offer_sets")
    op.drop_table("offer_sets")
