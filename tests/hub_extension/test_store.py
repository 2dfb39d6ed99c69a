"""The account store on SQLite and on PostgreSQL, names and secrets, and the levels' merge."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub_extension.accounts import credentials
from hub_extension.accounts.store import AccountStore, IdentityTaken, NameTaken
from hub_extension.levels import effective
from hub_extension.accounts.throttle import Limit, Throttle


@pytest.fixture(params=["sqlite", "postgres"])
def store(request, tmp_path):
    if request.param == "sqlite":
        return AccountStore(f"sqlite:///{tmp_path}/accounts.sqlite")
    cluster = request.getfixturevalue("postgres_cluster")
    return AccountStore(cluster.url(cluster.create_database()))


def test_names_and_addresses_have_one_spelling():
    assert credentials.normalise_name("  ÅDA ") == credentials.normalise_name("åda")
    assert credentials.normalise_name("ＡＤＡ") == "ada"  # full-width letters, NFKC
    assert credentials.normalise_email(" Ada@Example.ORG ") == "ada@example.org"
    for bad in ("", "ada", "ada@", "@example.org", "a b@example.org", "ada@example"):
        with pytest.raises(credentials.CredentialError):
            credentials.normalise_email(bad)


def test_passwords_are_argon2id_and_checked(store):
    store.create("ada", level="level-1")
    store.set_password("ada", "correct horse battery")
    row = store.get("ada").password
    assert row.hash.startswith("$argon2id$") and "correct" not in row.hash
    assert store.check_login("ada", "correct horse battery").reason == "ok"
    assert store.check_login("ADA", "correct horse battery").reason == "ok"
    assert store.check_login("ada", "wrong").reason == "wrong"
    assert store.check_login("nobody", "correct horse battery").reason == "wrong"


def test_names_and_identities_are_taken_once(store):
    store.create("bea", level="level-1")
    with pytest.raises(NameTaken):
        store.create("bea", level="level-1")
    store.create("cy", level="level-1")
    store.add_identity("bea", "github", "42")
    with pytest.raises(IdentityTaken):
        store.add_identity("cy", "github", "42")
    assert store.find_identity("github", "42").account_name == "bea"
    assert store.free_name("Bea") == "bea-2"
    store.delete("bea")
    assert store.find_identity("github", "42") is None  # identities go with the account


def test_codes_are_stored_hashed_and_used_once_even_in_a_race(store):
    store.create("dee", level="level-1")
    code, _ = store.issue_code("dee", "login", timedelta(minutes=5))
    with store.session() as db:
        from hub_extension.accounts.tables import Code

        digests = [c.digest for c in db.query(Code).all()]
    assert code not in digests and credentials.digest(code) in digests
    assert store.peek_code(code, "login")[1] == "ok"
    assert store.peek_code(code, "reset")[1] == "unknown"  # a code is for one purpose
    results = []
    barrier = threading.Barrier(8)

    def use():
        barrier.wait()
        results.append(store.use_code(code, "login")[1])

    threads = [threading.Thread(target=use) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["ok"] + ["used"] * 7
    expired, _ = store.issue_code("dee", "login", timedelta(seconds=-1))
    assert store.use_code(expired, "login")[1] == "expired"


def test_throttle_counts_in_its_window(store):
    throttle = Throttle(store)
    limit = Limit.parse("3/15m")
    assert limit == Limit(3, timedelta(minutes=15))
    for _ in range(3):
        assert throttle.wait("k", limit) is None
        throttle.hit("k")
    wait = throttle.wait("k", limit)
    assert timedelta(minutes=14) < wait <= timedelta(minutes=15)
    throttle.clear("k")
    assert throttle.wait("k", limit) is None
    for bad in ("5", "x/m", "5/15", "-1/h"):
        with pytest.raises(ValueError):
            Limit.parse(bad)


numbers = st.one_of(st.none(), st.integers(0, 1000))
props = st.fixed_dictionaries({}, optional={
    "quota": st.dictionaries(st.sampled_from(["notebooks", "saved_mb", "temp_mb"]), st.integers(0, 10**6)),
    "retention": st.dictionaries(st.sampled_from(["temp_days", "saved_months", "warn_days"]), numbers),
})


def generous(values: list):
    """The obvious reading: absent if nobody sets it, None (permanent) for saved_months if
    anyone grants it, else the largest number."""
    return max(values)


@settings(max_examples=300, deadline=None)
@given(st.lists(props, max_size=5))
def test_a_member_of_several_groups_gets_the_most_generous_of_each(groups):
    merged = effective(groups)
    for section in ("quota", "retention"):
        keys = {k for g in groups for k in g.get(section, {})}
        assert set(merged.get(section, {})) == keys
        for key in keys:
            values = [g[section][key] for g in groups if key in g.get(section, {})]
            if key == "saved_months" and None in values:
                assert merged[section][key] is None
            elif all(v is not None for v in values):
                assert merged[section][key] == generous(values)
