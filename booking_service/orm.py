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
    # the BookingSeries this is an occurrence of (migration 0009_series). No foreign key:
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
    """A recurring booking (migration 0009_series): the rule as the user gave it (a local
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


class CalendarFeed(Base):
    """A user's private calendar feed (migrations 0005_ical, 0010_icalurl): the random
    nonce its token is derived from with the service's feed secret (operations/ical.py),
    and the token's sha256 to look it up by; never the token itself, so the database
    alone opens no one's feed. One per user; renewing replaces nonce and hash, revoking
    deletes the row."""

    __tablename__ = "calendar_feeds"
    user: Mapped[str] = mapped_column(String(255), primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64))
    created: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(255))
    nonce: Mapped[str] = mapped_column(String(64))
    __table_args__ = (UniqueConstraint("token_hash", name="calendar_feed_token"),)


class Notice(Base):
    """Something a user should hear of (a booking about to start, a failed one, a freed walk-in
    place; migration 0006_notices): shown in the notebook and on the calendar until read, and
    mailed where the user has an address. `key` names the event (kind, what and when), and is
    unique, so an event makes one notice however many processes or rounds see it."""

    __tablename__ = "notices"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(32))
    key: Mapped[str] = mapped_column(String(255), unique=True)
    booking_id: Mapped[int | None] = mapped_column(ForeignKey("bookings.id", ondelete="CASCADE"), nullable=True)
    text: Mapped[str] = mapped_column(Text)
    created: Mapped[datetime] = mapped_column(UTCDateTime)
    read: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # 'pending' until the hub took it ('sent'), had no address for the user ('no-address'),
    # or it was given up on ('failed', after `mail_tries`) or not to be mailed ('off')
    mail_state: Mapped[str] = mapped_column(String(16))
    mail_tries: Mapped[int] = mapped_column(Integer, default=0)
    __table_args__ = (
        CheckConstraint("mail_state IN ('pending', 'sent', 'no-address', 'failed', 'off')", name="notice_mail_state"),
        Index("ix_notices_user", "user", "id"),
        Index("ix_notices_mail", "mail_state", "id"),
    )


# The lifecycle loop asks each round which bookings start or end soon, across every pool
# (notices at their lead times, phases at their start and end): by phase and time, not by
# pool (migration 0006_notices). Phase first: every such query names the phases it wants,
# so the finished bookings (most of a pool's history, still state 'booked' when COMPLETED)
# are never walked; with (state, time) SQLite walked every past booking (docs/performance.md, G).
Index("ix_bookings_phase_start", Booking.phase, Booking.start)
Index("ix_bookings_phase_end", Booking.phase, Booking.end)


class PlatformOffer(Base):
    """An offer of an offer set held on another platform (migration 0007_platforms): a
    remote booking service's offer (`ref`: its offer set, index and booking) or a Blazar
    lease (`ref`: the lease id). Local offers are bookings; these are what the set knows
    of the others, in the same numbering (`offer_index`). `phase` is OFFERED until it is
    ACCEPTED (ACCEPTING while the platform is asked), REJECTED or EXPIRED; `history` the
    transitions as JSON, `remote` what the platform said of the booking it made."""

    __tablename__ = "platform_offers"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    offer_set_id: Mapped[int] = mapped_column(ForeignKey("offer_sets.id", ondelete="CASCADE"))
    offer_index: Mapped[int] = mapped_column(Integer)
    platform: Mapped[str] = mapped_column(String(64))
    pool: Mapped[str] = mapped_column(String(64))
    user: Mapped[str] = mapped_column(String(255))
    package: Mapped[str | None] = mapped_column(String(64), nullable=True)
    start: Mapped[datetime] = mapped_column(UTCDateTime)
    end: Mapped[datetime] = mapped_column(UTCDateTime)
    millicores: Mapped[int] = mapped_column(BigInteger)
    mib: Mapped[int] = mapped_column(BigInteger)
    phase: Mapped[str] = mapped_column(String(16))
    created: Mapped[datetime] = mapped_column(UTCDateTime)
    expires: Mapped[datetime] = mapped_column(UTCDateTime)
    ref: Mapped[str] = mapped_column(Text)  # JSON
    remote: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON
    history: Mapped[str] = mapped_column(Text)  # JSON list of transitions
    __table_args__ = (
        CheckConstraint("phase IN ('OFFERED', 'ACCEPTING', 'ACCEPTED', 'REJECTED', 'EXPIRED')",
                        name="platform_offer_phase"),
        UniqueConstraint("offer_set_id", "offer_index", name="platform_offer_place"),
        Index("ix_platform_offers_phase_expires", "phase", "expires"),
    )


STEP_STATES = ("PENDING", "RUNNING", "COMPLETED", "FAILED", "CANCELLED")


class PreparationStep(Base):
    """One thing that must be done before a booking starts (migration 0008_prep): staging a
    file, making a directory, pulling an image. Steps of a booking run one after another in
    `position` order; `quote_seconds` is how long the step is expected to take, and `due`
    when it is to start if every step before it takes its quote (the first step's `due` is
    when the booking enters PREPARING). A worker completes it by a callback that carries
    the step's secret, stored here only as its SHA-256 (`secret_hash`)."""

    __tablename__ = "preparation_steps"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    booking_id: Mapped[int] = mapped_column(ForeignKey("bookings.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(64))
    params: Mapped[str] = mapped_column(Text)  # JSON object, as the worker gets it
    quote_seconds: Mapped[int] = mapped_column(Integer)
    due: Mapped[datetime] = mapped_column(UTCDateTime)
    state: Mapped[str] = mapped_column(String(16))
    secret_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    message: Mapped[str] = mapped_column(Text, default="")
    started: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    finished: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    __table_args__ = (
        CheckConstraint("state IN ('PENDING', 'RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED')", name="step_state"),
        UniqueConstraint("booking_id", "position", name="step_position"),
        Index("ix_steps_state_due", "state", "due"),
    )
