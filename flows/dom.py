"""Selector builders and in-page scripts shared by the platform flows.

Selectors are what both executors understand: plain CSS, or ``xpath=`` followed by an
XPath 1.0 expression (``document.evaluate`` in the extension, Playwright's ``xpath=``
engine in the runner). XPath is what matches text and "the last dialog first".

Scripts are self-contained expressions for the ``evaluate`` command: an async IIFE that
polls the DOM (on mutations, at most every ``POLL_MS``) until a check returns something
or its own timeout passes, so one round trip replaces a polling loop.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from flows.commands import Click, Evaluate, Type
from flows.context import FlowContext
from flows.executor import Cancelled, CommandError, CommandTimeout, Disconnected

#: How many stacked dialogs the dialog-scoped fallbacks search, from the last one back.
DIALOG_DEPTH = 3

NOT_COMMENT_BOX = (
    '[not(contains(@aria-label, "comment")) and not(contains(@aria-label, "Comment"))'
    ' and not(contains(@aria-label, "留言"))]'
)


def xpath_literal(text: str) -> str:
    """``text`` as an XPath 1.0 string literal."""
    if '"' not in text:
        return f'"{text}"'
    if "'" not in text:
        return f"'{text}'"
    parts = ", '\"', ".join(f'"{part}"' for part in text.split('"'))
    return f"concat({parts})"


def any_of(attribute: str, values: tuple[str, ...]) -> str:
    """An XPath predicate body: ``@attr="a" or @attr="b"``."""
    return " or ".join(f"@{attribute}={xpath_literal(value)}" for value in values)


def containing_text(path: str, texts: tuple[str, ...]) -> list[str]:
    """One selector per text: the innermost ``path`` element whose text contains it."""
    selectors = []
    for text in texts:
        literal = xpath_literal(text)
        tail = path.rsplit("//", 1)[-1]
        selectors.append(
            f"xpath={path}[contains(., {literal})][not(.//{tail}[contains(., {literal})])]"
        )
    return selectors


def in_dialogs(inner: str, depth: int = DIALOG_DEPTH) -> list[str]:
    """``inner`` (an XPath starting with ``//``) inside each dialog, last dialog first:
    stacked dialogs put the editor or the button in any of them."""
    selectors = [f'xpath=(//*[@role="dialog"])[last()]{inner}']
    selectors += [f'xpath=(//*[@role="dialog"])[last()-{k}]{inner}' for k in range(1, depth)]
    return selectors


# A small library every script starts with:
#   q(sel)          elements matching a CSS or xpath= selector
#   visible(el)     rendered with a non-empty box (Playwright's definition)
#   firstVisible(sels) index of the first selector matching a visible element, or -1
#   textOf(el)      text including emoji images' alt text
#   squash(s)       s without whitespace and with typographic apostrophes made plain
#   noticeTexts()   visible text nodes outside posts, editors and scripts
#   waitFor(check, ms) resolves with check()'s first non-null value, or null at timeout
_LIBRARY = r"""
const POLL_MS = 4;
const q = (sel) => {
  if (sel.startsWith("xpath=")) {
    const found = document.evaluate(sel.slice(6), document, null,
      XPathResult.ORDERED_NODE_SNAPSHOT_TYPE, null);
    const out = [];
    for (let i = 0; i < found.snapshotLength; i++) out.push(found.snapshotItem(i));
    return out;
  }
  return Array.from(document.querySelectorAll(sel.startsWith("css=") ? sel.slice(4) : sel));
};
const visible = (el) => {
  if (!(el instanceof Element)) return false;
  if (el.checkVisibility && !el.checkVisibility()) return false;
  if (getComputedStyle(el).visibility !== "visible") return false;
  const r = el.getBoundingClientRect();
  return r.width > 0 && r.height > 0;
};
const firstVisible = (sels) => sels.findIndex((s) => q(s).some(visible));
const exists = (sels) => sels.findIndex((s) => q(s).length > 0);
const squash = (s) => (s || "").replace(/[\u2018\u2019]/g, "'").replace(/\s+/g, "");
const textOf = (root) => {
  let out = "";
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT | NodeFilter.SHOW_ELEMENT);
  for (let n = walker.currentNode; n; n = walker.nextNode()) {
    if (n.nodeType === Node.TEXT_NODE) out += n.data;
    else if (n.tagName === "IMG" && n.alt) out += n.alt;
    else if (n.tagName === "BR") out += "\n";
  }
  return out;
};
const noticeTexts = () => {
  const out = [];
  if (!document.body) return out;
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT, {
    acceptNode: (n) => {
      const p = n.parentElement;
      if (!p || !n.data.trim()) return NodeFilter.FILTER_REJECT;
      if (p.closest('script,style,noscript,template,[role="article"],[contenteditable="true"]'))
        return NodeFilter.FILTER_REJECT;
      return NodeFilter.FILTER_ACCEPT;
    },
  });
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    if (visible(n.parentElement)) out.push(n.data.replace(/[\u2018\u2019]/g, "'"));
  }
  return out;
};
const waitFor = (check, ms) => new Promise((resolve) => {
  let done = false, last = 0, queued = null, observer = null, timer = null;
  const finish = (value) => {
    if (done) return;
    done = true;
    if (observer) observer.disconnect();
    clearTimeout(timer);
    clearTimeout(queued);
    clearInterval(ticker);
    resolve(value);
  };
  const tick = () => {
    queued = null;
    if (done) return;
    last = Date.now();
    let value;
    try { value = check(); } catch (e) { value = { kind: "script_error", message: String(e) }; }
    if (value !== null && value !== undefined) finish(value);
  };
  const schedule = () => {
    if (done || queued !== null) return;
    queued = setTimeout(tick, Math.max(0, POLL_MS - (Date.now() - last)));
  };
  const ticker = setInterval(schedule, 200);
  tick();
  if (done) return;
  observer = new MutationObserver(schedule);
  observer.observe(document, { subtree: true, childList: true, attributes: true,
    characterData: true });
  timer = setTimeout(() => { tick(); finish(null); }, ms);
});
"""


def script(body: str, **args: Any) -> str:
    """An ``evaluate`` expression: the library, ``args`` as a constant ``A``, ``body``
    (which must ``return``)."""
    payload = json.dumps(args, ensure_ascii=False)
    return f"(async () => {{\n{_LIBRARY}\nconst A = {payload};\n{body}\n}})()"


async def probe(ctx: FlowContext, expression: str, *, attempts: int = 5) -> Any:
    """Evaluate an idempotent script, retrying when a navigation destroys the page it
    ran in. Returns the script's value."""
    for attempt in range(attempts):
        try:
            data = await ctx.do(Evaluate(expression=expression, await_promise=True))
            return data.get("result")
        except (Cancelled, CommandTimeout, Disconnected):
            raise
        except CommandError:
            if attempt == attempts - 1:
                raise
            # Give the navigation that destroyed the page a moment to commit.
            await asyncio.sleep(0.05 * (attempt + 1))
    return None


async def click(ctx: FlowContext, selectors: list[str], *, not_found: str | None = None) -> str:
    """Click the first of ``selectors`` that shows a visible element; returns the one
    that matched. ``not_found`` is the error code when none does in time."""
    data = await ctx.do(
        Click(selectors=selectors, timeout_ms=ctx.timeouts.element_ms), not_found=not_found
    )
    return str(data["matched"])


async def type_text(ctx: FlowContext, selector: str, text: str) -> None:
    """Type ``text`` into ``selector`` as key presses (newlines as Enter)."""
    await ctx.do(Type(selector=selector, text=text, timeout_ms=ctx.timeouts.element_ms))


def upload_ms(ctx: FlowContext, files: list[Any]) -> int:
    """Time to fetch and attach ``files``."""
    return ctx.timeouts.element_ms + ctx.timeouts.upload_per_file_ms * len(files)


def enable_ms(ctx: FlowContext, files: int) -> int:
    """How long the publish button may stay disabled: typing settles quickly, uploads
    take a while each. Kept under the hub's 60 s per-command limit."""
    return min(ctx.timeouts.element_ms + ctx.timeouts.upload_per_file_ms * files, 55_000)
