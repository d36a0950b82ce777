"""Flow tests run the real flows with the real ``PlaywrightExecutor`` in Chromium
against the look-alike sites (one browser and one server per site per session, a
fresh browser context per test)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import pytest_asyncio
from playwright.async_api import BrowserContext, Page

from tests.fixtures.browser import browser, browser_context, page, playwright_driver
from tests.fixtures.sites import SiteServer
from tests.fixtures.sites.fixtures import facebook_site, reset_sites, twitter_site
from tests.flows.harness import Harness

__all__ = [
    "browser",
    "browser_context",
    "facebook_site",
    "page",
    "playwright_driver",
    "reset_sites",
    "twitter_site",
]


@pytest.fixture(autouse=True)
def _clean_sites(reset_sites: None) -> Iterator[None]:
    yield


@pytest_asyncio.fixture(loop_scope="session")
async def harness(
    page: Page,
    browser_context: BrowserContext,
    facebook_site: SiteServer,
    twitter_site: SiteServer,
) -> Harness:
    return Harness(page, browser_context, facebook_site, twitter_site)
