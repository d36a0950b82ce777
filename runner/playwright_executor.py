"""``PlaywrightExecutor``: the flows' atomic commands on a Playwright page.

Selectors are CSS or ``xpath=`` + XPath 1.0 (what the extension can evaluate too). A
click or type acts on the first *visible* element the selector matches, with Playwright's
real (trusted) mouse and keyboard input. Every Playwright error is translated here into
the flows' :mod:`flows.executor` errors; nothing above this module sees Playwright.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn

from playwright.async_api import Dialog, Error, Locator, Page, TimeoutError

from flows.commands import (
    Click,
    Command,
    Cookies,
    Evaluate,
    Navigate,
    Press,
    Screenshot,
    Type,
    Upload,
    Wait,
)
from flows.executor import CommandError, CommandTimeout, Disconnected, ElementNotFound

try:
    from playwright._impl._errors import TargetClosedError
except ImportError:  # pragma: no cover - older Playwright
    TargetClosedError = Error  # type: ignore[assignment,misc]

#: ``fetch_media(url) -> (data, content_type, filename)``, provided by the runner.
FetchMedia = Callable[[str], Awaitable[tuple[bytes, str, str]]]

_PAGES_HANDLING_DIALOGS: weakref.WeakSet[Page] = weakref.WeakSet()

_CLOSED_MARKERS = (
    "Target page, context or browser has been closed",
    "Target closed",
    "Browser has been closed",
    "Browser closed",
    "Connection closed",
    "has been closed",
)

# The page-side helpers of the scripts below: the elements a CSS or ``xpath=`` selector
# matches, and whether one is visible (Playwright's definition). The scripts run through
# ``page.evaluate`` rather than a locator's ``evaluate``: that one makes Playwright inject
# its selector engine into the page's main world, once per document, which cost a post
# about a tenth of the browser's CPU (bench/flow_overhead.py, Chromium CPU per post).
_QUERY = r"""
  const q = (sel) => {
    if (sel.startsWith("xpath=")) {
      const r = document.evaluate(sel.slice(6), document, null,
        XPathResult.ORDERED_NODE_SNAPSHOT_TYPE, null);
      const out = [];
      for (let i = 0; i < r.snapshotLength; i++) out.push(r.snapshotItem(i));
      return out;
    }
    return document.querySelectorAll(sel.startsWith("css=") ? sel.slice(4) : sel);
  };
  const visible = (el) => {
    if (!(el instanceof Element)) return false;
    if (el.checkVisibility && !el.checkVisibility()) return false;
    if (getComputedStyle(el).visibility !== "visible") return false;
    const r = el.getBoundingClientRect();
    return r.width > 0 && r.height > 0;
  };
"""

# Resolves with the index of the first selector that matches a visible element,
# re-checking on DOM mutations; -1 at the timeout.
_FIRST_VISIBLE = (
    r"""
([sels, timeoutMs]) => new Promise((resolve) => {"""
    + _QUERY
    + r"""
  const find = () => {
    for (let i = 0; i < sels.length; i++) {
      for (const el of q(sels[i])) if (visible(el)) return i;
    }
    return -1;
  };
  let done = false, queued = null, observer = null;
  const finish = (v) => {
    if (done) return;
    done = true;
    if (observer) observer.disconnect();
    clearTimeout(queued);
    clearTimeout(timer);
    clearInterval(ticker);
    resolve(v);
  };
  const tick = () => {
    queued = null;
    let i;
    try { i = find(); } catch (e) { finish({ error: String(e) }); return; }
    if (i >= 0) finish(i);
  };
  const schedule = () => { if (!done && queued === null) queued = setTimeout(tick, 16); };
  const timer = setTimeout(() => { tick(); finish(-1); }, timeoutMs);
  const ticker = setInterval(schedule, 100);
  tick();
  if (done) return;
  observer = new MutationObserver(schedule);
  observer.observe(document, { subtree: true, childList: true, attributes: true,
    characterData: true });
})
"""
)

# Whether the first visible element the selector matches holds the focus (itself or a
# descendant); null when none is visible.
_HAS_FOCUS = (
    "(sel) => {"
    + _QUERY
    + r"""
  for (const el of q(sel)) {
    if (!visible(el)) continue;
    const active = document.activeElement;
    return el === active || el.contains(active);
  }
  return null;
}
"""
)


class PlaywrightExecutor:
    """Runs :mod:`flows.commands` on ``page``. ``fetch_media`` resolves the URLs of an
    ``upload``; beforeunload prompts are accepted so a draft never blocks navigation."""

    def __init__(self, page: Page, fetch_media: FetchMedia | None = None) -> None:
        self.page = page
        self._fetch_media = fetch_media
        self._handlers: dict[str, Callable[[Any], Awaitable[dict[str, Any]]]] = {
            "navigate": self._navigate,
            "click": self._click,
            "type": self._type,
            "wait": self._wait,
            "evaluate": self._evaluate,
            "screenshot": self._screenshot,
            "cookies": self._cookies,
            "upload": self._upload,
            "press": self._press,
        }
        if page not in _PAGES_HANDLING_DIALOGS:
            # One handler per page however many executors (tasks) the page serves.
            page.on("dialog", _on_dialog)
            _PAGES_HANDLING_DIALOGS.add(page)

    async def run(self, command: Command) -> dict[str, Any]:
        """Carry out ``command``; raises only :mod:`flows.executor` errors."""
        handler = self._handlers.get(command.cmd)
        if handler is None:
            raise CommandError(f"Unknown command {command.cmd!r}", command=command.cmd)
        if self.page.is_closed():
            raise Disconnected("The page is closed", command=command.cmd)
        try:
            return await handler(command)
        except CommandError:
            raise
        except TimeoutError as exc:
            raise CommandTimeout(_first_line(exc), command=command.cmd) from None
        except Error as exc:
            _raise_translated(exc, command.cmd)

    # -- commands ----------------------------------------------------------------------

    async def _navigate(self, command: Navigate) -> dict[str, Any]:
        await self.page.goto(
            command.url,
            wait_until="load" if command.wait_for_load else "commit",
            timeout=command.timeout_ms,
        )
        return {"url": self.page.url}

    async def _click(self, command: Click) -> dict[str, Any]:
        deadline = time.monotonic() + command.timeout_ms / 1000
        selector = await self._first_visible(command.selectors, command.timeout_ms, "click")
        try:
            await _visible(self.page, selector).click(timeout=_remaining_ms(deadline))
        except TimeoutError as exc:
            raise ElementNotFound(
                f"{selector} did not become clickable: {_first_line(exc)}", command="click"
            ) from None
        return {"matched": selector}

    async def _type(self, command: Type) -> dict[str, Any]:
        deadline = time.monotonic() + command.timeout_ms / 1000
        target = _visible(self.page, command.selector)
        try:
            focused = await self._has_focus(command.selector)
            if focused is None:  # not shown yet
                await target.wait_for(state="attached", timeout=_remaining_ms(deadline))
                focused = await self._has_focus(command.selector)
            if not focused:
                await target.click(timeout=_remaining_ms(deadline))
        except TimeoutError:
            raise ElementNotFound(
                f"No visible element matches {command.selector}", command="type"
            ) from None
        keyboard = self.page.keyboard
        text = command.text.replace("\r\n", "\n").replace("\r", "\n")
        for index, line in enumerate(text.split("\n")):
            if index:
                await keyboard.press("Enter")
            # A typed Tab would move the focus out of the editor: insert it instead.
            for part_index, part in enumerate(line.split("\t")):
                if part_index:
                    await keyboard.insert_text("\t")
                if part:
                    await keyboard.type(part)
        return {}

    async def _wait(self, command: Wait) -> dict[str, Any]:
        if command.selector is None:
            await asyncio.sleep(command.seconds or 0)
            return {}
        locator = self.page.locator(command.selector)
        if command.state in ("visible", "hidden"):
            locator = locator.filter(visible=True)
        appear = command.state in ("visible", "attached")
        try:
            await locator.first.wait_for(
                state="attached" if appear else "detached", timeout=command.timeout_ms
            )
        except TimeoutError:
            message = f"{command.selector} did not become {command.state}"
            if appear:
                raise ElementNotFound(message, command="wait") from None
            raise CommandTimeout(message, command="wait") from None
        return {}

    async def _evaluate(self, command: Evaluate) -> dict[str, Any]:
        result = await self.page.evaluate(command.expression)
        return {"result": result}

    async def _screenshot(self, command: Screenshot) -> dict[str, Any]:
        quality = command.quality if command.format == "jpeg" else None
        data = await self.page.screenshot(type=command.format, quality=quality)
        encoded = base64.b64encode(data).decode("ascii")
        return {"dataUri": f"data:image/{command.format};base64,{encoded}"}

    async def _cookies(self, command: Cookies) -> dict[str, Any]:
        cookies = await self.page.context.cookies(command.urls or None)
        return {"cookies": [dict(cookie) for cookie in cookies]}

    async def _upload(self, command: Upload) -> dict[str, Any]:
        if self._fetch_media is None:
            raise CommandError("No media fetcher configured", command="upload")
        try:
            fetched = await asyncio.gather(*(self._fetch_media(f.url) for f in command.files))
        except CommandError:
            raise
        except Exception as exc:
            raise CommandError(f"Could not fetch media: {exc}", command="upload") from exc
        payloads = [
            {"name": file.name or filename, "mimeType": content_type or file.type, "buffer": data}
            for file, (data, content_type, filename) in zip(command.files, fetched, strict=True)
        ]
        try:
            await self.page.locator(command.selector).first.set_input_files(
                payloads,  # type: ignore[arg-type]
                timeout=command.timeout_ms,
            )
        except TimeoutError:
            raise ElementNotFound(
                f"No file input matches {command.selector}", command="upload"
            ) from None
        return {"count": len(payloads)}

    async def _press(self, command: Press) -> dict[str, Any]:
        if command.selector is None:
            await self.page.keyboard.press(command.key)
            return {}
        try:
            await _visible(self.page, command.selector).press(
                command.key, timeout=command.timeout_ms
            )
        except TimeoutError:
            raise ElementNotFound(
                f"No visible element matches {command.selector}", command="press"
            ) from None
        return {}

    # -- helpers -------------------------------------------------------------------------

    async def _has_focus(self, selector: str) -> bool | None:
        """Whether the first visible match of ``selector`` has the focus; None when
        nothing visible matches (or a navigation replaced the document meanwhile)."""
        try:
            focused = await self.page.evaluate(_HAS_FOCUS, selector)
        except Error as exc:
            if "Execution context was destroyed" in str(exc):
                return None
            raise
        return None if focused is None else bool(focused)

    async def _first_visible(self, selectors: list[str], timeout_ms: int, cmd: str) -> str:
        """The first selector of the ordered list that matches a visible element, in one
        round trip (re-checked on DOM changes until ``timeout_ms``)."""
        if len(selectors) == 1:
            return selectors[0]
        deadline = time.monotonic() + timeout_ms / 1000
        while True:
            try:
                index = await self.page.evaluate(
                    _FIRST_VISIBLE, [selectors, _remaining_ms(deadline)]
                )
            except Error as exc:
                # A navigation replaced the document mid-wait: look again in the new one.
                if "Execution context was destroyed" in str(exc) and time.monotonic() < deadline:
                    continue
                raise
            if isinstance(index, dict):
                raise CommandError(f"Bad selector: {index.get('error')}", command=cmd)
            if index >= 0:
                return selectors[index]
            raise ElementNotFound(
                f"No visible element matches any of {json.dumps(selectors, ensure_ascii=False)}",
                command=cmd,
            )


async def _on_dialog(dialog: Dialog) -> None:
    """Accept "leave page?" so a draft never blocks navigation; dismiss alerts and
    confirms (Playwright stops auto-dismissing once a handler exists)."""
    try:
        if dialog.type == "beforeunload":
            await dialog.accept()
        else:
            await dialog.dismiss()
    except Error:
        pass


def _visible(page: Page, selector: str) -> Locator:
    return page.locator(selector).filter(visible=True).first


def _remaining_ms(deadline: float) -> float:
    return max(1.0, (deadline - time.monotonic()) * 1000)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _raise_translated(exc: Error, cmd: str) -> NoReturn:
    message = _first_line(exc)
    if isinstance(exc, TargetClosedError) or any(m in str(exc) for m in _CLOSED_MARKERS):
        raise Disconnected(message, command=cmd) from None
    raise CommandError(message, command=cmd) from None
