"""The upstream private API we rely on, checked against the installed versions.

Each name here is used in exactly one fenced place of ours (named below), with a link to
the upstream line. When an upgrade renames or reshapes one, this fails with the name,
before a user meets an AttributeError at spawn or login time."""

import inspect

import pytest
from jupyterhub.handlers.base import BaseHandler
from jupyterhub.handlers.login import LoginHandler, LogoutHandler
from kubespawner import KubeSpawner

PRIVATE = [
    # spawner/kube.py, "kubespawner's private API"
    (KubeSpawner, "_render_options_form", ["self", "profile_list"]),
    (KubeSpawner, "_options_from_form", ["self", "formdata"]),
    (KubeSpawner, "_sorted_dict_values", ["self", "src"]),
    # hub_extension/accounts/upstream.py
    (LoginHandler, "_render", ["self", "login_error", "username", "kwargs"]),
    (LogoutHandler, "_backend_logout_cleanup", ["self", "name"]),
    (BaseHandler, "_validate_next_url", ["self", "next_url"]),
]


@pytest.mark.parametrize("owner, name, params", PRIVATE, ids=[f"{o.__name__}.{n}" for o, n, _ in PRIVATE])
def test_private_api_is_still_there(owner, name, params):
    member = getattr(owner, name, None)
    assert callable(member), f"{owner.__module__}.{owner.__name__}.{name} is gone"
    assert list(inspect.signature(member).parameters) == params, f"{owner.__name__}.{name} changed its signature"
