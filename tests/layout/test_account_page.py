"""The account page shows the layout: where each area is, how a notebook finds it, and
the rule of the user's level that acts on it; in the embedded default as `make run`
starts it (tests/test_embedded.py's hub)."""

from __future__ import annotations

import html
import re

from tests.hub_extension.conftest import Browser
from tests.test_embedded import embedded_hub  # noqa: F401 (fixture)


def rows(page: str) -> dict[str, list[str]]:
    table = re.search(r'<table class="table table-sm" id="layout">(.*?)</table>', page, re.S)
    assert table, page
    found = {}
    for key, row in re.findall(r'<tr data-area="([^"]+)">(.*?)</tr>', table.group(1), re.S):
        found[key] = [" ".join(html.unescape(re.sub(r"<[^>]+>", " ", cell)).split()) for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>",
                                                                                   row, re.S)]
    return found


def test_a_trial_accounts_page_shows_where_its_files_are_and_how_long_they_are_kept(embedded_hub):  # noqa: F811
    browser = Browser(embedded_hub.url + "/")
    browser.get("hub/login")
    assert browser.post("hub/try").status_code == 200
    page = browser.get("hub/account")
    assert page.status_code == 200
    found = rows(page.text)
    assert list(found) == ["notebooks", "saved", "tmp", "examples"]  # no shared data configured
    assert found["notebooks"][:3] == ["Your notebooks", "~/notebooks ( $AGLAIS_NOTEBOOKS )",
                                      "deleted as soon as you are inactive"]  # level-0: saved_months 0
    assert found["tmp"][2] == "deleted 1 day after a file's last change"  # level-0: temp_days 1
    assert found["examples"][1:3] == ["~/examples ( $AGLAIS_EXAMPLES )",
                                      "read-only, shared: nothing of yours is kept here"]
