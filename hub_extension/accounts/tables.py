"""The account tables: accounts, their identities, password hashes, single-use codes and
the attempts that throttles and rate limits count.

Levels are not here: they are hub groups (levels.py). Every record is keyed by the
normalised account name (credentials.normalise_name), so two spellings of a name can
never make two accounts.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from aglais_common.db import UTCDateTime  # naive UTC in the database, aware in Python

NAME = String(255)


class Base(DeclarativeBase):
    pass


class Account(Base):
    __tablename__ = "accounts"

    name: Mapped[str] = mapped_column(NAME, primary_key=True)
    created: Mapped[datetime] = mapped_column(UTCDateTime())
    # "Give it a try" accounts: deleted, with their files, on logout or when culled.
    transient: Mapped[bool] = mapped_column(Boolean, default=False)
    # The level group a new hub user is put in (levels.py); the hub's groups are the
    # truth afterwards, this is only read when the hub user is created.
    initial_level: Mapped[str] = mapped_column(String(64))
    terms_accepted: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # Custom attributes an admin sets through the account API.
    attributes: Mapped[dict] = mapped_column(JSON, default=dict)

    identities: Mapped[list[Identity]] = relationship(
        back_populates="account", cascade="all, delete-orphan", passive_deletes=True, order_by="Identity.id")
    password: Mapped[Password | None] = relationship(cascade="all, delete-orphan", passive_deletes=True)


class Identity(Base):
    """A way into an account: an OAuth provider's subject, or an email address."""

    __tablename__ = "identities"
    __table_args__ = (UniqueConstraint("provider", "subject", name="uq_identity"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_name: Mapped[str] = mapped_column(NAME, ForeignKey("accounts.name", ondelete="CASCADE"), index=True)
    provider: Mapped[str] = mapped_column(String(64))  # "email" or a configured provider's key
    subject: Mapped[str] = mapped_column(String(320))  # normalised address, or the provider's user id
    email: Mapped[str | None] = mapped_column(String(320), nullable=True)  # verified addresses only
    confirmed: Mapped[bool] = mapped_column(Boolean, default=False)
    label: Mapped[str | None] = mapped_column(String(255), nullable=True)  # what the user recognises
    created: Mapped[datetime] = mapped_column(UTCDateTime())

    account: Mapped[Account] = relationship(back_populates="identities")


class Password(Base):
    __tablename__ = "passwords"

    account_name: Mapped[str] = mapped_column(NAME, ForeignKey("accounts.name", ondelete="CASCADE"), primary_key=True)
    hash: Mapped[str] = mapped_column(String(255))  # argon2id, in its own encoded form
    changed: Mapped[datetime] = mapped_column(UTCDateTime())


class Code(Base):
    """A single-use, time-limited code: only its SHA-256 is kept.

    A confirmation code *is* the sign-up it was mailed for: the address, and the password
    chosen with it, wait here and take effect only when this code is used. So a sign-up
    writes nothing on an account, and a later sign-up for the same address voids this one
    (store.AccountStore.start_signup)."""

    __tablename__ = "codes"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(16))  # confirm | reset | login
    # None for a sign-up without an account yet: the account is made on confirmation
    account_name: Mapped[str | None] = mapped_column(
        NAME, ForeignKey("accounts.name", ondelete="CASCADE"), index=True, nullable=True)
    email: Mapped[str | None] = mapped_column(String(320), index=True, nullable=True)  # confirm: the address
    password_hash: Mapped[str | None] = mapped_column(String(255), nullable=True)  # confirm: the pending password
    # confirm: this sign-up voided another one still waiting; its password must be entered
    contested: Mapped[bool] = mapped_column(Boolean, default=False)
    created: Mapped[datetime] = mapped_column(UTCDateTime())
    expires: Mapped[datetime] = mapped_column(UTCDateTime())
    used: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    next_url: Mapped[str | None] = mapped_column(String(2048), nullable=True)


class Attempt(Base):
    """One counted event (a failed login, a sign-up, a resend) under a key such as
    "login-fail:account:alice" or "try:addr:10.0.0.1"; throttles count them in a window."""

    __tablename__ = "attempts"
    __table_args__ = (Index("ix_attempts_key_at", "key", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(400))
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class Tombstone(Base):
    """The name of a deleted account, kept for AglaisAuthenticator.name_reuse_days so that
    no name the hub chooses (trial, sign-up, OAuth) hands a stranger what is still keyed
    by it elsewhere (logs, other services, anything the forget step could not reach)."""

    __tablename__ = "tombstones"

    name: Mapped[str] = mapped_column(NAME, primary_key=True)
    deleted: Mapped[datetime] = mapped_column(UTCDateTime())
