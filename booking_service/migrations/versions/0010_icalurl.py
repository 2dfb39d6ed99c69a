"""Calendar feeds whose address can be shown again (issue 12, `ical_url` in GET /me):
each feed's random `nonce`, from which, with the service's feed secret, its token is
derived (operations/ical.py); the row keeps the token's sha256 for the lookup, as before.

Feeds made before this revision are dropped: their random tokens cannot be derived, so
their addresses could never be shown, and they would outlive a rotation of the feed
secret. Their users see no feed (GET /me: `ical_url` null) and make a new one. Going
back keeps the feeds working: the older code looks them up by the same hash.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(sa.text("DELETE FROM calendar_feeds"))
    # batch: SQLite adds a NOT NULL column only by copying the table (empty now)
    with op.batch_alter_table("calendar_feeds") as batch:
        batch.add_column(sa.Column("nonce", sa.String(64), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("calendar_feeds") as batch:
        batch.drop_column("nonce")
