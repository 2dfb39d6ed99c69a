"""The Zeppelin flavour against a real hub, a real booking service and real single-user
servers (jupyterhub-singleuser, jupyter-server-proxy, aglais_lab, run as each user's
account), with a stand-in Zeppelin (tests/zeppelin_standin.py: Apache Zeppelin cannot be
installed here) behind them: the route, the hub's login in front of it, the page with
the booking's countdown and Register in a real browser, other answers untouched."""

from __future__ import annotations

import gzip
import re
import shutil
import stat
import tempfile
import uuid
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
from playwright.async_api import expect
from tornado.httpclient import AsyncHTTPClient, HTTPRequest

from tests import zeppelin_standin
from tests.hub import Response
from tests.labextension.conftest import booked_now, expect_walk_in_with_register, lab_request, new_user, server_token
from tests.spawner.conftest import wait_for

SCRIPT_TAG = re.compile(rb'<script src="/user/[^"]+/aglais/static/zeppelin\.js" defer data-aglais="zeppelin"></script>')


# A ZEPPELIN_HOME every account can read, whose bin/zeppelin.sh runs the stand-in; the
# module's hub (tests/spawner/conftest.py's spawn_hub) reads SPAWN_HUB_CONFIG
ZEPPELIN_HOME = Path(tempfile.gettempdir()) / f"aglais-zeppelin-standin-{uuid.uuid4().hex[:8]}"
SPAWN_HUB_CONFIG = f"""
        c.BookingLocalProcessSpawner.zeppelin_sh = {str(ZEPPELIN_HOME / "bin" / "zeppelin.sh")!r}
"""


@pytest.fixture(scope="module", autouse=True)
def zeppelin_home():
    yield zeppelin_standin.make_home(ZEPPELIN_HOME)
    shutil.rmtree(ZEPPELIN_HOME, ignore_errors=True)


@pytest.fixture(scope="module")
def zeppelin_hub(spawn_hub):
    """The module's hub, its booking service restarted with a policy that lets level 0
    start Zeppelin too (by default it may start only Jupyter), so that a trial user's
    Zeppelin page can show Register."""
    config = spawn_hub.workdir / "booking_zeppelin_config.py"
    config.write_text(
        "from booking_service.policy import LevelPolicy\n"
        "levels = LevelPolicy().levels\n"
        "levels[0] = dict(levels[0], flavours=['jupyter', 'zeppelin'])\n"
        "c.LevelPolicy.levels = levels\n")
    booking = spawn_hub.external["booking"]
    booking.stop()
    booking.args.append(f"--config={config}")
    booking.start()
    return spawn_hub


async def zeppelin_page(hub, user, token, path="", encoding="identity"):
    """GET the user's Zeppelin page through the hub's proxy and the server's (it starts
    Zeppelin on the first request), with the body as sent: not decompressed."""
    request = HTTPRequest(f"{hub.url}user/{quote(user.name)}/zeppelin/{path}", headers={
        "Authorization": f"token {token}", "Accept-Encoding": encoding}, decompress_response=False,
        follow_redirects=False, request_timeout=60)
    response = await AsyncHTTPClient().fetch(request, raise_error=False)
    return Response(response.code, response.body or b"", dict(response.headers))


async def test_a_zeppelin_server_opens_at_zeppelin_behind_the_proxy(spawn_hub, servers, booking_api):
    user, _ = await booked_now(spawn_hub, booking_api, "small", timedelta(hours=1))
    assert (await servers.start(user, flavour="zeppelin")).status in (201, 202)
    token = await server_token(spawn_hub, user)
    # the server's default URL is Zeppelin
    landing = await lab_request(spawn_hub, user, "GET", "", token=token)
    assert landing.status == 302
    assert landing.headers["Location"].split("?")[0] == f"/user/{quote(user.name)}/zeppelin/"

    page = await zeppelin_page(spawn_hub, user, token)
    assert page.status == 200, page.body
    assert b"<title ng-bind=\"$root.pageTitle\">Zeppelin</title>" in page.body
    # the stand-in was told its base path in Zeppelin's setting, and runs as the user's account
    assert f'<p id="standin-context">/user/{quote(user.name)}/zeppelin</p>'.encode() in page.body
    account = (await servers.process(user)).env()["USER"]
    assert f'<p id="standin-user">{account}</p>'.encode() in page.body
    # the script goes in once, before </head>, and the length is the new body's
    assert len(SCRIPT_TAG.findall(page.body)) == 1
    assert page.body.index(b"aglais/static/zeppelin.js") < page.body.index(b"</head>")
    assert int(page.headers["Content-Length"]) == len(page.body)

    # JSON passes as Zeppelin sent it
    version = await zeppelin_page(spawn_hub, user, token, "api/version")
    assert version.status == 200 and version.headers["Content-Type"] == "application/json"
    assert version.body == zeppelin_standin.version_body()
    # Zeppelin's 404s too
    missing = await zeppelin_page(spawn_hub, user, token, "no/such/page")
    assert (missing.status, missing.body) == (404, b"Not Found")

    # a compressed page (the stand-in compresses as Jetty's GzipHandler would) gets the
    # script too, and stays compressed
    gz = await zeppelin_page(spawn_hub, user, token, encoding="gzip")
    assert gz.status == 200 and gz.headers.get("Content-Encoding") == "gzip", gz.headers
    assert len(SCRIPT_TAG.findall(gzip.decompress(gz.body))) == 1
    assert int(gz.headers["Content-Length"]) == len(gz.body)

    script = await lab_request(spawn_hub, user, "GET", "aglais/static/zeppelin.js", token=token)
    assert script.status == 200 and b"aglais/status" in script.body
    await servers.stop(user)


async def test_zeppelin_is_behind_the_hubs_login(spawn_hub, servers, booking_api):
    user = await new_user(spawn_hub, "level-1")
    other = await new_user(spawn_hub, "level-1")
    assert (await servers.start(user, flavour="zeppelin")).status in (201, 202)
    token = await server_token(spawn_hub, user)
    assert (await zeppelin_page(spawn_hub, user, token)).status == 200  # Zeppelin is up
    path = f"user/{quote(user.name)}/zeppelin/"
    # no credentials: sent to the hub's login (OAuth), no Zeppelin page
    anonymous = await spawn_hub.request("GET", path)
    assert anonymous.status == 302 and "/hub/api/oauth2/authorize" in anonymous.headers["Location"]
    assert b"Zeppelin" not in anonymous.body
    # another user's token, and a token of this user without access to the server: refused
    for name, scopes in ((other.name, [f"access:servers!user={other.name}"]), (user.name, ["read:users:name!user"])):
        refused = await spawn_hub.request("GET", path, token=await spawn_hub.token_for(name, scopes))
        assert refused.status == 403 and b"standin" not in refused.body, (name, refused.status)
    # nor the JSON API, nor a POST
    assert (await spawn_hub.request("GET", path + "api/version")).status in (302, 403)
    assert (await spawn_hub.request("POST", path + "api/notebook", body={})).status == 403
    # nor straight to Zeppelin's port, which every local process reaches (on one machine,
    # every other user's kernel): Zeppelin's Shiro asks a password only the proxy knows
    port, conf = zeppelin_port_and_conf(user)
    direct = await AsyncHTTPClient().fetch(f"http://127.0.0.1:{port}/user/{quote(user.name)}/zeppelin/",
                                          raise_error=False)
    assert direct.code == 401 and b"standin" not in (direct.body or b"")
    shiro = Path(conf) / "shiro.ini"
    assert stat.S_IMODE(shiro.stat().st_mode) == 0o600 and shiro.stat().st_uid == Path(f"/proc/{(await servers.process(user)).pid}").stat().st_uid
    await servers.stop(user)


def zeppelin_port_and_conf(user) -> tuple[int, str]:
    """The port and ZEPPELIN_CONF_DIR of the user's running (stand-in) Zeppelin, from its
    process's environment (this test runs as root, as CI does)."""
    for proc in Path("/proc").iterdir():
        try:
            if not proc.name.isdigit() or b"zeppelin_standin.py" not in (proc / "cmdline").read_bytes():
                continue
            env = dict(item.split(b"=", 1) for item in (proc / "environ").read_bytes().split(b"\0") if b"=" in item)
        except OSError:
            continue
        if env.get(b"JUPYTERHUB_USER", b"").decode() == user.name:
            return int(env[b"ZEPPELIN_PORT"]), env[b"ZEPPELIN_CONF_DIR"].decode()
    raise AssertionError(f"no Zeppelin process of {user.name}")


# -- in a real browser -------------------------------------------------------------------

async def open_zeppelin(page, hub, user):
    target = f"/user/{quote(user.name)}/zeppelin/"
    await page.goto(f"{hub.url}hub/login?next={quote(target)}")
    await page.locator("#username_input").fill(user.name)
    await page.locator("#password_input").fill("any password")
    await page.locator("#login_submit").click()
    await page.wait_for_url(re.compile(re.escape(target)), timeout=60_000)
    await expect(page.locator("#standin-welcome")).to_have_text("Welcome to Zeppelin!")


@pytest.mark.browser
async def test_level_0_sees_register_and_the_walk_in_in_zeppelin(zeppelin_hub, servers, booking_api, page):
    spawn_hub = zeppelin_hub
    user = await new_user(spawn_hub, "level-0")
    assert (await servers.start(user, flavour="zeppelin")).status in (201, 202)
    await open_zeppelin(page, spawn_hub, user)
    await expect_walk_in_with_register(page, spawn_hub)
    await expect(page).to_have_title("Zeppelin")  # Zeppelin's page is still Zeppelin's
    await servers.stop(user)


@pytest.mark.browser
async def test_a_booking_counts_down_warns_and_extends_in_zeppelin(spawn_hub, servers, booking_api, page):
    # ten minutes: the booking service's 15-minute warning is due at once
    user, booking = await booked_now(spawn_hub, booking_api, "small", timedelta(minutes=10))
    assert (await servers.start(user, flavour="zeppelin")).status in (201, 202)
    await open_zeppelin(page, spawn_hub, user)
    item = page.locator("#aglais-booking-status")
    await expect(item.locator(".aglais-package")).to_have_text("small", timeout=30_000)
    await expect(item).to_have_attribute("data-end", booking["end"])
    countdown = item.locator(".aglais-countdown")
    await expect(countdown).to_have_text(re.compile(r"^0:(09|10):\d\d left$"))
    first = await countdown.text_content()
    await expect(countdown).not_to_have_text(first)  # it counts down by itself
    await expect(page.locator("a.aglais-register")).to_be_hidden()  # level 1
    notice = page.locator("#aglais-zeppelin .aglais-notice")
    await expect(notice).to_contain_text(re.compile(r"Your booking of small ends in \d+ minutes"))
    await expect(item).to_have_class(re.compile(r"\baglais-mod-warning\b"))
    await page.screenshot(path=str(Path(__file__).resolve().parents[2] / "docs" / "screenshots" / "zeppelin.png"))

    # Extend, through the same server extension (and its XSRF check) as JupyterLab's
    await notice.get_by_role("button", name="Extend by 30 min").click()
    await expect(notice).to_contain_text("Your booking now ends at")
    await expect(countdown).to_have_text(re.compile(r"^0:(39|40):\d\d left$"))
    await expect(item).not_to_have_class(re.compile(r"\baglais-mod-warning\b"))

    async def extended():
        return (await booking_api.ok("GET", f"bookings/{booking['id']}", user))["end"] != booking["end"]
    await wait_for(extended, 10, "the booking service did not get the extension")
    await servers.stop(user)
