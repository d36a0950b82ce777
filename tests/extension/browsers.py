"""Chromium with the Bredgio extension loaded, two ways:

- :func:`launched_browser`: launched by Playwright (``launch_persistent_context``, new
  headless). Playwright stays attached to every page and to the service worker, which
  also keeps the worker from ever being stopped for idleness.
- :class:`PlainChromium`: a ``chromium --headless=new --load-extension`` subprocess with
  a remote-debugging port. Tests connect over CDP only to operate the popup (or to read
  the extension's state) and disconnect again, so the extension runs as in an
  operator's browser.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import signal
import subprocess
import time
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, BrowserContext, Page, Playwright, async_playwright

from tests.fixtures.browser import CHROMIUM_ARGS, CHROMIUM_PATH
from tests.fixtures.postgres import free_port

EXTENSION_DIR = Path(__file__).resolve().parents[2] / "extension"


def extension_args(extension_dir: Path = EXTENSION_DIR) -> list[str]:
    return [f"--disable-extensions-except={extension_dir}", f"--load-extension={extension_dir}"]


VERSION = json.loads((EXTENSION_DIR / "manifest.json").read_text())["version"]


def extension_id_of(url: str) -> str:
    """``chrome-extension://<id>/background.js`` -> ``<id>``."""
    return url.split("/")[2]


async def connect_popup(page: Page, server_url: str, token: str) -> None:
    """Fill in the popup (already open on ``page``) and press Save & Connect."""
    await page.get_by_label("Server URL").fill(server_url)
    await page.get_by_label("Agent token").fill(token)
    await page.get_by_role("button", name="Save & Connect").click()


async def wait_status(page: Page, state: str, timeout_s: float = 10.0) -> str:
    """Wait until the popup shows ``state``; returns the status text."""
    status = page.locator("#status")
    await status.and_(page.locator(f'[data-state="{state}"]')).wait_for(timeout=timeout_s * 1000)
    return await status.inner_text()


STATUS_JS = "chrome.storage.session.get('status').then((s) => s.status || {})"


class ExtensionHost:
    """A browser with the extension: its popup, its status, its cookie jar."""

    extension_id: str

    @property
    def popup_url(self) -> str:
        return f"chrome-extension://{self.extension_id}/popup.html"

    @contextlib.asynccontextmanager
    async def popup(self) -> AsyncIterator[Page]:
        """The popup page, opened in a tab."""
        async with self._context() as context:
            page = await context.new_page()
            try:
                await page.goto(self.popup_url)
                yield page
            finally:
                await page.close()

    async def connect(self, server_url: str, token: str, state: str = "connected") -> str:
        """Save & Connect through the popup; waits for ``state``, returns the status text."""
        async with self.popup() as page:
            await connect_popup(page, server_url, token)
            return await wait_status(page, state)

    async def status(self) -> dict[str, Any]:
        """The extension's connection status (state, message, at)."""
        async with self.popup() as page:
            state: dict[str, Any] = await page.evaluate(STATUS_JS)
            return state

    async def add_cookies(self, cookies: list[dict[str, Any]]) -> None:
        async with self._context() as context:
            await context.add_cookies(cookies)  # type: ignore[arg-type]

    def _context(self) -> contextlib.AbstractAsyncContextManager[BrowserContext]:
        raise NotImplementedError


class LaunchedBrowser(ExtensionHost):
    def __init__(self, context: BrowserContext, extension_id: str) -> None:
        self.context = context
        self.extension_id = extension_id

    @contextlib.asynccontextmanager
    async def _context(self) -> AsyncIterator[BrowserContext]:
        yield self.context


@contextlib.asynccontextmanager
async def launched_browser(
    driver: Playwright, profile: Path, extension_dir: Path = EXTENSION_DIR
) -> AsyncIterator[LaunchedBrowser]:
    context = await driver.chromium.launch_persistent_context(
        str(profile),
        executable_path=CHROMIUM_PATH,
        headless=True,
        args=[*extension_args(extension_dir), *CHROMIUM_ARGS],
        viewport={"width": 1280, "height": 900},
    )
    try:
        workers = context.service_workers
        worker = workers[0] if workers else await context.wait_for_event("serviceworker")
        yield LaunchedBrowser(context, extension_id_of(worker.url))
    finally:
        await context.close()


class PlainChromium(ExtensionHost):
    """``chromium`` as an operator would run it, with the extension loaded unpacked."""

    def __init__(self, profile: Path) -> None:
        self.profile = profile
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.extension_id = ""

    @property
    def cdp_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 20.0) -> None:
        self.process = subprocess.Popen(
            [
                CHROMIUM_PATH,
                "--headless=new",
                f"--remote-debugging-port={self.port}",
                f"--user-data-dir={self.profile}",
                "--window-size=1280,900",
                *extension_args(),
                *CHROMIUM_ARGS,
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for target in self._targets():
                if target.get("type") == "service_worker" and target["url"].startswith(
                    "chrome-extension://"
                ):
                    self.extension_id = extension_id_of(target["url"])
                    return
            time.sleep(0.1)
        raise RuntimeError("the extension's service worker did not start")

    def _targets(self) -> list[dict[str, Any]]:
        try:
            with urllib.request.urlopen(f"{self.cdp_url}/json/list", timeout=2) as response:
                targets: list[dict[str, Any]] = json.load(response)
                return targets
        except OSError:
            return []

    def worker_running(self) -> bool:
        """Whether the extension's service worker is running right now."""
        return any(
            t.get("type") == "service_worker"
            and t["url"].startswith(f"chrome-extension://{self.extension_id}/")
            for t in self._targets()
        )

    @contextlib.asynccontextmanager
    async def _context(self) -> AsyncIterator[BrowserContext]:
        async with self.attached() as (_, context):
            yield context

    @contextlib.asynccontextmanager
    async def attached(self) -> AsyncIterator[tuple[Browser, BrowserContext]]:
        """Connect over CDP for a moment (a driver of its own, stopped afterwards so
        nothing stays attached to the browser)."""
        driver = await async_playwright().start()
        try:
            browser = await driver.chromium.connect_over_cdp(self.cdp_url)
            yield browser, browser.contexts[0]
        finally:
            await driver.stop()

    def quit(self) -> None:
        """End the browser process (the profile stays)."""
        if self.process is None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def restart(self) -> None:
        """Quit and start again on the same profile, as an operator reopening Chrome."""
        self.quit()
        self.start()

    def stop(self) -> None:
        self.quit()
        shutil.rmtree(self.profile, ignore_errors=True)

