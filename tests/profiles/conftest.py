"""Fixtures for the profile tests: persistent contexts on the system Chromium, a profiles
root that must end with no Chromium running on it, and a local HTTP server."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from playwright.async_api import BrowserContext, Playwright

from profiles import BrowserSettings, launch_options, processes_under
from tests.fixtures.browser import CHROMIUM_PATH, playwright_driver
from tests.profiles.support import Launch, Site, start_site

__all__ = ["playwright_driver"]  # fixture shared from tests/fixtures/browser.py


@pytest.fixture
def site() -> Iterator[Site]:
    """A local HTTP server (also usable as an HTTP proxy) on 127.0.0.1."""
    server, recorded = start_site()
    yield recorded
    server.shutdown()
    server.server_close()


@pytest.fixture
def profiles_root(tmp_path: Path) -> Iterator[Path]:
    root = tmp_path / "profiles"
    root.mkdir()
    yield root
    deadline = time.monotonic() + 5
    while processes_under(root) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert processes_under(root) == [], "a test left Chromium running"


@pytest.fixture
async def launch(playwright_driver: Playwright, profiles_root: Path) -> AsyncIterator[Launch]:
    """``await launch(profile, settings=None)``: a persistent context on ``profile``,
    closed at the end of the test."""
    opened: list[BrowserContext] = []

    async def _launch(profile: Path, settings: BrowserSettings | None = None) -> BrowserContext:
        options = launch_options(settings or BrowserSettings(), executable_path=CHROMIUM_PATH)
        context = await playwright_driver.chromium.launch_persistent_context(profile, **options)
        opened.append(context)
        return context

    yield _launch
    for context in opened:
        await context.close()
