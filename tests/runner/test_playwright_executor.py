"""PlaywrightExecutor: every command on a real Chromium page, errors translated."""

from __future__ import annotations

import asyncio
import base64
import socket
import time

import pytest
from playwright.async_api import Page

from flows.commands import (
    Click,
    Cookies,
    Evaluate,
    Navigate,
    Press,
    Screenshot,
    Type,
    Upload,
    UploadFile,
    Wait,
)
from flows.executor import CommandError, CommandTimeout, Disconnected, ElementNotFound
from runner.playwright_executor import PlaywrightExecutor
from tests.fixtures.browser import browser, browser_context, page, playwright_driver
from tests.fixtures.sites import SiteServer
from tests.fixtures.sites.fixtures import facebook_site

__all__ = ["browser", "browser_context", "facebook_site", "page", "playwright_driver"]

MEDIA = {
    "/m/one.png": (b"\x89PNG one", "image/png", "one.png"),
    "/m/two.jpg": (b"\xff\xd8 two two", "image/jpeg", "two.jpg"),
    "/m/three.gif": (b"GIF89a three!", "image/gif", "three.gif"),
}


async def fetch_media(url: str) -> tuple[bytes, str, str]:
    return MEDIA[url]


CLICKS = """
<script>window.clicks = [];</script>
<button id="hidden" style="display:none" onclick="clicks.push(['hidden', 1])">h</button>
<button id="b" onclick="clicks.push(['b', event.isTrusted])">Post</button>
<div role="button" id="c" onclick="clicks.push(['c', event.isTrusted])">What's on your mind?</div>
"""


async def test_click_tries_selectors_in_order_and_clicks_for_real(page: Page) -> None:
    await page.set_content(CLICKS)
    executor = PlaywrightExecutor(page)

    data = await executor.run(Click(selectors=["#missing", "#hidden", "#c", "#b"]))

    assert data == {"matched": "#c"}
    assert await page.evaluate("clicks") == [["c", True]]


async def test_click_understands_xpath_and_waits_for_late_elements(page: Page) -> None:
    await page.set_content(
        CLICKS
        + """<script>setTimeout(() => {
          const d = document.createElement('div');
          d.setAttribute('role', 'button'); d.id = 'late'; d.textContent = '建立貼文';
          d.onclick = (e) => clicks.push(['late', e.isTrusted]);
          document.body.append(d); }, 200);</script>"""
    )
    executor = PlaywrightExecutor(page)

    data = await executor.run(
        Click(selectors=['xpath=//div[@role="button"][contains(., "建立貼文")]', "#nope"])
    )

    assert data == {"matched": 'xpath=//div[@role="button"][contains(., "建立貼文")]'}
    assert await page.evaluate("clicks") == [["late", True]]


@pytest.mark.parametrize("selectors", [["#hidden"], ["#hidden", "#missing"]])
async def test_click_without_a_visible_match_is_element_not_found(
    page: Page, selectors: list[str]
) -> None:
    await page.set_content(CLICKS)
    executor = PlaywrightExecutor(page)
    started = time.monotonic()

    with pytest.raises(ElementNotFound):
        await executor.run(Click(selectors=selectors, timeout_ms=300))

    assert time.monotonic() - started < 3
    assert await page.evaluate("clicks") == []


async def test_bad_selector_is_a_command_error_not_a_timeout(page: Page) -> None:
    await page.set_content(CLICKS)
    executor = PlaywrightExecutor(page)
    with pytest.raises(CommandError) as caught:
        await executor.run(Click(selectors=["xpath=//[", "#b"], timeout_ms=300))
    assert not isinstance(caught.value, CommandTimeout)


async def test_type_sends_real_keys_and_enter_for_newlines(page: Page) -> None:
    await page.set_content(
        """<textarea id="t"></textarea><script>
        window.keys = []; window.clicks = 0;
        t.addEventListener('keydown', (e) => keys.push([e.key, e.isTrusted]));
        t.addEventListener('mousedown', () => clicks++);</script>"""
    )
    executor = PlaywrightExecutor(page)
    text = "Hi 🍣\r\n中文 line\n\tend https://x.test/a"

    await executor.run(Type(selector="#t", text=text))
    await executor.run(Type(selector="#t", text="!"))

    assert await page.input_value("#t") == text.replace("\r\n", "\n") + "!"
    keys = await page.evaluate("keys")
    assert [k for k, _ in keys].count("Enter") == 2
    assert all(trusted for _, trusted in keys)
    assert await page.evaluate("clicks") == 1


async def test_type_waits_for_a_late_editor_and_keeps_the_focus_it_has(page: Page) -> None:
    # The editor shows up late, already focused, with a draft and the caret at its end:
    # typing must not click it (a click would move the caret into the draft).
    await page.set_content(
        """<div id="hidden-twin" class="ed" contenteditable="true" style="display:none"></div>
        <script>window.clicks = 0;
        setTimeout(() => {
          const d = document.createElement('div');
          d.className = 'ed'; d.contentEditable = 'true'; d.textContent = 'draft-';
          d.addEventListener('mousedown', () => clicks++);
          document.body.append(d);
          d.focus();
          getSelection().collapse(d.firstChild, 6);
        }, 200);</script>"""
    )

    await PlaywrightExecutor(page).run(
        Type(selector='xpath=//div[@contenteditable="true"][@class="ed"]', text="more")
    )

    assert await page.evaluate("clicks") == 0
    assert await page.evaluate("document.querySelectorAll('.ed')[1].textContent") == "draft-more"


async def test_type_with_a_bad_selector_is_a_command_error(page: Page) -> None:
    await page.set_content("<textarea id='t'></textarea>")
    with pytest.raises(CommandError) as caught:
        await PlaywrightExecutor(page).run(Type(selector="xpath=//[", text="x", timeout_ms=300))
    assert not isinstance(caught.value, CommandTimeout)


async def test_type_into_missing_element_is_element_not_found(page: Page) -> None:
    await page.set_content("<p>no editor</p>")
    with pytest.raises(ElementNotFound):
        await PlaywrightExecutor(page).run(Type(selector="#t", text="x", timeout_ms=200))


async def test_wait_for_seconds_and_states(page: Page) -> None:
    await page.set_content(
        """<div id="later" hidden>x</div><div id="gone">y</div><script>
        setTimeout(() => { later.hidden = false; gone.remove(); }, 150);</script>"""
    )
    executor = PlaywrightExecutor(page)
    started = time.monotonic()
    await executor.run(Wait(seconds=0.05))
    assert time.monotonic() - started >= 0.05

    await executor.run(Wait(selector="#later"))
    await executor.run(Wait(selector="#gone", state="detached"))
    await executor.run(Wait(selector="#missing", state="hidden"))
    await executor.run(Wait(selector="#later", state="attached"))
    with pytest.raises(ElementNotFound):
        await executor.run(Wait(selector="#missing", timeout_ms=100))
    with pytest.raises(CommandTimeout):
        await executor.run(Wait(selector="#later", state="hidden", timeout_ms=100))


async def test_evaluate(page: Page) -> None:
    await page.set_content("<title>T</title>")
    executor = PlaywrightExecutor(page)
    assert await executor.run(Evaluate(expression="document.title")) == {"result": "T"}
    promised = Evaluate(
        expression="new Promise((r) => setTimeout(() => r({a: [1, '中']}), 20))",
        await_promise=True,
    )
    assert await executor.run(promised) == {"result": {"a": [1, "中"]}}
    with pytest.raises(CommandError):
        await executor.run(Evaluate(expression="(() => { throw new Error('boom'); })()"))


@pytest.mark.parametrize("fmt", ["png", "jpeg"])
async def test_screenshot(page: Page, fmt: str) -> None:
    await page.set_content("<h1>shot</h1>")
    data = await PlaywrightExecutor(page).run(Screenshot(format=fmt, quality=50))
    prefix = f"data:image/{fmt};base64,"
    assert data["dataUri"].startswith(prefix)
    raw = base64.b64decode(data["dataUri"][len(prefix) :])
    assert raw[:4] == (b"\x89PNG" if fmt == "png" else b"\xff\xd8\xff\xe0")


async def test_navigate_and_cookies(page: Page, facebook_site: SiteServer) -> None:
    await page.context.add_cookies(facebook_site.login_cookies())  # type: ignore[arg-type]
    executor = PlaywrightExecutor(page)

    data = await executor.run(Navigate(url=facebook_site.origin + "/"))
    assert data["url"] == facebook_site.origin + "/"
    await executor.run(Navigate(url=facebook_site.origin + "/groups/joins/", wait_for_load=False))

    cookies = await executor.run(Cookies(urls=[facebook_site.origin]))
    assert {c["name"] for c in cookies["cookies"]} >= {"c_user", "xs"}
    assert (await executor.run(Cookies()))["cookies"]


async def test_navigate_to_a_closed_port_is_a_command_error(page: Page) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(CommandError):
        await PlaywrightExecutor(page).run(Navigate(url=f"http://127.0.0.1:{port}/"))


async def test_upload_in_order_from_fetch_media(page: Page) -> None:
    await page.set_content('<input type="file" id="f" multiple style="display:none">')
    executor = PlaywrightExecutor(page, fetch_media)
    files = [
        UploadFile(url="/m/three.gif", type="image/gif"),
        UploadFile(url="/m/one.png", type="image/png"),
        UploadFile(url="/m/two.jpg", type="image/jpeg", name="renamed.jpg"),
    ]

    assert await executor.run(Upload(selector="#f", files=files)) == {"count": 3}

    seen = await page.evaluate(
        "Promise.all(Array.from(f.files).map(async (x) => [x.name, x.type, await x.text()]))"
    )
    assert [name for name, _, _ in seen] == ["three.gif", "one.png", "renamed.jpg"]
    assert [kind for _, kind, _ in seen] == ["image/gif", "image/png", "image/jpeg"]
    assert seen[1][2].endswith("one")


async def test_upload_failures(page: Page) -> None:
    await page.set_content('<input type="file" id="f" multiple>')
    files = [UploadFile(url="/m/missing.png", type="image/png")]
    with pytest.raises(CommandError):
        await PlaywrightExecutor(page).run(Upload(selector="#f", files=files))
    with pytest.raises(CommandError):
        await PlaywrightExecutor(page, fetch_media).run(Upload(selector="#f", files=files))
    present = [UploadFile(url="/m/one.png", type="image/png")]
    with pytest.raises(ElementNotFound):
        await PlaywrightExecutor(page, fetch_media).run(
            Upload(selector="#nope", files=present, timeout_ms=200)
        )


async def test_press(page: Page) -> None:
    await page.set_content(
        '<input id="i"><script>window.keys=[]; i.onkeydown=(e)=>keys.push(e.key);</script>'
    )
    executor = PlaywrightExecutor(page)
    await executor.run(Press(key="Enter", selector="#i"))
    await executor.run(Press(key="Escape"))
    assert await page.evaluate("keys") == ["Enter", "Escape"]


async def test_beforeunload_does_not_block_navigation(page: Page) -> None:
    await page.set_content(
        """<textarea id="t"></textarea><script>
        addEventListener('beforeunload', (e) => { e.preventDefault(); e.returnValue = ''; });
        </script>"""
    )
    executor = PlaywrightExecutor(page)
    await executor.run(Type(selector="#t", text="draft"))
    await asyncio.wait_for(executor.run(Navigate(url="about:blank")), 5)
    assert page.url == "about:blank"


async def test_closed_page_is_disconnected(page: Page) -> None:
    await page.set_content("<p>x</p>")
    executor = PlaywrightExecutor(page)
    await page.close()
    with pytest.raises(Disconnected):
        await executor.run(Evaluate(expression="1"))


async def test_context_closing_mid_command_is_disconnected(page: Page) -> None:
    await page.set_content("<p>x</p>")
    executor = PlaywrightExecutor(page)
    pending = asyncio.ensure_future(executor.run(Wait(selector="#never", timeout_ms=5000)))
    await asyncio.sleep(0.1)
    await page.context.close()
    with pytest.raises(Disconnected):
        await pending


async def test_many_executors_on_one_pooled_page_share_one_dialog_handler(page: Page) -> None:
    """A pooled page serves task after task; each task's executor must not stack up
    another dialog handler (two accepts of one prompt would fail)."""
    await page.set_content(
        """<textarea id="t"></textarea><script>
        addEventListener('beforeunload', (e) => { e.preventDefault(); e.returnValue = ''; });
        window.confirmed = confirm('sure?');</script>"""
    )
    executors = [PlaywrightExecutor(page) for _ in range(3)]
    await executors[0].run(Type(selector="#t", text="draft"))
    await asyncio.wait_for(executors[2].run(Navigate(url="about:blank")), 5)
    assert page.url == "about:blank"
