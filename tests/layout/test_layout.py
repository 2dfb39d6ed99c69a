"""The one definition of the file layout (aglais_common.layout) and how retention and the
usage figures read it."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from aglais_common import layout
from hub_extension.accounts.usage import usage
from hub_extension.retention import rules
from hub_extension.retention.rules import Entry, Retention

NOW = datetime(2030, 1, 1, tzinfo=timezone.utc)


def test_the_environment_names_every_area_the_server_has():
    local = layout.Layout("/home/jupyter-ada", data="/home/jupyter-ada/data", examples="/home/jupyter-ada/examples")
    assert local.environment() == {
        "AGLAIS_NOTEBOOKS": "/home/jupyter-ada/notebooks", "AGLAIS_SAVED": "/home/jupyter-ada/saved",
        "AGLAIS_TEMP": "/home/jupyter-ada/tmp", "AGLAIS_DATA": "/home/jupyter-ada/data",
        "AGLAIS_EXAMPLES": "/home/jupyter-ada/examples"}
    bare = layout.Layout("/home/jovyan")
    assert set(bare.environment()) == {"AGLAIS_NOTEBOOKS", "AGLAIS_SAVED", "AGLAIS_TEMP"}
    assert [where for _, where in bare.areas()] == ["~/notebooks", "~/saved", "~/tmp"]


def test_each_area_says_which_retention_rule_acts_on_it():
    rule = {"temp_days": 7, "saved_months": 6, "warn_days": 14}
    by_key = {area.key: area for area in layout.AREAS}
    assert layout.retention_text(by_key["tmp"], rule) == "deleted 7 days after a file's last change"
    assert layout.retention_text(by_key["notebooks"], rule) == \
        "deleted 6 months after your last activity, with a mail 14 days before"
    assert layout.retention_text(by_key["saved"], {**rule, "saved_months": None}) == "kept permanently"
    assert layout.retention_text(by_key["examples"], rule).startswith("read-only")


def test_retention_acts_on_the_layouts_temp_area_and_leaves_the_links_alone():
    old = NOW - timedelta(days=400)
    entries = [Entry("tmp", 0, old, is_dir=True), Entry("tmp/old.csv", 10, old),
               Entry("saved/old.csv", 10, old), Entry("examples", 30, old), Entry("data", 30, old)]
    plan = rules.plan(rules=[Retention(temp_days=1, saved_months=None, warn_days=0)], running=False,
                      last_activity=old, now=NOW, entries=entries, warning=None)
    assert [(d.path, d.reason) for d in plan.deletions] == [("tmp/old.csv", "temp")]
    due = rules.plan(rules=[Retention(temp_days=1, saved_months=0, warn_days=0)], running=False,
                     last_activity=old, now=NOW, entries=entries,
                     warning=rules.WarningSent(old, NOW - timedelta(days=1), NOW - timedelta(days=1)))
    assert {d.path for d in due.deletions} == {"tmp", "tmp/old.csv", "saved/old.csv"}  # all but the links


def test_usage_counts_the_temp_area_as_temp():
    entries = [Entry(f"{layout.TEMP}/big", 3 * 2**20, NOW), Entry("saved/a", 2**20, NOW),
               Entry("notebooks/a.ipynb", 2**20, NOW)]
    assert usage(entries) == {"notebooks": 1, "notebook_mb": 1.0, "saved_mb": 2.0, "temp_mb": 3.0}
