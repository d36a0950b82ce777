"""Fixtures for the extension's tests: Chromium with the extension loaded (launched by
Playwright, or a plain subprocess), connected through its popup to a minimal
seed-protocol hub."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio
from playwright.async_api import Playwright

from tests.extension.browsers import ExtensionHost, PlainChromium, launched_browser
from tests.extension.seed_hub import SeedHub, seed_hub
from tests.fixtures.browser import playwright_driver
from tests.fixtures.sites.fixtures import facebook_site, reset_sites, twitter_site

__all__ = ["facebook_site", "playwright_driver", "reset_sites", "twitter_site"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "slow: waits out a real-time limit (runs by default; -m 'not slow' skips)"
    )


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def launched(
    playwright_driver: Playwright, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[ExtensionHost]:
    """Chromium launched by Playwright with the extension loaded."""
    profile = tmp_path_factory.mktemp("launched-profile")
    async with launched_browser(playwright_driver, profile) as browser:
        yield browser


@pytest.fixture(scope="session")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlainChromium]:
    """A plain ``chromium`` subprocess with the extension loaded."""
    browser = PlainChromium(tmp_path_factory.mktemp("plain-profile") / "profile")
    browser.start()
    try:
        yield browser
    finally:
        browser.stop()


@pytest.fixture(scope="session", params=["launched", "plain"])
def host(request: pytest.FixtureRequest) -> ExtensionHost:
    """The extension's browser, each way of loading it in turn."""
    browser: ExtensionHost = request.getfixturevalue(request.param)
    return browser


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def hub(host: ExtensionHost) -> AsyncIterator[SeedHub]:
    """A seed hub the extension is connected to (through its popup)."""
    async with seed_hub(secrets.token_hex(32)) as running:
        await host.connect(running.url, running.token)
        yield running
