"""Who may do what: hub tokens and their scopes, hub admins, and the booking-admin scope."""

from __future__ import annotations

from datetime import timedelta

from tests.booking_service.conftest import day_start, iso
from tests.booking_service.test_bad_input import assert_error
from tests.hub import User


async def test_no_token_no_access(api):
    for method, path in [("GET", "pools"), ("GET", "bookings"), ("POST", "bookings")]:
        resp = await api.call(method, path, None, {} if method == "POST" else None)
        assert_error(resp, 403, "Authentication required")
    resp = await api.call("GET", "pools", None, headers={"Authorization": "token not-a-real-token"})
    assert_error(resp, 403, "Authentication required")


async def test_read_scope_reads_but_does_not_write(api, admin, hub):
    reader = await hub.new_user(scopes=["custom:booking:read"])
    pool = await api.new_pool(admin)
    assert (await api.ok("GET", "pools", reader))["pools"]
    resp = await api.call("POST", "bookings", reader, {"pool": pool, "package": "small", "start": iso(day_start(1)),
                                                        "end": iso(day_start(1) + timedelta(hours=1))})
    assert_error(resp, 403, "custom:booking:write")


async def test_token_without_booking_scopes_is_refused(api, hub):
    nobody = await hub.new_user(scopes=["read:users:name!user"])
    assert_error(await api.call("GET", "pools", nobody), 403, "custom:booking:read")


async def test_token_without_access_to_the_service_is_refused(api, hub):
    user = await hub.new_user()
    # a token with the booking scopes but not access:services for this service
    model = await hub.hub_api("POST", f"users/{user.name}/tokens", {"scopes": ["custom:booking:read"]})
    resp = await api.call("GET", "pools", User(user.name, model["token"]))
    assert resp.status == 403


async def test_admin_only_operations(api, admin, user):
    pool = await api.new_pool(admin)
    now = day_start(0)
    assert_error(await api.call("POST", "pools", user, {"name": "mine", "kind": "reserved"}), 403, "booking admins")
    assert_error(await api.call("POST", f"pools/{pool}/capacity", user, {
        "start": iso(now), "end": iso(now + timedelta(days=1)), "cores": 1, "memory_gib": 1}), 403, "booking admins")
    assert_error(await api.call("GET", f"pools/{pool}/capacity?start={iso(now)}&end={iso(now + timedelta(days=1))}", user),
                 403, "booking admins")
    assert_error(await api.call("POST", "packages", user, {"name": "mine", "notebook_cores": 1, "notebook_memory_gib": 1}),
                 403, "booking admins")
    me = await api.ok("GET", "me", user)
    assert (me["admin"], me["level"]) == (False, 1)
    assert me["may_book"] == {"packages": ["large", "medium", "small"], "custom": False, "max_hours": 72,
                              "max_advance_days": 30}
    me = await api.ok("GET", "me", admin)
    assert me["admin"] is True
    assert me["may_book"] == {"packages": None, "custom": True, "max_hours": None, "max_advance_days": None}
    assert me["preparation"] == []  # this service has no preparation workers (tests/frontend/test_prep_browser.py has)


async def test_booking_admin_role_makes_a_non_hub_admin_a_booking_admin(api, hub):
    """The hub config gives the role booking-admin to the user 'operator' (tests/hub.py)."""
    token = await hub.token_for("operator", ["custom:booking:admin"])
    operator = User("operator", token)
    me = await api.ok("GET", "me", operator)
    assert me["admin"] is True
    await api.new_pool(operator)
    # the same person with a token that leaves out the admin scope is not an admin
    plain = User("operator", await hub.token_for("operator", ["custom:booking:write"]))
    assert (await api.ok("GET", "me", plain))["admin"] is False
    assert_error(await api.call("POST", "pools", plain, {"name": "nope", "kind": "shared"}), 403, "booking admins")


async def test_level_comes_from_hub_groups(api, hub):
    anonymous = await hub.new_user(groups=["level-0"])
    custom = await hub.new_user(groups=["level-1", "level-n"])  # the highest level wins
    nogroup = await hub.new_user()
    me = await api.ok("GET", "me", anonymous)
    assert (me["level"], me["may_book"]["packages"], me["may_book"]["max_hours"]) == (0, [], 0)
    assert (await api.ok("GET", "me", custom))["level"] == 2
    assert (await api.ok("GET", "me", nogroup))["level"] == 1  # LevelPolicy.default_level
