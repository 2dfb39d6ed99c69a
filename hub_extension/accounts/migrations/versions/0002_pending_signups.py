"""Sign-ups wait on their code; tombstones for the names of deleted accounts.

A confirmation code now carries the sign-up itself (the address and the pending
password's hash), so a sign-up writes nothing on an account until it is confirmed
(issue 9, item 2). What the old scheme left half-made is dropped: unconfirmed email
identities, the confirmation codes that pointed at them, the passwords of trial accounts
that were registering with one (the password took effect before the address was
proven), and accounts that had nothing but an unconfirmed address (an unconfirmed
sign-up, possibly someone else's squat). Their owners sign up again.

Revision ID: a0002
Revises: a0001
Create Date: 2027-01-10
"""

import sqlalchemy as sa
from alembic import op

revision = "a0002"
down_revision = "a0001"
branch_labels = None
depends_on = None

# the DDL of UTCDateTime (naive UTC): frozen here rather than imported from live code
UTC_DATETIME = sa.DateTime()


def upgrade() -> None:
    unconfirmed = "SELECT account_name FROM identities WHERE provider = 'email' AND confirmed = :false"
    proven = "SELECT account_name FROM identities WHERE confirmed = :true OR provider <> 'email'"
    flags = {"true": True, "false": False}
    op.execute(sa.text("DELETE FROM codes WHERE purpose = 'confirm'"))
    op.execute(sa.text(f"DELETE FROM passwords WHERE account_name IN "
                       f"(SELECT name FROM accounts WHERE transient = :true AND name IN ({unconfirmed}))").bindparams(**flags))
    # their identities, passwords and codes go by ON DELETE CASCADE (the store's
    # connections have SQLite's foreign_keys pragma on)
    op.execute(sa.text(f"DELETE FROM accounts WHERE transient = :false AND name IN ({unconfirmed}) "
                       f"AND name NOT IN ({proven})").bindparams(**flags))
    op.execute(sa.text("DELETE FROM identities WHERE provider = 'email' AND confirmed = :false").bindparams(false=False))

    with op.batch_alter_table("codes") as batch:
        batch.alter_column("account_name", existing_type=sa.String(255), nullable=True)
        batch.drop_column("identity_id")
        batch.add_column(sa.Column("email", sa.String(320), nullable=True))
        batch.add_column(sa.Column("password_hash", sa.String(255), nullable=True))
        batch.add_column(sa.Column("contested", sa.Boolean, nullable=False, server_default=sa.false()))
        batch.create_index("ix_codes_email", ["email"])
    op.create_table(
        "tombstones",
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("deleted", UTC_DATETIME, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("tombstones")
    op.execute(sa.text("DELETE FROM codes WHERE account_name IS NULL OR purpose = 'confirm'"))
    with op.batch_alter_table("codes") as batch:
        batch.drop_index("ix_codes_email")
        batch.drop_column("contested")
        batch.drop_column("password_hash")
        batch.drop_column("email")
        batch.add_column(sa.Column("identity_id", sa.Integer, sa.ForeignKey("identities.id", ondelete="CASCADE", name="fk_codes_identity_id"),
                                   nullable=True))
        batch.alter_column("account_name", existing_type=sa.String(255), nullable=False)
