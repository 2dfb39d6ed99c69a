"""The account store: every read and write of the account tables (tables.py).

Synchronous SQLAlchemy, like the hub's own database code: the hub runs one thread, so a
store call made between two awaits is not interleaved with another request's. What must
hold across processes (a code used once, an identity owned once, a name taken once) is
held by the database: a conditional UPDATE, unique keys, primary keys.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload, sessionmaker

from aglais_common import db as database

from . import credentials
from .tables import Account, Attempt, Code, Identity, Password, Tombstone

log = logging.getLogger("aglais.accounts")
MIGRATIONS = Path(__file__).parent / "migrations"
MIGRATION_LOCK_KEY = 0x61676C62  # PostgreSQL advisory lock around the migrations


def now() -> datetime:
    return datetime.now(timezone.utc)


class AccountError(Exception):
    """A refusal a person can act on: `status` is the HTTP status, the message says why."""

    status = 400

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status


class NameTaken(AccountError):
    status = 409


class IdentityTaken(AccountError):
    status = 409


@dataclass(frozen=True)
class LoginResult:
    account: Account | None
    reason: str  # ok | wrong | unconfirmed


class AccountStore:
    def __init__(self, url: str, *, upgrade: bool = True, name_reuse: timedelta = timedelta(0)):
        self.url = url
        self.name_reuse = name_reuse  # how long a deleted account's name is not handed out again
        # the hub calls the store between awaits, on its one thread: a blocking engine
        self.engine = database.make_sync_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        if upgrade:
            self.upgrade()

    def upgrade(self, revision: str = "head") -> None:
        with self.engine.begin() as conn:
            database.upgrade_connection(conn, MIGRATIONS, lock_key=MIGRATION_LOCK_KEY, revision=revision)

    @contextlib.contextmanager
    def session(self):
        with self._sessions() as db, db.begin():
            yield db

    # accounts ---------------------------------------------------------------------------

    def get(self, name: str) -> Account | None:
        with self.session() as db:
            return db.scalar(select(Account).where(Account.name == name).options(
                selectinload(Account.identities), selectinload(Account.password)))

    def names(self) -> list[str]:
        with self.session() as db:
            return list(db.scalars(select(Account.name).order_by(Account.name)))

    def create(self, name: str, *, level: str, transient: bool = False, terms: bool = False,
               attributes: dict | None = None, check_name: bool = True) -> Account:
        """A new account under the normalised `name`; NameTaken if it exists. Names we make
        or take from a form follow NAME_RE; `check_name=False` is for names the hub
        already accepted (its REST API, its configuration)."""
        if check_name and (name != credentials.normalise_name(name) or not credentials.NAME_RE.match(name)):
            raise AccountError(
                "A name is 1 to 63 lower-case letters, digits, '.', '_' or '-', starting with a letter or digit.")
        account = Account(name=name, created=now(), transient=transient, initial_level=level,
                          terms_accepted=now() if terms else None, attributes=attributes or {})
        try:
            with self.session() as db:
                db.add(account)
        except IntegrityError:
            raise NameTaken(f"The name {name!r} is taken.") from None
        return self.get(name)

    def free_name(self, wanted: str, taken=lambda name: False) -> str:
        """`wanted` made into a valid account name that no account (nor `taken`) has."""
        base = "".join(ch if ch.isalnum() or ch in "._-" else "-" for ch in credentials.normalise_name(wanted))
        base = base.encode("ascii", "ignore").decode().strip("._-")[:50] or "user"
        with self.session() as db:
            existing = set(db.scalars(select(Account.name).where(Account.name.like(base + "%"))))
            existing |= set(db.scalars(select(Tombstone.name).where(
                Tombstone.name.like(base + "%"), Tombstone.deleted > now() - self.name_reuse)))
        candidate, n = base, 1
        while candidate in existing or taken(candidate):
            n += 1
            candidate = f"{base}-{n}"
        return candidate

    def delete(self, name: str) -> bool:
        """Delete a row that never became anyone's account (a lost race); a hub user's
        account goes with forget()."""
        with self.session() as db:
            return db.execute(delete(Account).where(Account.name == name)).rowcount > 0

    def forget(self, name: str, *, attempt_keys=()) -> bool:
        """A hub user was deleted: the account with its identities, password and codes, the
        throttles' counts under `attempt_keys`, and a tombstone so free_name does not hand
        the name out again within `name_reuse`. One transaction: all or nothing."""
        with self.session() as db:
            gone = db.execute(delete(Account).where(Account.name == name)).rowcount > 0
            if attempt_keys:
                db.execute(delete(Attempt).where(Attempt.key.in_(list(attempt_keys))))
            if self.name_reuse > timedelta(0):
                db.execute(delete(Tombstone).where(Tombstone.name == name))
                db.add(Tombstone(name=name, deleted=now()))
            db.execute(delete(Tombstone).where(Tombstone.deleted <= now() - self.name_reuse))
        return gone

    def update(self, name: str, **values) -> None:
        with self.session() as db:
            db.execute(update(Account).where(Account.name == name).values(**values))

    def count_transient(self) -> int:
        with self.session() as db:
            return db.scalar(select(func.count()).select_from(Account).where(Account.transient.is_(True)))

    # identities ---------------------------------------------------------------------------

    def find_identity(self, provider: str, subject: str) -> Identity | None:
        with self.session() as db:
            return db.scalar(select(Identity).where(Identity.provider == provider, Identity.subject == subject))

    def add_identity(self, name: str, provider: str, subject: str, *, email: str | None = None,
                     confirmed: bool = False, label: str | None = None) -> Identity:
        identity = Identity(account_name=name, provider=provider, subject=subject, email=email,
                            confirmed=confirmed, label=label, created=now())
        try:
            with self.session() as db:
                db.add(identity)
        except IntegrityError:
            raise IdentityTaken("This identity already belongs to an account.") from None
        return identity

    def delete_identity(self, identity_id: int) -> None:
        with self.session() as db:
            db.execute(delete(Identity).where(Identity.id == identity_id))

    def email_of(self, name: str) -> str | None:
        """The address to write to: a confirmed one, the most recent first."""
        with self.session() as db:
            return db.scalar(select(Identity.email).where(
                Identity.account_name == name, Identity.confirmed.is_(True), Identity.email.is_not(None),
            ).order_by(Identity.id.desc()).limit(1))

    # passwords ----------------------------------------------------------------------------

    def set_password(self, name: str, password: str) -> None:
        self.set_password_hash(name, credentials.hash_password(password))

    def set_password_hash(self, name: str, hashed: str, *, db=None) -> None:
        if db is None:
            with self.session() as db:
                return self.set_password_hash(name, hashed, db=db)
        row = db.get(Password, name)
        if row is None:
            db.add(Password(account_name=name, hash=hashed, changed=now()))
        else:
            row.hash, row.changed = hashed, now()

    def check_login(self, login: str, password: str) -> LoginResult:
        """`login` is an account name or an email address. Costs one argon2 verify either way.

        An address that only has a sign-up waiting for confirmation is checked against
        that sign-up's password (in place of the dummy hash, so it costs the same): the
        person who chose it is told to confirm first; nobody else learns anything."""
        key = credentials.normalise_name(login)
        pending_hash = None
        with self.session() as db:
            if "@" in key:
                identity = db.scalar(select(Identity).where(Identity.provider == "email", Identity.subject == key))
                name = identity.account_name if identity else None
                if identity is None:
                    pending_hash = db.scalar(self._live_signups(key).with_only_columns(Code.password_hash))
            else:
                name = key
            row = db.get(Password, name) if name else None
        if pending_hash is not None:
            matched = credentials.verify_password(pending_hash, password)
            return LoginResult(None, "unconfirmed" if matched else "wrong")
        if not credentials.verify_password(row.hash if row else None, password):
            return LoginResult(None, "wrong")
        account = self.get(name)
        if account is None:
            return LoginResult(None, "wrong")
        if credentials.needs_rehash(row.hash):
            self.set_password(name, password)
        return LoginResult(account, "ok")

    # single-use codes ------------------------------------------------------------------------

    def issue_code(self, name: str | None, purpose: str, lifetime: timedelta, *, next_url: str | None = None,
                   email: str | None = None, password_hash: str | None = None, contested: bool = False,
                   db=None) -> tuple[str, datetime]:
        if db is None:
            with self.session() as db:
                return self.issue_code(name, purpose, lifetime, next_url=next_url, email=email,
                                       password_hash=password_hash, contested=contested, db=db)
        code, digest = credentials.new_code()
        created = now()
        db.add(Code(digest=digest, purpose=purpose, account_name=name, created=created, expires=created + lifetime,
                    next_url=next_url, email=email, password_hash=password_hash, contested=contested))
        return code, created + lifetime

    def void_codes(self, name: str) -> int:
        """Every outstanding code of account `name` stops working (its password changed)."""
        with self.session() as db:
            return db.execute(update(Code).where(Code.account_name == name, Code.used.is_(None)).values(
                used=now())).rowcount

    # sign-ups: a confirmation code carries the sign-up until it is used --------------------

    @staticmethod
    def _live_signups(email: str):
        return select(Code).where(Code.purpose == "confirm", Code.email == email, Code.used.is_(None),
                                  Code.expires > now()).order_by(Code.created.desc()).limit(1)

    def start_signup(self, email: str, lifetime: timedelta, *, password_hash: str | None,
                     name: str | None = None) -> tuple[str, datetime]:
        """A sign-up for `email` (for account `name`, or for an account made on confirmation):
        a new confirmation code carrying it. Every earlier sign-up for the address is void
        in the same transaction, with its password: only the newest sign-up can win. If
        one was still waiting, the new one is `contested`: its confirmation asks for its
        password, so a sign-up made after the owner's cannot be confirmed by the owner
        unawares (the owner's mailbox gets its code)."""
        with self.session() as db:
            contested = db.execute(update(Code).where(
                Code.purpose == "confirm", Code.email == email, Code.used.is_(None), Code.expires > now(),
            ).values(used=now())).rowcount > 0
            db.execute(update(Code).where(Code.purpose == "confirm", Code.email == email, Code.used.is_(None)).values(
                used=now()))
            return self.issue_code(name, "confirm", lifetime, email=email, password_hash=password_hash,
                                   contested=contested and password_hash is not None, db=db)

    def renew_signup(self, email: str, lifetime: timedelta) -> tuple[str, datetime] | None:
        """The waiting sign-up for `email` under an additional code, for mailing it again
        (supersede() voids the older codes once that mail is out). None if none waits."""
        with self.session() as db:
            row = db.scalar(self._live_signups(email))
            if row is None:
                return None
            return self.issue_code(row.account_name, "confirm", lifetime, email=email,
                                   password_hash=row.password_hash, contested=row.contested, db=db)

    def supersede(self, email: str, keep: str) -> None:
        """Every other waiting sign-up code for `email` than the code `keep` is void."""
        with self.session() as db:
            db.execute(update(Code).where(Code.purpose == "confirm", Code.email == email, Code.used.is_(None),
                                          Code.digest != credentials.digest(keep)).values(used=now()))

    def discard_code(self, code: str) -> None:
        """A code whose mail could not go: it never existed."""
        with self.session() as db:
            db.execute(delete(Code).where(Code.digest == credentials.digest(code)))

    def complete_signup(self, row: Code, *, name: str, level: str, terms: bool) -> str:
        """The sign-up of a used confirmation code takes effect, in one transaction: the
        account (`name`, made now unless the code was for an existing one), its confirmed
        address, the sign-up's password. IdentityTaken if the address was confirmed for an
        account meanwhile; AccountError if the code's account is gone."""
        target = row.account_name or name
        try:
            with self.session() as db:
                if row.account_name is None:
                    db.add(Account(name=target, created=now(), transient=False, initial_level=level,
                                   terms_accepted=now() if terms else None, attributes={}))
                    try:
                        db.flush()
                    except IntegrityError:
                        raise NameTaken(f"The name {target!r} was taken meanwhile: press Confirm again.") from None
                elif db.get(Account, target) is None:
                    raise AccountError("The account this link was for no longer exists.", 410)
                db.add(Identity(account_name=target, provider="email", subject=row.email, email=row.email,
                                confirmed=True, label=row.email, created=now()))
                db.flush()  # the unique keys decide here, before the password is written
                if row.password_hash:
                    self.set_password_hash(target, row.password_hash, db=db)
                db.execute(update(Code).where(Code.purpose == "confirm", Code.email == row.email,
                                              Code.used.is_(None)).values(used=now()))
        except IntegrityError:
            raise IdentityTaken("This address already belongs to an account: log in, or reset its password.") from None
        return target

    def peek_code(self, code: str, purpose: str) -> tuple[Code | None, str]:
        """The code's record without using it (a GET must not change state): (code, state)
        where state is ok, used, expired or unknown."""
        digest = credentials.digest(code or "")
        with self.session() as db:
            row = db.get(Code, digest)
        if row is None or row.purpose != purpose or not credentials.same_digest(row.digest, code):
            return None, "unknown"
        if row.used is not None:
            return row, "used"
        if row.expires <= now():
            return row, "expired"
        return row, "ok"

    def use_code(self, code: str, purpose: str) -> tuple[Code | None, str]:
        """Use the code once: the conditional UPDATE lets exactly one caller win."""
        row, state = self.peek_code(code, purpose)
        if state != "ok":
            return row, state
        with self.session() as db:
            won = db.execute(update(Code).where(
                Code.digest == row.digest, Code.used.is_(None), Code.expires > now(),
            ).values(used=now())).rowcount == 1
        return (row, "ok") if won else (row, "used")

    def purge_codes(self, older_than: timedelta = timedelta(days=7)) -> int:
        with self.session() as db:
            return db.execute(delete(Code).where(Code.expires < now() - older_than)).rowcount

    # counted attempts (throttle.py decides what they mean) ---------------------------------------

    def count_attempts(self, key: str, since: datetime) -> tuple[int, datetime | None]:
        with self.session() as db:
            count, oldest = db.execute(select(func.count(), func.min(Attempt.at)).where(
                Attempt.key == key, Attempt.at > since)).one()
        if oldest is not None and oldest.tzinfo is None:  # min() bypasses the column type
            oldest = oldest.replace(tzinfo=timezone.utc)
        return count, oldest

    def record_attempt(self, key: str) -> None:
        with self.session() as db:
            db.add(Attempt(key=key, at=now()))

    def clear_attempts(self, key: str) -> None:
        with self.session() as db:
            db.execute(delete(Attempt).where(Attempt.key == key))

    def purge_attempts(self, before: datetime) -> int:
        with self.session() as db:
            return db.execute(delete(Attempt).where(Attempt.at < before)).rowcount
