"""A secret kept in a file of its owner's only, made with a random value at the first
start: the calendar feeds' key (BookingService.feed_secret_file).

As JupyterHub keeps its cookie secret (JupyterHub.init_secrets with cookie_secret_file:
read the file if it exists, refusing one others may read; else write a new random
secret there and chmod it 0600), except that the file is 0600 from its making and is
put in place whole (a hard link of a finished temporary file), so no one reads it
half-written or while others may, and processes starting at once end with one secret."""

from __future__ import annotations

import logging
import os
import secrets
import tempfile


def read_or_make(path: str, *, least: int, name: str, log: logging.Logger) -> bytes:
    """The secret in `path` (stripped text, at least `least` bytes), made first if it
    does not exist (`least` random bytes, in hex). Raises ValueError, naming the option
    `name`, for a file others may read or write, or one too short."""
    path = os.path.abspath(os.path.expanduser(path))
    if not os.path.exists(path):
        fd, temporary = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".secret.")  # mode 0600
        try:
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(least) + "\n")
            os.link(temporary, path)
            log.info("Wrote a new secret for %s to %s", name, path)
        except FileExistsError:  # another process made it first: use theirs
            pass
        finally:
            os.unlink(temporary)
    if os.stat(path).st_mode & 0o077:
        raise ValueError(f"{name}: {path} may be read or written by others than its owner; "
                         f"make it its owner's only (chmod 600)")
    with open(path) as f:
        secret = f.read().strip().encode()
    if len(secret) < least:
        raise ValueError(f"{name}: {path} holds less than {least} bytes; put a longer secret there "
                         f"(e.g. `openssl rand -hex 32`), or delete it to have a new one made")
    return secret
