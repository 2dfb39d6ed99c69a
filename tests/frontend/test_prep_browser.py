"""Preparation steps in real Chromium, on a hub of this module's own whose booking service
has the real stage_file worker (a process, as in the embedded default) and two local
platforms: Book now with "Stage a file before the start" makes a booking with the step,
its card shows the step PENDING and follows it to COMPLETED (the file lands in the user's
data area, fetched from a local HTTP server) and the booking WAITING; a file whose SHA-256
does not match, asked through Find me a slot, fails its booking, and the card says why.
The offers of the two platforms each name theirs. Every step is checked against the API."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from datetime import datetime, timedelta

import pytest
from playwright.async_api import Page, expect

from tests.booking_service.conftest import BookingAPI, day_start, iso
from tests.booking_service.test_preparation import make_home, start_worker
from tests.browser import SCREENSHOTS
from tests.frontend.conftest import REPO, cell, date_label, log_in, new_name, show_pool
from tests.hub import free_port, start_hub, stop_hub

pytestmark = pytest.mark.browser

STEPS_SCREENSHOT = REPO / "docs" / "screenshots" / "preparation.png"
CONTENT = b"source_id,ra,dec\n" + b"4295806720,44.996,0.005\n" * 4000
SHA = hashlib.sha256(CONTENT).hexdigest()
WING = "wing"  # the pool of the second local platform, made by the test that uses it


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A local HTTP server of one file, gaia.csv (the worker may fetch from 127.0.0.1)."""
    root = tmp_path_factory.mktemp("files")
    (root / "gaia.csv").write_bytes(CONTENT)
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
                                "--directory", str(root)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(url + "gaia.csv", timeout=2).read()
            break
        except OSError:
            assert process.poll() is None and time.monotonic() < deadline, "the file server did not start"
            time.sleep(0.1)
    yield url
    process.terminate()
    process.wait(10)


@pytest.fixture(scope="module")
def homes(tmp_path_factory):
    return tmp_path_factory.mktemp("homes")


@pytest.fixture(scope="module")
def hub(tmp_path_factory, homes, files):
    """A hub whose booking service has the stage_file worker (60 s quotes), a 1 s lifecycle
    round, and two local platforms: `campus` (every pool but one) and `gpu-wing` (WING)."""
    worker, worker_url = start_worker(homes, "--allowed-hosts=127.0.0.1")
    workdir = tmp_path_factory.mktemp("prep-hub")
    config = workdir / "booking_config.py"
    config.write_text(
        f"c.BookingService.preparation_workers = {{'stage_file': {{'url': {worker_url!r}, 'quote_seconds': 0, "
        f"'token': 'worker-token'}}}}\n"
        f"c.BookingService.platforms = [{{'name': 'campus', 'kind': 'local'}}, "
        f"{{'name': 'gpu-wing', 'kind': 'local', 'pools': [{WING!r}]}}]\n"
        "c.BookingService.lifecycle_interval = 1\n"
        # offers with steps start after the hold and the quotes: a short hold keeps the wait short
        "c.BookingService.offer_hold_minutes = 0.5\n")
    running = start_hub(workdir, {"booking": f"sqlite+aiosqlite:///{workdir}/booking.sqlite"}, extra_config=f"""
        for service in c.JupyterHub.services:
            if "command" in service:
                service["command"].append("--config={config}")
    """)
    yield running
    stop_hub(running.process)
    worker.terminate()
    worker.wait(10)


@pytest.fixture
def booking(hub) -> BookingAPI:
    return BookingAPI(hub, "booking")


async def fill_stage(form, url: str, path: str, sha: str) -> None:
    await form.get_by_label("Stage a file before the start").check()
    await form.get_by_label("File URL").fill(url)
    await form.get_by_label("Save as (under saved/)").fill(path)
    await form.get_by_label("Size (bytes)").fill(str(len(CONTENT)))
    await form.get_by_label("SHA-256").fill(sha)


async def test_book_now_with_a_file_to_stage_shows_the_step_until_it_completes(hub, booking, files, homes, page: Page,
                                                                                console_errors):
    admin = await hub.new_user(admin=True, prefix="admin")
    pool = await booking.new_pool(admin, cores=8, memory_gib=32)
    name = new_name("stager")
    home = make_home(homes, name)
    me = await booking.ok("GET", "me", admin)
    assert me["preparation"] == [{"kind": "stage_file", "quote_seconds": 0, "bytes_per_second": None,
                                  "min_quote_seconds": 60}]
    await log_in(page, hub, name)
    await show_pool(page, pool)

    form = page.locator("form.book-now")
    await form.get_by_label("Package").select_option("small")
    await form.get_by_label("For the next (hours)").fill("1")
    # the page checks the file's fields before it asks
    await form.get_by_label("Stage a file before the start").check()
    await form.get_by_label("File URL").fill(files + "gaia.csv")
    await form.get_by_role("button", name="Book now").click()
    await expect(page.get_by_role("alert")).to_have_text(re.compile("^Give where to save the file"))
    await fill_stage(form, files + "gaia.csv", "inputs/gaia.csv", SHA)
    await form.get_by_role("button", name="Book now").click()
    await expect(page.get_by_role("status")).to_contain_text(
        re.compile(rf"^Booked small on {pool} from .* \(booking #\d+\)\. Its file is staged before the start"))

    listed = await booking.ok("GET", f"bookings?user={name}", admin)
    [made] = listed["bookings"]
    [step] = made["steps"]
    assert (step["kind"], step["params"], step["quote_seconds"]) == (
        "stage_file", {"url": files + "gaia.csv", "path": "inputs/gaia.csv", "size": len(CONTENT), "sha256": SHA}, 60)
    # it starts once the file can be staged: a quote (60 s) and a little after now
    card = page.locator(f'article.booking-card[data-booking-id="{made["id"]}"]')
    steps = card.locator(".step-list li")
    await expect(steps).to_have_count(1)
    await expect(steps.nth(0)).to_contain_text(f"stage_file saved/inputs/gaia.csv from {files}gaia.csv")
    await expect(steps.nth(0).locator(".step-state")).to_have_text(re.compile("^(PENDING|RUNNING)$"))

    # the real worker fetches it when it is due; the card follows without a reload
    await expect(steps.nth(0).locator(".step-state")).to_have_text("COMPLETED", timeout=60_000)
    await expect(card.locator(".badge.phase")).to_have_text("WAITING")
    await expect(steps.nth(0).locator(".step-message")).not_to_be_empty()
    done = await booking.ok("GET", f"bookings/{made['id']}", admin)
    assert done["phase"] == "WAITING" and done["steps"][0]["state"] == "COMPLETED"
    await expect(steps.nth(0).locator(".step-message")).to_have_text(done["steps"][0]["message"])
    assert (home / "saved" / "inputs" / "gaia.csv").read_bytes() == CONTENT
    await card.get_by_role("button", name="History").click()
    await expect(card.locator(".history-list li")).to_have_count(3)  # ACCEPTED, PREPARING, WAITING

    # a block selected on the grid, tomorrow, with the file again: its step is due a quote before
    await page.get_by_role("button", name="Dismiss").click()
    tomorrow = day_start(1)
    if tomorrow.weekday() == 0:
        await page.get_by_role("button", name="Later").click()
    await cell(page, "small", tomorrow.weekday()).click()
    selection = page.locator(".selection")
    await fill_stage(selection, files + "gaia.csv", "inputs/gaia.csv", SHA)
    await selection.get_by_role("button", name="Book small").click()
    await expect(page.get_by_role("status")).to_contain_text(
        re.compile(rf"^Booked small on {pool} from {date_label(tomorrow)}, 00:00 to .* Its file is staged"))
    later = [b for b in (await booking.ok("GET", f"bookings?user={name}", admin))["bookings"] if b["id"] != made["id"]]
    assert [(b["start"], b["steps"][0]["due"], b["steps"][0]["state"]) for b in later] == [
        (iso(tomorrow), iso(tomorrow - timedelta(seconds=60)), "PENDING")]
    pending = page.locator(f'article.booking-card[data-booking-id="{later[0]["id"]}"] .step-list li')
    await expect(pending.locator(".step-state")).to_have_text("PENDING")
    assert console_errors == []


async def test_a_failing_step_asked_through_find_a_slot_shows_why_and_offers_name_their_platform(
        hub, booking, files, homes, page: Page, console_errors):
    admin = await hub.new_user(admin=True, prefix="admin")
    pool = await booking.new_pool(admin, cores=8, memory_gib=32)
    await booking.ok("POST", "pools", admin, {"name": WING, "kind": "reserved", "description": "test"})
    await booking.ok("POST", f"pools/{WING}/capacity", admin, {
        "start": iso(day_start(0)), "end": iso(day_start(3)), "cores": 8, "memory_gib": 32})
    name = new_name("unlucky")
    make_home(homes, name)
    platforms = await booking.ok("GET", "platforms", admin)
    assert [p["name"] for p in platforms["platforms"]] == ["campus", "gpu-wing"]
    await log_in(page, hub, name)
    await show_pool(page, pool)

    form = page.locator("form.find-slot")
    now = time.time()
    start = time.strftime("%Y-%m-%dT%H:%M", time.gmtime(now))
    later = time.strftime("%Y-%m-%dT%H:%M", time.gmtime(now + 2 * 3600))
    await form.get_by_label("Which package").select_option("small")
    await form.get_by_label("Which pool").select_option("")  # any pool: both platforms
    await form.get_by_label("Start from").fill(start)
    await form.get_by_label("Start by").fill(later)
    await form.get_by_label("At least (hours)").fill("1")
    await form.get_by_label("At most (hours)").fill("1")
    await fill_stage(form, files + "gaia.csv", "gaia.csv", "0" * 64)  # not the file's SHA-256
    await form.get_by_role("button", name="Find slots").click()

    offers = page.locator(".offer-card")
    await expect(offers).not_to_have_count(0)
    set_id = int(await page.locator(".offer-set").get_attribute("data-offer-set"))
    held = await booking.ok("GET", f"offersets/{set_id}", admin)
    assert {o["platform"] for o in held["offers"]} == {"campus", "gpu-wing"}, held["offers"]
    for i, offer in enumerate(held["offers"]):
        await expect(offers.nth(i)).to_contain_text(f"pool {offer['pool']} · platform {offer['platform']}")
    # an offer starts once its step can be done: the hold (30 s) and its quote after now
    assert all(datetime.fromisoformat(o["start"].replace("Z", "+00:00")).timestamp() >= now + 90 for o in held["offers"])
    await expect(page.locator(".offer-messages")).to_contain_text("the preparation steps are quoted 60 s in all")

    await page.get_by_role("button", name="Accept offer 1").click()
    await expect(page.get_by_role("status")).to_contain_text("Accepted offer 1")
    accepted = held["offers"][0]
    card = page.locator(f'article.booking-card[data-booking-id="{accepted["id"]}"]')
    # the worker downloads it, finds another SHA-256 and reports FAILED: the card says why
    await expect(card.locator(".badge.phase")).to_have_text("FAILED", timeout=180_000)
    failed = await booking.ok("GET", f"bookings/{accepted['id']}", admin)
    cause = failed["transitions"][-1]["cause"]
    assert cause.startswith("preparation step 1 (stage_file) failed: ") and "not the step's" in cause, cause
    await expect(card.locator(".failure-note")).to_have_text(f"This booking failed: {cause}")
    step = card.locator(".step-list li")
    await expect(step.locator(".step-state")).to_have_text("FAILED")
    await expect(step.locator(".step-message")).to_have_text(failed["steps"][0]["message"])
    assert not os.path.exists(homes / name / "saved" / "gaia.csv")

    await page.get_by_role("button", name="Dismiss").click()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.locator(".calendar-layout").screenshot(path=str(SCREENSHOTS / "preparation.png"))
    shutil.copyfile(SCREENSHOTS / "preparation.png", STEPS_SCREENSHOT)
    assert console_errors == []
