"""The upstream private API we rely on, checked against the installed versions.

Each name here is used in exactly one fenced place of ours (named below), with a link to
the upstream line. When an upgrade renames or reshapes one, this fails with the name,
before a user meets an AttributeError at spawn or login time."""

import inspect

import pytest
from jupyterhub.handlers.base import BaseHandler
from jupyterhub.handlers.login import LoginHandler, LogoutHandler
from jupyterhub import orm
from jupyterhub.spawner import Spawner
from kubespawner import KubeSpawner

PRIVATE = [
    # spawner/kube.py, "kubespawner's private API"
    (KubeSpawner, "_render_options_form", ["self", "profile_list"]),
    (KubeSpawner, "_options_from_form", ["self", "formdata"]),
    (KubeSpawner, "_sorted_dict_values", ["self", "src"]),
    # hub_extension/accounts/pages.py overrides it; the rest: hub_extension/accounts/upstream.py
    (LoginHandler, "_render", ["self", "login_error", "username", "kwargs"]),
    (LogoutHandler, "_backend_logout_cleanup", ["self", "name"]),
    (BaseHandler, "_validate_next_url", ["self", "next_url"]),
    (BaseHandler, "stop_single_user", ["self", "user", "server_name"]),
    (BaseHandler, "set_login_cookie", ["self", "user"]),
    (BaseHandler, "get_session_cookie", ["self"]),
]

# hub_extension/accounts/upstream.py: what settle_server and end_other_sessions read and
# write, and the upstream lines whose behaviour they follow
ATTRIBUTES = [(Spawner, "_spawn_future"), (orm.User, "cookie_id"), (orm.APIToken, "session_id"),
              (orm, "new_token")]
SOURCES = [
    (BaseHandler.stop_single_user, "spawner._stop_future = "),  # the stop in progress
    (BaseHandler.spawn_single_user, "spawner._spawn_pending = False"),  # cleared when the spawn future is done
    (BaseHandler._user_for_cookie, "orm.User.cookie_id == cookie_id"),  # a hub cookie names its user by cookie_id
    (BaseHandler.clear_login_cookie, "session_id=session_id"),  # logout revokes its session's tokens
    (LoginHandler.post, "self._jupyterhub_user = user"),  # the request's user right after login
]


@pytest.mark.parametrize("owner, name, params", PRIVATE, ids=[f"{o.__name__}.{n}" for o, n, _ in PRIVATE])
def test_private_api_is_still_there(owner, name, params):
    member = getattr(owner, name, None)
    assert callable(member), f"{owner.__module__}.{owner.__name__}.{name} is gone"
    assert list(inspect.signature(member).parameters) == params, f"{owner.__name__}.{name} changed its signature"


@pytest.mark.parametrize("owner, name", ATTRIBUTES, ids=[f"{getattr(o, '__name__', o)}.{n}" for o, n in ATTRIBUTES])
def test_private_attributes_are_still_there(owner, name):
    assert hasattr(owner, name), f"{owner}.{name} is gone"


@pytest.mark.parametrize("function, line", SOURCES, ids=[f.__qualname__ for f, _ in SOURCES])
def test_the_upstream_lines_we_follow_are_still_there(function, line):
    assert line in inspect.getsource(function), f"{function.__qualname__} no longer has {line!r}"
