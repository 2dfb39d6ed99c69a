"""The names the hub chooses pass by live accounts and recent tombstones (issue 9, item 6):
AccountStore.free_name against the obvious slow reference, and forget() in the store."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete

from hub_extension.accounts.store import AccountStore, now
from hub_extension.accounts.tables import Account, Attempt, Tombstone

REUSE = timedelta(days=90)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return AccountStore(f"sqlite:///{tmp_path_factory.mktemp('names')}/accounts.sqlite", name_reuse=REUSE)


def reference(base: str, taken: set[str]) -> str:
    candidate, n = base, 1
    while candidate in taken:
        n += 1
        candidate = f"{base}-{n}"
    return candidate


suffixes = st.sampled_from(["", "-2", "-3", "-4", "-2-2", "x", "-10"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(accounts=st.sets(suffixes), tombstones=st.dictionaries(suffixes, st.integers(0, 200)))
def test_free_name_passes_by_accounts_and_recent_tombstones(store, accounts, tombstones):
    base = "ada"
    with store.session() as db:
        for table in (Account, Tombstone):
            db.execute(delete(table))
        for suffix in accounts:
            db.add(Account(name=base + suffix, created=now(), transient=False, initial_level="level-1", attributes={}))
        for suffix, age_days in tombstones.items():
            db.add(Tombstone(name=base + suffix, deleted=now() - timedelta(days=age_days, minutes=1)))
    recent = {base + s for s, age in tombstones.items() if timedelta(days=age, minutes=1) < REUSE}
    assert store.free_name(base) == reference(base, {base + s for s in accounts} | recent)


def test_forget_deletes_tombstones_and_clears_the_names_counts(store):
    store.create("bo", level="level-1")
    store.record_attempt("login-fail:account:bo")
    store.record_attempt("login-fail:account:bo@example.org")
    store.record_attempt("try:addr:10.0.0.1")
    assert store.forget("bo", attempt_keys=["login-fail:account:bo", "login-fail:account:bo@example.org"])
    assert store.get("bo") is None and store.free_name("bo") == "bo-2"
    with store.session() as db:
        assert [a.key for a in db.query(Attempt).all()] == ["try:addr:10.0.0.1"]
    assert not store.forget("bo")  # already gone: nothing to delete, the tombstone is renewed
    without = AccountStore(store.url, name_reuse=timedelta(0))
    assert without.free_name("bo") == "bo"  # name_reuse_days = 0: no wait
