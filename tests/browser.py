"""Headless Chromium for the web UI's browser tests: Debian's chromium driven by Playwright through
its executable_path (no browser download). Each test keeps a screenshot of the page it checked in
test-artifacts/screenshots/.

Without a chromium the browser tests are skipped, unless APPLIANCE_BROWSER_TESTS=required (CI sets
it), where a missing browser is a failure.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

SCREENSHOTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "screenshots"
# Flags for a closed network and a root user: without the background-networking ones Chromium keeps
# trying to reach Google's hosts, which this network refuses.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium_path() -> str | None:
    for candidate in (os.environ.get("APPLIANCE_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium"),
                      shutil.which("chromium-browser")):
        if candidate and Path(candidate).exists():
            return candidate
    return None


def require_browser() -> str:
    path = chromium_path()
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        path = None
    if path is None:
        if os.environ.get("APPLIANCE_BROWSER_TESTS") == "required":
            pytest.fail("the browser tests need Debian's chromium and Playwright (apt-get install chromium)")
        pytest.skip("no chromium here (apt-get install chromium); browser tests skipped")
    return path


@pytest.fixture
async def browser():
    from playwright.async_api import async_playwright

    path = require_browser()
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            await chromium.close()


async def new_page(browser, width: int = 1280, height: int = 900):
    context = await browser.new_context(viewport={"width": width, "height": height}, locale="en-GB")
    page = await context.new_page()
    page.set_default_timeout(20_000)  # a loaded 2-core CI box is slow to render
    return page


async def keep_screenshot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / (re.sub(r"[^A-Za-z0-9_.-]", "_", name) + ".png")
    await page.screenshot(path=str(path), full_page=True)
    return path
