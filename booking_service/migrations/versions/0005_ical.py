"""Private calendar feeds (issue 12, "Telling people"): one row per user with the sha256
of the feed's secret token.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

# Frozen: UTCDateTime (aglais_common.db) is plain DateTime in the schema; no live code here.
UTCDateTime = sa.DateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "calendar_feeds",
        sa.Column("user", sa.String(255), primary_key=True),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("created", UTCDateTime, nullable=False),
        sa.Column("created_by", sa.String(255), nullable=False),
        sa.UniqueConstraint("token_hash", name="calendar_feed_token"),
    )


def downgrade() -> None:
    op.drop_table("calendar_feeds")
