"""The local spawner's Zeppelin flavour: offered where a zeppelin.sh is found (here the
stand-in's launcher, tests/zeppelin_standin.py, in a temporary ZEPPELIN_HOME), refused
with the reason where it is not. The spawner's `_booking` is a stand-in for the booking
service that allows both flavours and records what it is asked; starting a real Zeppelin
server through a real hub is tests/labextension/test_zeppelin.py."""

from __future__ import annotations

import types
from html import escape

import pytest
from jupyterhub.spawner import SpawnException

from spawner.local import BookingLocalProcessSpawner
from tests import zeppelin_standin


def make_spawner(monkeypatch, **traits) -> tuple[BookingLocalProcessSpawner, list]:
    monkeypatch.delenv("ZEPPELIN_HOME", raising=False)
    user = types.SimpleNamespace(name="alice", id=1, url="/user/alice/", groups=[])
    spawner = BookingLocalProcessSpawner(user=user, booking_api_url="http://127.0.0.1:9/api", **traits)
    calls = []

    async def booking(method, path, body=None):  # the stand-in booking service
        calls.append((method, path, body))
        if path.endswith("/entitlement"):
            return 200, {"kind": "walk-in", "reason": "A walk-in", "flavours": ["jupyter", "zeppelin"]}
        return 201, {"id": 1, "kind": "walk-in", "pool": "shared", "flavour": body["flavour"],
                     "resources": {"cores": 1, "memory_gib": 1}}

    monkeypatch.setattr(spawner, "_booking", booking)
    return spawner, calls


async def test_zeppelin_is_offered_where_its_script_is(tmp_path, monkeypatch):
    script = zeppelin_standin.make_home(tmp_path / "zeppelin")
    spawner, calls = make_spawner(monkeypatch, zeppelin_sh=str(script))
    assert spawner.zeppelin_unavailable() is None
    assert spawner.supported_flavours() == ("jupyter", "zeppelin")
    form = await spawner.options_form(spawner)
    assert 'value="zeppelin"' in form and 'value="jupyter"' in form
    spawner.user_options = {"flavour": "zeppelin"}
    grant = await spawner.claim_session()
    assert calls[-1] == ("POST", "/users/alice/sessions", {"server_name": "", "flavour": "zeppelin"})
    # the server opens at Zeppelin, which runs from the script's ZEPPELIN_HOME
    spawner.booking_session = grant
    env = spawner.zeppelin_env({"JUPYTERHUB_DEFAULT_URL": "/lab"})
    assert env == {"JUPYTERHUB_DEFAULT_URL": "/zeppelin/", "ZEPPELIN_HOME": str(tmp_path / "zeppelin")}
    spawner.booking_session = dict(grant, flavour="jupyter")
    assert spawner.zeppelin_env({"JUPYTERHUB_DEFAULT_URL": "/lab"}) == {"JUPYTERHUB_DEFAULT_URL": "/lab"}


async def test_zeppelin_home_from_the_environment_is_searched(tmp_path, monkeypatch):
    zeppelin_standin.make_home(tmp_path / "zeppelin")
    spawner, _ = make_spawner(monkeypatch)
    monkeypatch.setenv("ZEPPELIN_HOME", str(tmp_path / "zeppelin"))
    assert spawner.zeppelin_sh == str(tmp_path / "zeppelin" / "bin" / "zeppelin.sh")
    assert spawner.supported_flavours() == ("jupyter", "zeppelin")


def not_for_others(tmp_path):
    script = zeppelin_standin.make_home(tmp_path / "zeppelin")
    script.chmod(0o750)
    return script


@pytest.mark.parametrize("where, expected", [
    pytest.param(lambda tmp_path: "", "is not installed on this hub (BookingLocalProcessSpawner.zeppelin_sh and "
                 "$ZEPPELIN_HOME are not set)", id="not-configured"),
    pytest.param(lambda tmp_path: str(tmp_path / "nowhere" / "bin" / "zeppelin.sh"), "there is no {script}",
                 id="missing"),
    pytest.param(lambda tmp_path: str(tmp_path), "{script} is not a script the users' accounts may run",
                 id="a-directory"),
    pytest.param(not_for_others, "{script} is not a script the users' accounts may run", id="not-for-others"),
])
async def test_where_zeppelin_cannot_run_a_start_asking_for_it_is_told_why(tmp_path, monkeypatch, where, expected):
    script = where(tmp_path)
    spawner, calls = make_spawner(monkeypatch, zeppelin_sh=str(script), create_system_users=True)
    message = expected.format(script=script)
    assert spawner.supported_flavours() == ("jupyter",)
    assert message in spawner.zeppelin_unavailable()
    spawner.user_options = {"flavour": "zeppelin"}
    with pytest.raises(SpawnException) as refused:
        await spawner.claim_session()
    assert refused.value.status_code == 400 and message in str(refused.value)
    assert [c for c in calls if c[0] == "POST"] == []  # nothing claimed from the booking service
    form = await spawner.options_form(spawner)
    assert 'value="zeppelin"' not in form
    if script:  # an admin set Zeppelin up and it is broken: the form says so
        assert escape(message) in form and "JupyterLab starts instead" in form
    else:  # nobody installed it: no form only to say so
        assert form == ""
    # Jupyter still starts
    spawner.user_options = {"flavour": "jupyter"}
    assert (await spawner.claim_session())["flavour"] == "jupyter"
