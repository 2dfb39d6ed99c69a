"""argon2's own threads: every password hash and check runs here, so that no other work
on the hub's threads (the default executor, the account page's home scans) can queue
ahead of a login, and a burst of logins queues only behind other logins."""

from __future__ import annotations

import asyncio
import functools
import os
from concurrent.futures import ThreadPoolExecutor

# argon2 is CPU-bound and releases the GIL: one thread per core keeps the cores busy and
# no more. Threads start on first use.
_ARGON2 = ThreadPoolExecutor(max_workers=os.cpu_count() or 2, thread_name_prefix="argon2")


async def argon2(call, *args, **kwargs):
    """`call(*args, **kwargs)` on argon2's threads: for anything that hashes or verifies
    a password (AccountStore.check_login, set_password, credentials.hash_password)."""
    return await asyncio.get_running_loop().run_in_executor(_ARGON2, functools.partial(call, *args, **kwargs))
