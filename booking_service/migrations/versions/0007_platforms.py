"""Offers held on other platforms (a remote booking service, OpenStack Blazar): what an
offer set knows of each, in the set's numbering.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

# Frozen: UTCDateTime (aglais_common.db) is plain DateTime in the schema; no live code here.
UTCDateTime = sa.DateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "platform_offers",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("offer_set_id", sa.Integer, sa.ForeignKey("offer_sets.id", ondelete="CASCADE"), nullable=False),
        sa.Column("offer_index", sa.Integer, nullable=False),
        sa.Column("platform", sa.String(64), nullable=False),
        sa.Column("pool", sa.String(64), nullable=False),
        sa.Column("user", sa.String(255), nullable=False),
        sa.Column("package", sa.String(64), nullable=True),
        sa.Column("start", UTCDateTime, nullable=False),
        sa.Column("end", UTCDateTime, nullable=False),
        sa.Column("millicores", sa.BigInteger, nullable=False),
        sa.Column("mib", sa.BigInteger, nullable=False),
        sa.Column("phase", sa.String(16), nullable=False),
        sa.Column("created", UTCDateTime, nullable=False),
        sa.Column("expires", UTCDateTime, nullable=False),
        sa.Column("ref", sa.Text, nullable=False),
        sa.Column("remote", sa.Text, nullable=True),
        sa.Column("history", sa.Text, nullable=False),
        sa.CheckConstraint("phase IN ('OFFERED', 'ACCEPTING', 'ACCEPTED', 'REJECTED', 'EXPIRED')",
                           name="platform_offer_phase"),
        sa.UniqueConstraint("offer_set_id", "offer_index", name="platform_offer_place"),
    )
    op.create_index("ix_platform_offers_phase_expires", "platform_offers", ["phase", "expires"])


def downgrade() -> None:
    op.drop_index("ix_platform_offers_phase_expires", "platform_offers")
    op.drop_table("platform_offers")
