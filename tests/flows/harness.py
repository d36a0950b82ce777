"""What flow tests share: in-memory media, short timeouts and the ``Harness`` that runs
a flow with the real ``PlaywrightExecutor`` on the test's page."""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field
from typing import Any

from playwright.async_api import BrowserContext, Page

from flows.engine import FlowOutcome, FlowTimeouts, Origins, run_flow, verify_flow
from flows.sink import MemorySink
from runner.playwright_executor import PlaywrightExecutor
from tests.fixtures.sites import SiteServer

LOCALES = ("en", "zh-TW")

#: Short enough that timeout paths finish quickly, long enough for the local sites.
FAST = FlowTimeouts(
    element_ms=1_500,
    page_ready_ms=1_500,
    outcome_ms=1_500,
    find_post_ms=500,
    upload_per_file_ms=2_000,
)


def png(seed: int, size: int = 2) -> bytes:
    """A distinct, valid PNG per ``seed``."""
    raw = b"".join(b"\x00" + bytes([seed % 256, (seed * 7) % 256, 90]) * size for _ in range(size))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


#: In-memory media the executor "fetches": url → (bytes, content type, filename).
MEDIA: dict[str, tuple[bytes, str, str]] = {
    f"/api/media-proxy/test/img{i}.png": (png(i), "image/png", f"img{i}.png") for i in range(1, 6)
}


async def fetch_media(url: str) -> tuple[bytes, str, str]:
    return MEDIA[url]


def media(*indexes: int) -> list[dict[str, str]]:
    return [{"url": f"/api/media-proxy/test/img{i}.png", "type": "image/png"} for i in indexes]


@dataclass
class Harness:
    """Runs one flow on this test's page against the look-alike sites."""

    page: Page
    context: BrowserContext
    facebook: SiteServer
    twitter: SiteServer
    sink: MemorySink = field(default_factory=MemorySink)

    @property
    def origins(self) -> Origins:
        return Origins(facebook=self.facebook.origin, twitter=self.twitter.origin)

    @property
    def executor(self) -> PlaywrightExecutor:
        return PlaywrightExecutor(self.page, fetch_media)

    async def login(self, platform: str, locale: str | None = "en") -> None:
        site = self.facebook if platform == "facebook" else self.twitter
        await self.context.add_cookies(site.login_cookies(locale))  # type: ignore[arg-type]

    async def set_locale(self, locale: str) -> None:
        for site in (self.facebook, self.twitter):
            await self.context.add_cookies(
                [{"name": "locale", "value": locale, "url": site.origin}]
            )

    async def add_style(self, css: str) -> None:
        """Simulate a layout change: ``css`` applied on every page the flow opens."""
        await self.context.add_init_script(
            "document.addEventListener('DOMContentLoaded', () => {"
            " const s = document.createElement('style');"
            f" s.textContent = {css!r};"
            " document.head.append(s); });"
        )

    async def run(
        self,
        platform: str,
        action: str,
        params: dict[str, Any],
        *,
        timeouts: FlowTimeouts | None = None,
        timeout_s: float = 60.0,
    ) -> FlowOutcome:
        self.sink = MemorySink()
        return await run_flow(
            action,
            platform,
            params,
            self.executor,
            self.sink,
            self.origins,
            timeout_s=timeout_s,
            timeouts=timeouts,
        )

    async def verify(
        self, platform: str, action: str, params: dict[str, Any], **kw: Any
    ) -> FlowOutcome:
        self.sink = MemorySink()
        return await verify_flow(
            action, platform, params, self.executor, self.sink, self.origins, **kw
        )

    def steps(self) -> list[tuple[str, str]]:
        return [(entry.step, entry.status) for entry in self.sink.entries]

    def error_entry(self) -> Any:
        errors = [entry for entry in self.sink.entries if entry.status == "error"]
        assert errors, self.steps()
        return errors[-1]
