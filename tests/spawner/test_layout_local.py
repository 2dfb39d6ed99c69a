"""The file layout in the embedded default's spawner, all of it real: a hub as root (an
account per user), the booking service, a server with its Spark cluster, its kernels
(the kernel API's websocket), the examples (published read-only, as the hub does) and
the shared data; the copy endpoint through the proxy; and every example notebook run
headless in the user's own kernel against the package's Spark workers."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import stat
import tempfile
from pathlib import Path

import pytest

from aglais_common import layout
from hub_extension.embedded import examples
from tests.labextension.conftest import lab_request, server_token
from tests.spawner.conftest import Servers, new_user, running_spawn_hub
from tests.test_embedded import execute

pytestmark = pytest.mark.spark

# In the user's kernel: what it finds where the layout says, and what it may write
PROBE = """
import json, os
def write(path):
    try:
        with open(path, "w") as f:
            f.write("x")
        return "written"
    except OSError as e:
        return e.strerror
env = {k: v for k, v in os.environ.items() if k.startswith("AGLAIS_") and k != "AGLAIS_SPARK_DEFAULTS"}
print("PROBE" + json.dumps({
    "env": env,
    "examples": sorted(os.listdir(env["AGLAIS_EXAMPLES"])),
    "data": sorted(os.listdir(env["AGLAIS_DATA"])),
    "write": {key: write(os.path.join(env[key], "mine.txt"))
              for key in ("AGLAIS_EXAMPLES", "AGLAIS_DATA", "AGLAIS_NOTEBOOKS", "AGLAIS_SAVED", "AGLAIS_TEMP")},
    "overwrite": write(os.path.join(env["AGLAIS_EXAMPLES"], "02-pi-estimate.ipynb")),
}))
"""


@pytest.fixture(scope="module")
async def layout_hub(tmp_path_factory):
    """A hub whose servers get the repository's examples, published as the embedded
    default publishes them (plus a link and a folder link planted in them, as a git
    repository could hold), and a shared data folder with one CSV file."""
    shared = Path(tempfile.mkdtemp(prefix="aglais-shared-", dir="/tmp"))
    os.chmod(shared, 0o755)
    published = shared / "examples"
    examples.publish(examples.REPO_EXAMPLES, published)
    os.chmod(published, 0o755)
    (published / "passwd.ipynb").symlink_to("/etc/passwd")
    (published / "elsewhere").symlink_to("/etc")
    os.chmod(published, 0o555)
    data = shared / "data"
    data.mkdir(mode=0o755)
    (data / "stars.csv").write_text("name,magnitude\nSirius,-1.46\nCanopus,-0.74\nArcturus,-0.05\n")
    os.chmod(data / "stars.csv", 0o444)
    os.chmod(data, 0o555)
    extra = f"""
        c.BookingLocalProcessSpawner.examples_dir = {str(published)!r}
        c.BookingLocalProcessSpawner.shared_data_dir = {str(data)!r}
    """
    async with running_spawn_hub(tmp_path_factory.mktemp("layout-hub"), extra, spark=True) as hub:
        hub.examples_dir, hub.data_dir = published, data
        yield hub
    os.chmod(published, 0o755)
    examples._remove(published)
    os.chmod(data, 0o755)
    shutil.rmtree(shared, ignore_errors=True)


@pytest.fixture(scope="module")
async def running_user(layout_hub):
    """A level-1 user's walk-in server (the small package: one Spark worker), started once."""
    servers = Servers(layout_hub)
    user = await new_user(layout_hub, "level-1")
    assert (await servers.start(user)).status in (201, 202)
    user.token = await server_token(layout_hub, user)
    yield user
    await servers.stop(user)


def account_of(hub, name: str):
    import pwd

    from spawner import system_users

    return pwd.getpwnam(system_users.system_name(hub.system_user_prefix, name))


async def run(hub, user, code: str) -> str:
    return await asyncio.to_thread(execute, hub.url.rstrip("/"), user.name, user.token, code)


async def test_the_server_gets_the_layout_and_the_shared_areas_are_read_only(layout_hub, running_user):
    account = account_of(layout_hub, running_user.name)
    home = Path(account.pw_dir)
    for name in layout.OWN:
        st = (home / name).lstat()
        assert stat.S_ISDIR(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o700 and st.st_uid == account.pw_uid
    assert os.readlink(home / "examples") == str(layout_hub.examples_dir)
    assert os.readlink(home / "data") == str(layout_hub.data_dir)

    probe = json.loads((await run(layout_hub, running_user, PROBE)).split("PROBE", 1)[1].splitlines()[0])
    assert probe["env"] == {**layout.Layout(str(home), data=str(home / "data"), examples=str(home / "examples"))
                            .environment(), **{k: v for k, v in probe["env"].items() if k not in layout.VARIABLES}}
    assert "01-spark-session.ipynb" in probe["examples"] and probe["data"] == ["stars.csv"]
    assert probe["write"] == {"AGLAIS_EXAMPLES": "Permission denied", "AGLAIS_DATA": "Permission denied",
                              "AGLAIS_NOTEBOOKS": "written", "AGLAIS_SAVED": "written", "AGLAIS_TEMP": "written"}
    assert probe["overwrite"] == "Permission denied"


async def test_one_request_copies_an_example_and_never_overwrites(layout_hub, running_user):
    hub, user, token = layout_hub, running_user, running_user.token
    listing = await lab_request(hub, user, "GET", "aglais/examples", token=token)
    assert listing.status == 200, listing.body
    found = listing.json()
    paths = [e["path"] for e in found["examples"]]
    assert "02-pi-estimate.ipynb" in paths and "passwd.ipynb" not in paths  # links are not listed
    assert (found["examples_path"], found["notebooks_path"]) == ("examples", "notebooks")

    home = Path(account_of(hub, user.name).pw_dir)
    first = await lab_request(hub, user, "POST", "aglais/examples/copy", token=token, body={"path": "02-pi-estimate.ipynb"})
    assert first.status == 201, first.body
    assert first.json() == {"name": "02-pi-estimate.ipynb", "path": "notebooks/02-pi-estimate.ipynb",
                            "from": "02-pi-estimate.ipynb"}
    copy = home / "notebooks" / "02-pi-estimate.ipynb"
    assert copy.read_bytes() == (layout_hub.examples_dir / "02-pi-estimate.ipynb").read_bytes()
    assert copy.stat().st_uid == account_of(hub, user.name).pw_uid  # made by the user's own server
    copy.write_text("my own changes")
    again = await lab_request(hub, user, "POST", "aglais/examples/copy", token=token, body={"path": "02-pi-estimate.ipynb"})
    assert again.status == 201 and again.json()["path"] == "notebooks/02-pi-estimate-Copy1.ipynb"
    assert copy.read_text() == "my own changes"  # the first copy is left alone

    hostile = {
        "../../../etc/passwd": 400, "/etc/passwd": 400, "./02-pi-estimate.ipynb": 400, ".hidden": 400,
        "passwd.ipynb": 400,  # a link in the examples: not followed
        "elsewhere/passwd": 400,  # a folder link: not followed
        "nothing-here.ipynb": 404, "": 400, "a\\b": 400, "x\0y": 400,
    }
    for path, status in hostile.items():
        resp = await lab_request(hub, user, "POST", "aglais/examples/copy", token=token, body={"path": path})
        assert resp.status == status and resp.json()["status"] == status and resp.json()["message"], (path, resp.body)
    for body in ({}, {"path": 7}, {"path": ["a"]}):
        resp = await lab_request(hub, user, "POST", "aglais/examples/copy", token=token, body=body)
        assert resp.status == 400, (body, resp.body)
    resp = await hub.request("POST", f"user/{user.name}/aglais/examples/copy", token=token, raw_body=b"not json")
    assert resp.status == 400
    assert sorted(p.name for p in (home / "notebooks").iterdir() if p.suffix == ".ipynb") == [
        "02-pi-estimate-Copy1.ipynb", "02-pi-estimate.ipynb"]  # nothing else was written


def code_of(notebook: Path) -> str:
    cells = json.loads(notebook.read_text())["cells"]
    return "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")


@pytest.mark.parametrize("name, expected", [
    ("01-spark-session.ipynb", ["executors wanted: 1 of 1 core(s) and 1664m each", "executors running: 1",
                                "sum of squares 1..1000 = 333833500"]),
    ("02-pi-estimate.ipynb", ["pi is roughly 3.1"]),
    ("03-word-count.ipynb", ["('the', 7)", "saved in "]),
    ("04-shared-data.ipynb", ["1 file(s) under", "stars.csv : 3 rows", "Sirius", "read-only, as it should be"]),
])
async def test_each_example_runs_in_the_users_kernel_on_the_packages_spark_workers(
        layout_hub, running_user, name, expected):
    # every code cell in one kernel, in order, as "Run All" does; a failing cell raises
    out = await run(layout_hub, running_user, code_of(examples.REPO_EXAMPLES / name))
    for text in expected:
        assert text in out, out
    if name == "03-word-count.ipynb":
        home = Path(account_of(layout_hub, running_user.name).pw_dir)
        assert json.loads((home / "tmp" / "word-counts.json").read_text())["stars"] == 4


@pytest.mark.browser
async def test_one_click_in_jupyterlab_copies_an_example_and_opens_it(layout_hub, running_user, page):
    from playwright.async_api import expect

    from tests.labextension.test_browser import open_lab

    await open_lab(page, layout_hub, running_user)
    await page.locator("#aglais-examples-item").click(timeout=60_000)
    row = page.locator('.aglais-example[data-path="01-spark-session.ipynb"]')
    await row.get_by_role("button", name="Copy to my notebooks").click()
    # the copy opens in a tab of its own, from the notebooks
    await expect(page.locator(".lm-TabBar-tab", has_text="01-spark-session.ipynb")).to_be_visible(timeout=60_000)
    home = Path(account_of(layout_hub, running_user.name).pw_dir)
    assert (home / "notebooks" / "01-spark-session.ipynb").read_bytes() == \
        (layout_hub.examples_dir / "01-spark-session.ipynb").read_bytes()
    # the page's own cookie, without the _xsrf header JupyterLab sends: refused
    before = sorted((home / "notebooks").glob("*.ipynb"))
    status = await page.evaluate("""async (url) => (await fetch(url, {method: 'POST', body: '{"path": "02-pi-estimate.ipynb"}',
        credentials: 'same-origin'})).status""", f"/user/{running_user.name}/aglais/examples/copy")
    assert status == 403
    assert sorted((home / "notebooks").glob("*.ipynb")) == before
