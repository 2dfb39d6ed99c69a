"""Names, addresses, passwords and single-use codes: how each is normalised, hashed and checked.

Passwords: argon2id through argon2-cffi (its verify is constant-time and its hashes carry
their own parameters, so raising them later rehashes on the next login).
Codes and tokens: 32 random bytes for the user, only their SHA-256 for the database; a
lookup by digest plus `hmac.compare_digest` means no secret is ever compared byte by
byte with a secret of ours.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import unicodedata

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
# Verified against when the account does not exist, so that an unknown name takes as
# long as a wrong password (no user enumeration by timing).
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))

MIN_PASSWORD = 10
MAX_PASSWORD = 1024  # argon2 hashes anything, but a megabyte password is an attack
EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s.]{2,63}$")
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")


class CredentialError(ValueError):
    """Input a person must fix; the message says how."""


def normalise_name(raw: str) -> str:
    """The one spelling of an account name: NFKC, trimmed, case-folded."""
    return unicodedata.normalize("NFKC", raw or "").strip().casefold()


def normalise_email(raw: str) -> str:
    """The one spelling of an address, as normalise_name; raises CredentialError if it isn't one."""
    address = normalise_name(raw)
    if not EMAIL_RE.match(address) or len(address) > 320:
        raise CredentialError("Enter an email address such as name@example.org.")
    return address


def is_safe_next(next_url: str) -> bool:
    """False if `next_url` holds a control character (CR, LF, NUL, ...) or a Unicode line
    break: such a URL cannot go into a Location header, and the hub's next-URL check lets
    it through. Login links check this when they are made (api.py) and when used."""
    return not any(unicodedata.category(ch) in ("Cc", "Zl", "Zp") for ch in next_url)


def check_new_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise CredentialError(f"Choose a password of at least {MIN_PASSWORD} characters.")
    if len(password) > MAX_PASSWORD:
        raise CredentialError(f"Choose a password of at most {MAX_PASSWORD} characters.")
    return password


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    """True if `password` matches `stored`; an absent hash costs the same time as a wrong one."""
    if len(password) > MAX_PASSWORD:
        return False
    try:
        return _hasher.verify(stored or _DUMMY_HASH, password) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    return _hasher.check_needs_rehash(stored)


def new_code() -> tuple[str, str]:
    """A code for the user and the digest to store."""
    code = secrets.token_urlsafe(32)
    return code, digest(code)


def digest(code: str) -> str:
    return hashlib.sha256(code.encode("utf-8", "surrogatepass")).hexdigest()


def same_digest(stored: str, code: str) -> bool:
    return hmac.compare_digest(stored, digest(code))
