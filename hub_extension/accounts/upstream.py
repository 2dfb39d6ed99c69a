"""The JupyterHub internals the account workflows depend on, fenced in one place.

Each function follows upstream lines named in its docstring (JupyterHub 6.1, which
setup.cfg pins below 7); tests/test_upstream.py fails loudly when they move.
"""

from __future__ import annotations

import asyncio

from jupyterhub import orm


def end_other_sessions(handler, user) -> int:
    """Log `user` out of every browser session but the one of `handler`'s request, if that
    is `user`'s own; returns how many session tokens were revoked.

    - Every hub cookie names its user by `orm.User.cookie_id`, looked up on each request
      (`BaseHandler._user_for_cookie`, handlers/base.py#L505-L520): a new cookie_id makes
      every hub cookie of the user invalid at once.
    - Single-user servers and services hold OAuth tokens issued for a browser session,
      with that session's id (`orm.APIToken.session_id`, orm.py#L1132); the hub's own
      logout deletes those of the session it ends (`clear_login_cookie`,
      handlers/base.py#L643-L670). Here: those of every other session. Tokens without a
      session (the servers' own, the user's API tokens) are left alone.
    - `set_login_cookie` gives this request's browser a cookie with the new cookie_id
      and a matching _xsrf cookie (handlers/base.py#L780-L804).

    Lines under https://github.com/jupyterhub/jupyterhub/blob/6.1.1/jupyterhub/
    """
    orm_user = user.orm_user
    current = handler.current_user
    keep = handler.get_session_cookie() if current is not None and current.name == user.name else None
    orm_user.cookie_id = orm.new_token()
    tokens = handler.db.query(orm.APIToken).filter(
        orm.APIToken.user_id == orm_user.id, orm.APIToken.session_id.is_not(None))
    revoked = 0
    for token in tokens:
        if token.session_id != keep:
            handler.db.delete(token)
            revoked += 1
    handler.db.commit()
    if keep is not None:
        handler.set_login_cookie(user)
    return revoked


async def settle_server(user, name: str, stop) -> None:
    """Bring `user`'s server `name` to rest so it can be deleted: a pending start is
    cancelled, a pending stop awaited, a running (or half-started) server stopped with
    `stop(user, name)` (the handler's stop_single_user, which also removes the proxy's
    route, or `user.stop`), and that stop awaited to its end.

    The cancel is how the hub's own API interrupts a pending start
    (apihandlers/users.py#L919-L933): `Spawner._spawn_future` is the task that runs
    `User.spawn`; cancelling it cancels `Spawner.start`, and its done-callback clears
    `_spawn_pending` (handlers/base.py#L1228-L1241). `_stop_future` is the stop in
    progress (handlers/base.py#L1470). Lines under
    https://github.com/jupyterhub/jupyterhub/blob/6.1.1/jupyterhub/
    """
    spawner = user.spawners[name]
    if spawner.pending == "spawn" and spawner._spawn_future is not None:
        spawn = spawner._spawn_future
        spawn.cancel()
        await asyncio.wait([spawn])
    stopping = getattr(spawner, "_stop_future", None)  # set only while stop_single_user runs
    if spawner.pending == "stop" and stopping is not None:
        await asyncio.wait([stopping])
    if spawner.active and not spawner.pending:
        stopping = await stop(user, name)
        if asyncio.isfuture(stopping):
            await asyncio.wait([stopping])


def validated_next(handler, next_url: str) -> str:
    """`next_url` if the hub's own check lets it through (same host, under the hub's base
    URL), else "": `BaseHandler._validate_next_url`, which `get_next_url` uses but which
    has no public form for a URL that is not the request's own `next` argument (a login
    link's, checked when the link is made and again when it is used):
    https://github.com/jupyterhub/jupyterhub/blob/6.1.1/jupyterhub/handlers/base.py#L809"""
    return handler._validate_next_url(next_url)


def log_out_deleted(handler, name: str) -> None:
    """After a trial account is deleted on logout: what the hub's logout does for a user
    who still exists (log line, cookies cleared: `LogoutHandler._backend_logout_cleanup`,
    handlers/login.py#L42), and forget the request's cached user (`_jupyterhub_user`, which
    `current_user` returns: handlers/base.py#L108) so the page rendered next is anonymous.
    https://github.com/jupyterhub/jupyterhub/blob/6.1.1/jupyterhub/handlers/login.py#L42"""
    handler._backend_logout_cleanup(name)
    handler._jupyterhub_user = None


def set_current_user(handler, user) -> None:
    """Make `user` the request's current user right after logging them in, as the hub's
    own login does (handlers/login.py#L211), so a redirect computed next is theirs."""
    handler._jupyterhub_user = user
