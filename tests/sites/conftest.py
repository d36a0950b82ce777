"""Browser and site fixtures for the look-alike sites' own tests."""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, BrowserContext, FilePayload, async_playwright

from tests.fixtures.sites.fixtures import facebook_site, reset_sites, twitter_site

__all__ = ["facebook_site", "reset_sites", "twitter_site"]

CHROMIUM_PATH = os.environ.get("BREDGIO_CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(autouse=True)
def _fresh_sites(reset_sites: None) -> None:
    """Every test starts with no posts and the default scenarios."""


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM_PATH, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        await browser.close()


@pytest.fixture
async def context(browser: Browser) -> AsyncIterator[BrowserContext]:
    context = await browser.new_context()
    context.set_default_timeout(5_000)
    yield context
    await context.close()


def png(seed: int) -> bytes:
    """A valid 2x2 PNG whose bytes differ per ``seed``."""
    pixels = bytes([seed % 256, (seed * 7) % 256, (seed * 13) % 256]) * 2
    raw = b"".join(b"\x00" + pixels for _ in range(2))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def file_payload(name: str, mime_type: str, data: bytes) -> FilePayload:
    return {"name": name, "mimeType": mime_type, "buffer": data}
