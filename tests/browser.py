"""Real Chromium for the browser tests: Debian's package driven by Playwright for Python.

Nothing here downloads a browser: `make test` installs Debian's `chromium` and
passes its path in $AGLAIS_CHROMIUM.  Each test gets a fresh context (cookies,
storage) and saves a screenshot of where its page ended up, under
test-artifacts/screenshots/, whether it passed or not.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SCREENSHOTS = REPO / "test-artifacts" / "screenshots"

# The flags the machine needs: no sandbox as root, no GPU, and nothing that
# phones home (the network outside is closed and Chromium would keep retrying).
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str:
    path = os.environ.get("AGLAIS_CHROMIUM", "/usr/bin/chromium")
    if not os.access(path, os.X_OK):
        raise RuntimeError(f"{path} is missing: run `make test`, which installs Debian's chromium")
    return path


@pytest.fixture(scope="session")
async def chromium():
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


@pytest.fixture
def context_options() -> dict:
    """More options of the `page` fixture's browser context (e.g. `timezone_id`); a conftest
    or a test's parametrize may override it."""
    return {}


@pytest.fixture
async def page(chromium, request, context_options):
    """A page in a fresh browser context; its screenshot is saved when the test ends."""
    context = await chromium.new_context(**{"viewport": {"width": 1280, "height": 860}, **context_options})
    context.set_default_timeout(15_000)
    page = await context.new_page()
    try:
        yield page
    finally:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
        try:
            await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
        except Exception as e:  # a crashed page must not hide the test's own failure
            print(f"screenshot of {name} failed: {e}")
        await context.close()
