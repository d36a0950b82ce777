"""Every atomic command, carried out by the real extension in a Playwright-launched
Chromium, sent by a minimal seed hub: the same results and errors as the runner's
PlaywrightExecutor."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any

import pytest

from tests.extension.browsers import VERSION, ExtensionHost
from tests.extension.seed_hub import SeedHub
from tests.helpers import png_bytes

pytestmark = pytest.mark.asyncio(loop_scope="session")

EDITOR_JS = (
    Path(__file__).resolve().parents[1] / "fixtures" / "sites" / "static" / "editor.js"
).read_text()

# Clicks, keys and changes are recorded in window.log with whether they were trusted.
BASIC = """<!doctype html><title>Basic</title>
<style>body { margin: 0; } .tall { height: 2000px; } #cover { position: fixed; inset: 0; }</style>
<script>window.log = [];
const note = (e) => log.push({type: e.type, id: e.target.id, trusted: e.isTrusted,
  key: e.key || null});
document.addEventListener("click", note, true);
document.addEventListener("keydown", note, true);
</script>
<button id="one">One</button>
<button id="hidden" style="display:none">Hidden</button>
<button id="off" disabled>Off</button>
<input id="name">
<div class="tall"></div>
<button id="far">Far</button>
<script>
setTimeout(() => {
  const b = document.createElement("div");
  b.id = "late"; b.setAttribute("role", "button"); b.textContent = "Late";
  document.body.prepend(b);
}, 300);
</script>"""

COVERED = """<!doctype html><title>Covered</title>
<style>#cover { position: fixed; inset: 0; background: rgba(0,0,0,.2); }</style>
<script>window.log = []; document.addEventListener("click",
  (e) => log.push({id: e.target.id, trusted: e.isTrusted}), true);</script>
<button id="under">Under</button><div id="cover"></div>
<script>setTimeout(() => document.getElementById("cover").remove(), 400);</script>"""

EDITORS = f"""<!doctype html><title>Editors</title>
<script>{EDITOR_JS}</script>
<div id="draft" contenteditable="true" role="textbox" style="min-height:40px"></div>
<div id="lexical" contenteditable="true" role="textbox" style="min-height:40px"></div>
<script>
window.draft = new TrustedEditor(document.getElementById("draft"), {{flavor: "draft"}});
window.lexical = new TrustedEditor(document.getElementById("lexical"), {{flavor: "lexical"}});
</script>"""

FILES = """<!doctype html><title>Files</title>
<input id="pick" type="file" multiple accept="image/*">
<input id="one" type="file">
<script>window.picked = null;
document.getElementById("pick").addEventListener("change", async (e) => {
  window.picked = await Promise.all(Array.from(e.target.files).map(async (f) => {
    const bytes = new Uint8Array(await f.arrayBuffer());
    let s = ""; for (const b of bytes) s += String.fromCharCode(b);
    return {name: f.name, type: f.type, data: btoa(s), trusted: e.isTrusted};
  }));
});</script>"""

DRAFT = """<!doctype html><title>Draft</title>
<script>window.addEventListener("beforeunload", (e) => { e.preventDefault();
  e.returnValue = ""; });</script>
<button id="touch">Touch</button>"""

WAITS = """<!doctype html><title>Waits</title>
<div id="going">Going</div><div id="hiding">Hiding</div>
<script>
setTimeout(() => document.getElementById("going").remove(), 300);
setTimeout(() => { document.getElementById("hiding").style.visibility = "hidden"; }, 300);
setTimeout(() => { const d = document.createElement("p"); d.id = "coming";
  d.textContent = "Coming"; document.body.append(d); }, 300);
</script>"""


@pytest.fixture(scope="module", autouse=True)
def pages(hub: SeedHub) -> None:
    hub.pages.update(
        basic=BASIC, covered=COVERED, editors=EDITORS, files=FILES, draft=DRAFT, waits=WAITS
    )


async def goto(hub: SeedHub, name: str) -> dict[str, Any]:
    data: dict[str, Any] = await hub.ok("navigate", {"url": f"{hub.url}/pages/{name}"})
    return data


async def page_value(hub: SeedHub, expression: str) -> Any:
    return (await hub.ok("evaluate", {"expression": expression, "awaitPromise": True}))["result"]


async def test_connects_with_hello_and_its_version(hub: SeedHub) -> None:
    connection = hub.current
    assert connection is not None
    assert connection.version == VERSION
    assert connection.frames[0] == {"type": "hello", "version": VERSION}
    assert hub.heartbeats[0] == {"token": hub.token, "version": VERSION}


async def test_navigate_returns_the_loaded_url(hub: SeedHub) -> None:
    assert await goto(hub, "basic") == {"url": f"{hub.url}/pages/basic"}
    assert await page_value(hub, "document.title") == "Basic"
    assert await page_value(hub, "document.readyState") == "complete"
    # A second navigation in the same (working) tab.
    assert await goto(hub, "waits") == {"url": f"{hub.url}/pages/waits"}
    assert await page_value(hub, "document.title") == "Waits"
    # The same URL again loads it again; a #fragment change is a same-document one.
    await page_value(hub, "window.marker = 1")
    assert await goto(hub, "waits") == {"url": f"{hub.url}/pages/waits"}
    assert await page_value(hub, "window.marker") is None
    await page_value(hub, "window.marker = 2")
    assert await goto(hub, "waits#part") == {"url": f"{hub.url}/pages/waits#part"}
    assert await page_value(hub, "window.marker") == 2

    refused = await hub.command(
        "navigate", {"url": "http://127.0.0.1:9/nothing", "timeoutMs": 10_000}
    )
    assert refused["ok"] is False and "Could not load" in refused["error"]


async def test_evaluate_matches_playwright(hub: SeedHub) -> None:
    await goto(hub, "basic")
    assert await page_value(hub, "1 + 1") == 2
    assert await page_value(hub, "() => document.title") == "Basic"
    assert await page_value(hub, "async () => { await null; return [1, 'a'] }") == [1, "a"]
    assert await page_value(hub, "(async () => ({nested: {ok: true}}))()") == {
        "nested": {"ok": True}
    }
    assert await page_value(hub, "undefined") is None
    failed = await hub.command("evaluate", {"expression": "(() => { throw new Error('boom') })()"})
    assert failed["ok"] is False
    assert "boom" in failed["error"]
    assert not failed["error"].startswith(("timeout", "not found"))


async def test_click_takes_the_first_visible_selector_with_a_trusted_click(
    hub: SeedHub,
) -> None:
    await goto(hub, "basic")
    data = await hub.ok("click", {"selectors": ["#missing", "#hidden", "xpath=//button[.='One']"]})
    assert data == {"matched": "xpath=//button[.='One']"}
    # Waits for an element that appears later; scrolls to one below the fold.
    assert await hub.ok("click", {"selectors": ["#nope", "#late"]}) == {"matched": "#late"}
    assert await hub.ok("click", {"selectors": ["#far"]}) == {"matched": "#far"}
    clicks = await page_value(hub, "log.filter((e) => e.type === 'click')")
    assert [(c["id"], c["trusted"]) for c in clicks] == [
        ("one", True),
        ("late", True),
        ("far", True),
    ]

    missing = await hub.command("click", {"selectors": ["#nope", "#hidden"], "timeoutMs": 300})
    assert missing["ok"] is False
    assert missing["error"].startswith("not found:")
    disabled = await hub.command("click", {"selectors": ["#off"], "timeoutMs": 300})
    assert disabled["error"].startswith("not found:") and "disabled" in disabled["error"]


async def test_click_waits_until_nothing_covers_the_element(hub: SeedHub) -> None:
    await goto(hub, "covered")
    assert await hub.ok("click", {"selectors": ["#under"]}) == {"matched": "#under"}
    assert await page_value(hub, "log") == [{"id": "under", "trusted": True}]


async def test_type_is_real_keystrokes_editors_accept(hub: SeedHub) -> None:
    await goto(hub, "editors")
    text = 'Hello from Bredgio 🍣\n第二行 https://example.com/x\n\nit\'s "done"'
    await hub.ok("type", {"selector": "#draft", "text": text})
    await hub.ok("type", {"selector": "xpath=//*[@id='lexical']", "text": "a\r\nb\tc"})
    assert await page_value(hub, "draft.text") == text
    assert await page_value(hub, "lexical.text") == "a\nb\tc"

    missing = await hub.command("type", {"selector": "#nope", "text": "x", "timeoutMs": 200})
    assert missing["ok"] is False and missing["error"].startswith("not found:")


async def test_press_keys_and_combinations(hub: SeedHub) -> None:
    await goto(hub, "basic")
    await hub.ok("type", {"selector": "#name", "text": "abc"})
    await hub.ok("press", {"key": "Control+a"})
    await hub.ok("press", {"key": "Backspace"})
    await hub.ok("press", {"key": "Enter", "selector": "#one"})
    assert await page_value(hub, "document.getElementById('name').value") == ""
    keys = await page_value(hub, "log.filter((e) => e.type === 'keydown').map((e) => e.key)")
    assert keys[-4:] == ["Control", "a", "Backspace", "Enter"]
    assert await page_value(hub, "document.activeElement.id") == "one"


async def test_wait_for_states_and_seconds(hub: SeedHub) -> None:
    await goto(hub, "waits")
    await hub.ok("wait", {"selector": "#coming"})
    await hub.ok("wait", {"selector": "#going", "state": "detached"})
    await hub.ok("wait", {"selector": "#hiding", "state": "hidden"})
    await hub.ok("wait", {"selector": "xpath=//p[.='Coming']", "state": "attached"})
    await hub.ok("wait", {"seconds": 0.1})

    never = await hub.command("wait", {"selector": "#never", "timeoutMs": 200})
    assert never["ok"] is False and never["error"].startswith("not found:")
    stays = await hub.command(
        "wait", {"selector": "#coming", "state": "detached", "timeoutMs": 200}
    )
    assert stays["ok"] is False and stays["error"].startswith("timeout:")


async def test_screenshot_png_and_jpeg(hub: SeedHub) -> None:
    await goto(hub, "basic")
    png = (await hub.ok("screenshot", {}))["dataUri"]
    assert png.startswith("data:image/png;base64,")
    assert base64.b64decode(png.split(",", 1)[1]).startswith(b"\x89PNG")
    jpeg = (await hub.ok("screenshot", {"format": "jpeg", "quality": 50}))["dataUri"]
    assert base64.b64decode(jpeg.split(",", 1)[1])[:3] == b"\xff\xd8\xff"


async def test_cookies_in_playwright_shape(hub: SeedHub, host: ExtensionHost) -> None:
    await host.add_cookies([{"name": "auth_token", "value": "0" * 40, "url": hub.url}])
    data = await hub.ok("cookies", {"urls": [hub.url]})
    (cookie,) = [c for c in data["cookies"] if c["name"] == "auth_token"]
    assert cookie["value"] == "0" * 40
    assert cookie["domain"] == "127.0.0.1" and cookie["path"] == "/"
    assert set(cookie) == {
        "name",
        "value",
        "domain",
        "path",
        "expires",
        "httpOnly",
        "secure",
        "sameSite",
    }
    everything = await hub.ok("cookies", {})
    assert any(c["name"] == "auth_token" for c in everything["cookies"])


async def test_upload_attaches_fetched_files_in_order(hub: SeedHub) -> None:
    red, blue = png_bytes(rgb=(255, 0, 0)), png_bytes(rgb=(0, 0, 255))
    hub.files.update({"red.png": (red, "image/png"), "blue": (blue, "application/octet-stream")})
    await goto(hub, "files")
    files = [
        {"url": "/files/red.png", "type": "image/png"},  # relative: the server's own
        {"url": f"{hub.url}/files/blue", "type": "image/png", "name": "b.png"},
    ]
    assert await hub.ok("upload", {"selector": "#pick", "files": files}) == {"count": 2}
    picked = await page_value(
        hub,
        "new Promise((r) => { const t = setInterval(() => { if (window.picked) "
        "{ clearInterval(t); r(window.picked); } }, 10); })",
    )
    assert [(p["name"], p["type"]) for p in picked] == [
        ("red.png", "image/png"),
        ("b.png", "image/png"),
    ]
    assert [hashlib.sha256(base64.b64decode(p["data"])).digest() for p in picked] == [
        hashlib.sha256(red).digest(),
        hashlib.sha256(blue).digest(),
    ]

    single = await hub.command("upload", {"selector": "#one", "files": files})
    assert single["ok"] is False and "single file" in single["error"]
    missing = await hub.command(
        "upload", {"selector": "#nope", "files": files[:1], "timeoutMs": 200}
    )
    assert missing["ok"] is False and missing["error"].startswith("not found:")
    unfetchable = await hub.command(
        "upload", {"selector": "#pick", "files": [{"url": "/files/none", "type": "image/png"}]}
    )
    assert unfetchable["ok"] is False and "HTTP 404" in unfetchable["error"]


async def test_leave_page_prompts_are_accepted(hub: SeedHub) -> None:
    await goto(hub, "draft")
    await hub.ok("click", {"selectors": ["#touch"]})  # a user gesture arms beforeunload
    assert await goto(hub, "basic") == {"url": f"{hub.url}/pages/basic"}


async def test_unknown_command_fails_cleanly(hub: SeedHub) -> None:
    result = await hub.command("dance", {})
    assert result["ok"] is False and "Unknown command" in result["error"]
