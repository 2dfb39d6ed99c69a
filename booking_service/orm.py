"""The booking service's tables (SQLAlchemy 2 declarative): pools, capacity grants,
package templates and bookings. Schema changes go through alembic (migrations/)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from aglais_common.db import UTCDateTime

from .domain import PHASES


class Base(DeclarativeBase):
    pass


class Pool(Base):
    """A cluster or platform: `reserved` pools are booked ahead, `shared` ones are walk-in.

    `version` is bumped by every change to the pool's grants or bookings, in the same
    transaction; it is both the pool's write lock (the bump is the first write) and
    how each service process knows its in-memory timeline is current.
    """

    __tablename__ = "pools"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    kind: Mapped[str] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(BigInteger, default=0)
    created: Mapped[datetime] = mapped_column(UTCDateTime)
    __table_args__ = (CheckConstraint("kind IN ('reserved', 'shared')", name="pool_kind"),)


class CapacityGrant(Base):
    """Physical resources a pool has over [start, end); grants add up."""

    __tablename__ = "capacity_grants"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pool_id: Mapped[int] = mapped_column(ForeignKey("pools.id", ondelete="CASCADE"))
    start: Mapped[datetime] = mapped_column(UTCDateTime)
    end: Mapped[datetime] = mapped_column(UTCDateTime)
    millicores: Mapped[int] = mapped_column(BigInteger)
    mib: Mapped[int] = mapped_column(BigInteger)
    created: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(255))
    changed_version: Mapped[int] = mapped_column(BigInteger)
    __table_args__ = (
        CheckConstraint('"end" > start', name="grant_interval"),
        Index("ix_grants_pool_changed", "pool_id", "changed_version"),
    )


class PackageTemplate(Base):
    """An immutable version of a named package; editing a package adds a version."""

    __tablename__ = "package_templates"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(Text, default="")
    notebook_millicores: Mapped[int] = mapped_column(BigInteger)
    notebook_mib: Mapped[int] = mapped_column(BigInteger)
    spark_workers: Mapped[int] = mapped_column(Integer)
    worker_millicores: Mapped[int] = mapped_column(BigInteger)
    worker_mib: Mapped[int] = mapped_column(BigInteger)
    created: Mapped[datetime] = mapped_column(UTCDateTime)
    __table_args__ = (UniqueConstraint("name", "version", name="package_version"),)

    @property
    def footprint_millicores(self) -> int:
        return self.notebook_millicores + self.spark_workers * self.worker_millicores

    @property
    def footprint_mib(self) -> int:
        return self.notebook_mib + self.spark_workers * self.worker_mib


PHASE_SQL = "'" + "', '".join(PHASES) + "'"
# `state` follows `phase` (domain.state_of); the database holds the two to it.
STATE_OF_PHASE_SQL = (
    "(state = 'offered' AND phase = 'OFFERED') OR "
    "(state = 'booked' AND phase IN ('ACCEPTED', 'PREPARING', 'WAITING', 'RUNNING', 'RELEASING', 'COMPLETED')) OR "
    "(state = 'cancelled' AND phase IN ('CANCELLED', 'FAILED', 'EXPIRED', 'REJECTED'))"
)


class OfferSet(Base):
    """One "find me a slot" request and its answer (migration 0004): the offers are the
    bookings that point here, in phase OFFERED until one is accepted or they expire."""

    __tablename__ = "offer_sets"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user: Mapped[str] = mapped_column(String(255), index=True)
    created: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(255))
    expires: Mapped[datetime] = mapped_column(UTCDateTime)
    request: Mapped[str] = mapped_column(Text)  # the request as given (JSON)
    result: Mapped[str] = mapped_column(String(3))
    messages: Mapped[str] = mapped_column(Text)  # JSON list of strings
    __table_args__ = (CheckConstraint("result IN ('YES', 'NO')", name="offer_set_result"),)


class Booking(Base):
    """A user's claim on a pool's resources over [start, end), or an offer of one.

    The footprint (millicores, mib) is copied from the package version at booking
    time, so the timeline can be rebuilt from this table alone. Cancelled bookings
    are kept for history. `phase` is where it is in its lifecycle (domain.MOVES; each
    move is a row of booking_transitions); `state` says what it holds: 'offered' and
    'booked' count in the timeline, 'cancelled' does not. An offer (`offer_set_id`) is
    held until `expires`.
    """

    __tablename__ = "bookings"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user: Mapped[str] = mapped_column(String(255), index=True)
    pool_id: Mapped[int] = mapped_column(ForeignKey("pools.id", ondelete="CASCADE"))
    package_id: Mapped[int | None] = mapped_column(ForeignKey("package_templates.id"), nullable=True)
    start: Mapped[datetime] = mapped_column(UTCDateTime)
    end: Mapped[datetime] = mapped_column(UTCDateTime)
    millicores: Mapped[int] = mapped_column(BigInteger)
    mib: Mapped[int] = mapped_column(BigInteger)
    state: Mapped[str] = mapped_column(String(16), default="booked")
    created: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(255))
    cancelled: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    cancel_reason: Mapped[str | None] = mapped_column(Text, nullable=True)  # e.g. "account deleted"
    changed_version: Mapped[int] = mapped_column(BigInteger)
    phase: Mapped[str] = mapped_column(String(16))
    offer_set_id: Mapped[int | None] = mapped_column(ForeignKey("offer_sets.id"), nullable=True)
    offer_index: Mapped[int | None] = mapped_column(Integer, nullable=True)  # n in the set's offers
    expires: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)  # an offer's hold
    # the BookingSeries this is an occurrence of (migration 0005_series). No foreign key:
    # SQLite adds one only by copying the table, and dropping the old copy would cascade
    # to the bookings' transitions; a series is never deleted but with its bookings.
    series_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    __table_args__ = (
        CheckConstraint('"end" > start', name="booking_interval"),
        CheckConstraint("state IN ('booked', 'cancelled', 'offered')", name="booking_state"),
        CheckConstraint(f"phase IN ({PHASE_SQL})", name="booking_phase"),
        CheckConstraint(STATE_OF_PHASE_SQL, name="booking_state_of_phase"),
        Index("ix_bookings_pool_changed", "pool_id", "changed_version"),
        Index("ix_bookings_pool_time", "pool_id", "start", "end"),
        Index("ix_bookings_offer_set", "offer_set_id", "offer_index"),
        Index("ix_bookings_state_expires", "state", "expires"),
    )


class BookingSeries(Base):
    """A recurring booking (migration 0005_series): the rule as the user gave it (a local
    first start in an IANA zone, a duration, an RFC 5545 RRULE) and the occurrences
    "fit" skipped; its occurrences are the bookings whose `series_id` points here."""

    __tablename__ = "booking_series"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user: Mapped[str] = mapped_column(String(255), index=True)
    pool_id: Mapped[int] = mapped_column(ForeignKey("pools.id", ondelete="CASCADE"))
    package_id: Mapped[int | None] = mapped_column(ForeignKey("package_templates.id"), nullable=True)
    millicores: Mapped[int] = mapped_column(BigInteger)
    mib: Mapped[int] = mapped_column(BigInteger)
    start: Mapped[str] = mapped_column(String(32))  # the first start, on the wall clock of `tz`
    tz: Mapped[str] = mapped_column(String(64))
    duration: Mapped[str] = mapped_column(String(40))  # ISO 8601, as given
    rrule: Mapped[str] = mapped_column(Text)
    mode: Mapped[str] = mapped_column(String(8))
    skipped: Mapped[str] = mapped_column(Text)  # JSON list: the occurrences "fit" left out, and why
    created: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(255))
    cancelled: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    __table_args__ = (CheckConstraint("mode IN ('all', 'fit')", name="series_mode"),)


class BookingTransition(Base):
    """One move of a booking from phase to phase (`from_phase` null: it began), when, why
    and by whom (a hub name, or "lifecycle" for the service's own loop)."""

    __tablename__ = "booking_transitions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    booking_id: Mapped[int] = mapped_column(ForeignKey("bookings.id", ondelete="CASCADE"))
    from_phase: Mapped[str | None] = mapped_column(String(16), nullable=True)
    to_phase: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    cause: Mapped[str] = mapped_column(Text)
    by: Mapped[str] = mapped_column(String(255))
    __table_args__ = (Index("ix_transitions_booking", "booking_id", "id"),)


class Session(Base):
    """A running (or stopped) server and what it holds.

    A session from a booking holds nothing more than the booking does; a walk-in
    session on a shared pool holds its package's footprint from `started` until
    `stopped`, so walk-in users never take more than the shared pool has.
    """

    __tablename__ = "sessions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user: Mapped[str] = mapped_column(String(255), index=True)
    server_name: Mapped[str] = mapped_column(String(255), default="")
    pool_id: Mapped[int] = mapped_column(ForeignKey("pools.id", ondelete="CASCADE"))
    booking_id: Mapped[int | None] = mapped_column(ForeignKey("bookings.id"), nullable=True)
    package_id: Mapped[int | None] = mapped_column(ForeignKey("package_templates.id"), nullable=True)
    millicores: Mapped[int] = mapped_column(BigInteger)
    mib: Mapped[int] = mapped_column(BigInteger)
    flavour: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(16))
    started: Mapped[datetime] = mapped_column(UTCDateTime)
    stopped: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    stop_reason: Mapped[str] = mapped_column(Text, default="")
    changed_version: Mapped[int] = mapped_column(BigInteger)
    __table_args__ = (
        CheckConstraint("state IN ('running', 'stopped')", name="session_state"),
        Index("ix_sessions_pool_changed", "pool_id", "changed_version"),
        Index("ix_sessions_state", "state"),
    )


class QueueEntry(Base):
    """A place in a shared pool's first-come first-served queue (seed 001).

    `waiting` until room frees; then `offered` with a hold (`hold_until`) that keeps
    the slot for this user; `claimed` when the user starts, `expired` when the hold
    runs out, `left` when the user gives up.
    """

    __tablename__ = "queue_entries"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user: Mapped[str] = mapped_column(String(255))
    pool_id: Mapped[int] = mapped_column(ForeignKey("pools.id", ondelete="CASCADE"))
    package_id: Mapped[int] = mapped_column(ForeignKey("package_templates.id"))
    millicores: Mapped[int] = mapped_column(BigInteger)
    mib: Mapped[int] = mapped_column(BigInteger)
    state: Mapped[str] = mapped_column(String(16))
    joined: Mapped[datetime] = mapped_column(UTCDateTime)
    offered: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    hold_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    end_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    changed_version: Mapped[int] = mapped_column(BigInteger)
    __table_args__ = (
        CheckConstraint("state IN ('waiting', 'offered', 'claimed', 'expired', 'left')", name="queue_state"),
        Index("ix_queue_pool_state", "pool_id", "state", "id"),
        Index("ix_queue_pool_changed", "pool_id", "changed_version"),
    )


class Lease(Base):
    """Who runs a singleton job (the lifecycle loop) until when: the database decides,
    so with several service processes exactly one runs it."""

    __tablename__ = "leases"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(255))
    expires: Mapped[datetime] = mapped_column(UTCDateTime)
