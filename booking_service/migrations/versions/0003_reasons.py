"""Why a booking was cancelled and why a queue entry ended (e.g. "account deleted").

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("bookings") as batch:
        batch.add_column(sa.Column("cancel_reason", sa.Text, nullable=True))
    with op.batch_alter_table("queue_entries") as batch:
        batch.add_column(sa.Column("end_reason", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("queue_entries") as batch:
        batch.drop_column("end_reason")
    with op.batch_alter_table("bookings") as batch:
        batch.drop_column("cancel_reason")
