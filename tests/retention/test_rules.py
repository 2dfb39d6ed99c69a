"""The retention planner against a slow, obvious reference: one predicate per path,
written from the rules in docs/retention.md rather than from the planner's code."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub_extension.retention.rules import (
    Entry,
    Retention,
    RuleError,
    WarningSent,
    most_generous,
    parse_retention,
    plan,
)

NOW = datetime(2030, 6, 1, 12, 0, tzinfo=timezone.utc)
KEEP = ".aglais-keep"
NAMES = ["tmp", "tmp2", "a", "b", "a b", "<'&\">", "ü", KEEP, "a" + KEEP, "tmp" + KEEP, KEEP + KEEP, "examples"]
# docs/retention.md: the spawner's links to the read-only areas in the home are left alone
LINKS = ("data", "examples")

# ---------------------------------------------------------------- strategies


# days near the rules' own numbers below, and a second either side, to hit every boundary
DAYS = [0, 1, 6, 7, 13, 14, 15, 29, 30, 31, 166, 180, 181, 200, 400]


def offset(days=DAYS):
    return st.builds(lambda d, s: timedelta(days=d, seconds=s), st.sampled_from(days), st.sampled_from([-1, 0, 1]))


@st.composite
def homes(draw):
    first = st.sampled_from(["tmp"] * 6 + NAMES)  # mostly temp data, where the ages matter
    path = st.tuples(first, st.lists(st.sampled_from(NAMES), max_size=3)).map(lambda p: (p[0], *p[1]))
    paths = draw(st.lists(path, max_size=14))
    every = {p[:i] for p in paths for i in range(1, len(p) + 1)}
    entries = []
    for path in sorted(every):
        is_dir = any(q[:len(path)] == path and len(q) > len(path) for q in every) or draw(st.booleans())
        entries.append(Entry("/".join(path), draw(st.integers(0, 10**6)), NOW - draw(offset([0, 1, 7, 8, 30])), is_dir,
                             marked=draw(st.booleans().map(lambda b: b and draw(st.integers(0, 9)) == 0))))
    return entries


retentions = st.builds(Retention, st.sampled_from([None, 0, 1, 7, 30]), st.sampled_from([None, 0, 1, 6]),
                       st.sampled_from([0, 1, 14, 30]))


@st.composite
def situations(draw):
    entries = draw(homes())
    rules = draw(st.lists(retentions, min_size=draw(st.sampled_from([0, 1, 1, 1])), max_size=3))
    last_activity = draw(st.one_of(st.none(), offset().map(lambda o: NOW - o)))
    warning = None
    if draw(st.booleans()):
        la = last_activity if (last_activity and draw(st.booleans())) else NOW - draw(offset())
        sent = NOW - draw(offset(DAYS[:10]))
        rule = reference_rule(rules)
        dues = [sent + draw(offset(DAYS[:10])), NOW + draw(offset([0, 1]))]
        if rule and rule.saved_months is not None:
            dues.append(la + timedelta(days=30 * rule.saved_months, seconds=draw(st.sampled_from([-1, 0, 1]))))
        warning = WarningSent(la, sent, draw(st.sampled_from(dues)))
    return dict(rules=rules, running=draw(st.booleans().map(lambda b: b and draw(st.integers(0, 4)) == 0)),
                last_activity=last_activity, now=NOW, entries=entries, warning=warning)


# ---------------------------------------------------------------- the reference


def parents(path):
    parts = path.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]


def kept_itself(path, paths, marked):
    """Marked, a mark, or under something marked."""
    if KEEP in paths:
        return True
    for p in parents(path) + [path]:
        if p in marked or p.split("/")[-1].endswith(KEEP) or p + KEEP in paths or p + "/" + KEEP in paths:
            return True
    return False


def protected(path, paths, marked):
    return any(kept_itself(q, paths, marked) for q in paths if q == path or q.startswith(path + "/"))


def reference_rule(rules):
    if not rules:
        return None
    def most(values):
        return None if None in values else max(values)
    return Retention(most([r.temp_days for r in rules]), most([r.saved_months for r in rules]),
                     max(r.warn_days for r in rules))


def reference(s):
    """(deleted {path: reason}, notice due or None)"""
    rule = reference_rule(s["rules"])
    if rule is None or s["running"]:
        return {}, None
    entries = {e.path: e for e in s["entries"]}
    paths = set(entries)
    marked = {e.path for e in s["entries"] if e.marked or (e.path in LINKS and not e.is_dir)}
    safe = {p for p in paths if not protected(p, paths, marked)}

    def temp(p):
        if p not in safe or not p.startswith("tmp/") or rule.temp_days is None:
            return False
        if entries[p].mtime >= s["now"] - timedelta(days=rule.temp_days):
            return False
        return all(temp(q) for q in paths if q.startswith(p + "/"))

    deleted = {p: "temp" for p in paths if temp(p)}
    la, w, now = s["last_activity"], s["warning"], s["now"]
    if rule.saved_months is None or la is None or not safe:
        return deleted, None
    expiry = la + timedelta(days=30 * rule.saved_months)
    valid = w if (w and w.last_activity == la) else None
    if valid and now > expiry and now >= valid.due and now - valid.sent >= timedelta(days=rule.warn_days):
        return {p: deleted.get(p, "saved") for p in safe}, None
    if now >= expiry - timedelta(days=rule.warn_days) and (valid is None or valid.due < expiry):
        return deleted, max(expiry, now + timedelta(days=rule.warn_days))
    return deleted, None


# ---------------------------------------------------------------- properties


@settings(max_examples=400, deadline=None)
@given(situations())
def test_plan_matches_the_reference(s):
    result = plan(**s)
    deleted, due = reference(s)
    assert {d.path: d.reason for d in result.deletions} == deleted
    assert (result.notice.due if result.notice else None) == due


@settings(max_examples=300, deadline=None)
@given(situations())
def test_never_deletes_what_is_marked_or_under_a_mark(s):
    paths, marked = {e.path for e in s["entries"]}, {e.path for e in s["entries"] if e.marked}
    for d in plan(**s).deletions:
        assert not any(kept_itself(q, paths, marked) for q in paths if q == d.path or q.startswith(d.path + "/"))
        assert not d.path.endswith(KEEP)


@settings(max_examples=200, deadline=None)
@given(situations())
def test_no_rules_or_a_running_server_leave_everything(s):
    for change in ({"rules": []}, {"running": True}):
        result = plan(**{**s, **change})
        assert result.deletions == () and result.notice is None and result.warning == s["warning"]


@settings(max_examples=300, deadline=None)
@given(situations())
def test_saved_data_goes_only_after_a_warning_old_enough(s):
    result = plan(**s)
    if result.saved_due:
        rule = reference_rule(s["rules"])
        w = s["warning"]
        assert w is not None and w.last_activity == s["last_activity"]
        assert s["now"] - w.sent >= timedelta(days=rule.warn_days) and s["now"] >= w.due
        assert result.warning is None  # that warning is used up


@settings(max_examples=300, deadline=None)
@given(situations(), st.randoms())
def test_most_generous_group_wins_whatever_the_order(s, rnd):
    rules = list(s["rules"])
    rnd.shuffle(rules)
    assert plan(**{**s, "rules": rules}) == plan(**s)
    if rules:
        assert plan(**{**s, "rules": [reference_rule(rules)]}) == plan(**s)
        assert most_generous(rules) == reference_rule(rules)


@settings(max_examples=200, deadline=None)
@given(situations())
def test_a_directory_is_deleted_after_everything_in_it(s):
    order = [d.path for d in plan(**s).deletions]
    for i, path in enumerate(order):
        assert not any(q.startswith(path + "/") for q in order[i + 1:])


@settings(max_examples=150, deadline=None)
@given(homes(), retentions, offset(), st.integers(1, 5), st.lists(st.booleans(), min_size=60, max_size=60))
def test_over_time_saved_data_goes_only_warn_days_after_a_warning_was_delivered(entries, rule, idle, step, delivered):
    """Run the planner day after day as the service does, keeping the warnings that were
    delivered (some mails fail): saved data goes only warn_days after a delivered warning,
    and never before the date that warning announced."""
    last_activity, warning, first_delivery = NOW - idle, None, None
    for day, ok in enumerate(delivered):
        now = NOW + timedelta(days=day * step)
        result = plan(rules=[rule], running=False, last_activity=last_activity, now=now, entries=entries,
                      warning=warning)
        if result.saved_due:
            assert warning is not None and now - warning.sent >= timedelta(days=rule.warn_days)
            assert now >= warning.due and first_delivery is not None
            return
        warning = result.warning
        if result.notice and ok:
            warning = WarningSent(last_activity, now, result.notice.due)
            first_delivery = first_delivery or now


# ---------------------------------------------------------------- examples


def test_rules_from_group_properties():
    assert parse_retention({"quota": {}}) is None
    assert parse_retention({"retention": {"temp_days": 7, "saved_months": None, "warn_days": 14}}) == \
        Retention(7, None, 14)
    for bad in ({"retention": []}, {"retention": {"temp_days": -1, "saved_months": 1, "warn_days": 1}},
                {"retention": {"temp_days": 1, "saved_months": "6", "warn_days": 1}},
                {"retention": {"temp_days": 1, "saved_months": 1, "warn_days": None}},
                {"retention": {"temp_days": True, "saved_months": 1, "warn_days": 1}}):
        with pytest.raises(RuleError):
            parse_retention(bad)


def test_a_warning_lists_the_topmost_paths_with_their_sizes():
    old = NOW - timedelta(days=300)
    entries = [Entry("notebooks", 0, old, True), Entry("notebooks/a.ipynb", 10, old), Entry("notebooks/b.ipynb", 5, old),
               Entry("keep", 0, old, True), Entry("keep/" + KEEP, 0, old), Entry("keep/x", 99, old),
               Entry("results.csv", 7, old), Entry("results.csv" + KEEP, 0, old), Entry("notes.txt", 3, old)]
    result = plan(rules=[Retention(7, 6, 14)], running=False, last_activity=old, now=NOW, entries=entries,
                  warning=None)
    assert result.notice.paths == (("notebooks", 15), ("notes.txt", 3))
    assert result.notice.due == NOW + timedelta(days=14)
    assert result.deletions == ()


SECOND = timedelta(seconds=1)
RULE = Retention(temp_days=7, saved_months=6, warn_days=14)
EXPIRY = timedelta(days=180)


@pytest.mark.parametrize("age, deleted", [(timedelta(days=7) - SECOND, False), (timedelta(days=7), False),
                                          (timedelta(days=7) + SECOND, True)], ids=["younger", "exactly", "older"])
def test_temp_data_goes_when_older_than_temp_days(age, deleted):
    entries = [Entry("tmp", 0, NOW, True), Entry("tmp/x", 1, NOW - age)]
    result = plan(rules=[RULE], running=False, last_activity=NOW, now=NOW, entries=entries, warning=None)
    assert [d.path for d in result.deletions] == (["tmp/x"] if deleted else [])


@pytest.mark.parametrize("idle, warned, deleted", [
    (EXPIRY, timedelta(days=14), False),                    # not older than saved_months yet
    (EXPIRY + SECOND, timedelta(days=14), True),
    (EXPIRY + SECOND, timedelta(days=14) - SECOND, False),  # the warning is not warn_days old
], ids=["at-expiry", "after-expiry", "warning-too-young"])
def test_saved_data_goes_after_expiry_and_warn_days(idle, warned, deleted):
    la, sent = NOW - idle, NOW - warned
    warning = WarningSent(la, sent, min(NOW, sent + timedelta(days=14)))
    result = plan(rules=[RULE], running=False, last_activity=la, now=NOW, entries=[Entry("n.ipynb", 1, la)],
                  warning=warning)
    assert result.saved_due is deleted


@pytest.mark.parametrize("idle, due", [(EXPIRY - timedelta(days=14) - SECOND, None),
                                       (EXPIRY - timedelta(days=14), NOW + timedelta(days=14)),
                                       (EXPIRY + timedelta(days=3), NOW + timedelta(days=14))],
                         ids=["before-window", "window-opens", "late"])
def test_the_warning_goes_warn_days_before_expiry(idle, due):
    result = plan(rules=[RULE], running=False, last_activity=NOW - idle, now=NOW,
                  entries=[Entry("n.ipynb", 1, NOW - idle)], warning=None)
    assert (result.notice.due if result.notice else None) == due


def test_a_warning_is_sent_again_when_the_rule_grants_more_time():
    la = NOW - EXPIRY + timedelta(days=1)
    entries = [Entry("n.ipynb", 1, la)]
    warning = WarningSent(la, NOW, la + EXPIRY)
    same = plan(rules=[RULE], running=False, last_activity=la, now=NOW, entries=entries, warning=warning)
    assert same.notice is None and same.warning == warning
    # a month more: no deletion on the announced date, and a new warning when the new window opens
    later = NOW + timedelta(days=17)
    longer = plan(rules=[Retention(7, 7, 14)], running=False, last_activity=la, now=later - SECOND,
                  entries=entries, warning=warning)
    assert longer.notice is None and not longer.saved_due
    longer = plan(rules=[Retention(7, 7, 14)], running=False, last_activity=la, now=later, entries=entries,
                  warning=warning)
    assert longer.notice.due == later + timedelta(days=14)
    # and a new activity voids the old warning
    active = plan(rules=[RULE], running=False, last_activity=NOW, now=NOW, entries=entries, warning=warning)
    assert active.warning is None and active.notice is None
