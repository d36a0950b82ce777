"""X flows: ``post`` through the ``/compose/post`` modal (the inline composer on
``/home`` when no modal opens).

Written against PLATFORM_FACTS.md ("X"): the Draft.js textbox gets real key presses
(newlines as Enter), images go through ``input[data-testid=fileInput]`` in order, the
Post button is clicked once its ``aria-disabled`` clears, and the new post's URL is the
toast's "View" link — the page never navigates to the post.
"""

from __future__ import annotations

import re
from typing import Any

from flows.catalog import MAX_IMAGES, PostParams
from flows.commands import Cookies, Navigate, Upload, UploadFile, Wait
from flows.context import FlowContext, read_params
from flows.dom import (
    any_of,
    click,
    enable_ms,
    in_dialogs,
    probe,
    script,
    type_text,
    upload_ms,
    xpath_literal,
)

TEXTBOX_LABELS = ("Post text", "貼文文字")
POST_LABELS = ("Post", "發佈")
COOKIE_BAR_TEXTS = ("Refuse non-essential cookies", "Accept all cookies")
RATE_LIMIT_TEXTS = ("over the daily limit for sending posts", "每日發送貼文數的上限")
DUPLICATE_TEXTS = ("You already said that", "你已說過這個了")
GENERIC_ERROR_TEXTS = ("Something went wrong", "發生錯誤")

_TEXTBOX = '//div[@data-testid="tweetTextarea_0"][@role="textbox"][@contenteditable="true"]'
_LABELLED_TEXTBOX = (
    f'//div[@role="textbox"][@contenteditable="true"][{any_of("aria-label", TEXTBOX_LABELS)}]'
)
MODAL_TEXTBOX = [*in_dialogs(_TEXTBOX), *in_dialogs(_LABELLED_TEXTBOX)]
INLINE_TEXTBOX = [
    'div[data-testid="tweetTextarea_0"][role="textbox"][contenteditable="true"]',
    f"xpath={_LABELLED_TEXTBOX}",
]
COMPOSE_BUTTONS = [
    '[data-testid="SideNav_NewTweet_Button"]',
    'a[href="/compose/post"]',
]
_ANY_BUTTON = '//*[self::button or @role="button"]'
COOKIE_BUTTONS = [
    f'xpath=//*[@data-testid="BottomBar"]{_ANY_BUTTON}[normalize-space(.)={xpath_literal(text)}]'
    for text in COOKIE_BAR_TEXTS
] + [f"xpath={_ANY_BUTTON}[normalize-space(.)={xpath_literal(text)}]" for text in COOKIE_BAR_TEXTS]
READY = [
    '[data-testid="SideNav_NewTweet_Button"]',
    '[data-testid="AppTabBar_Profile_Link"]',
    '[data-testid="tweetTextarea_0"]',
]
_ENABLED = '[not(@aria-disabled="true")][not(@disabled)]'
_MODAL_BUTTON = '//*[@data-testid="tweetButton"]'
_INLINE_BUTTON = '//*[@data-testid="tweetButtonInline"]'
MODAL_POST_ENABLED = [
    *in_dialogs(_MODAL_BUTTON + _ENABLED),
    *in_dialogs(
        _ANY_BUTTON
        + "["
        + " or ".join(f"normalize-space(.)={xpath_literal(t)}" for t in POST_LABELS)
        + "]"
        + _ENABLED
    ),
]
INLINE_POST_ENABLED = [f"xpath={_INLINE_BUTTON}{_ENABLED}"]
# What the wait for an enabled Post button polls: the same test as
# ``//*[@role="dialog"]//*[@data-testid="tweetButton"][not(@aria-disabled="true")]
# [not(@disabled)]``, in CSS, which a page with a long timeline answers some 50 times
# faster than XPath's scan of every node.
_ENABLED_CSS = ':not([aria-disabled="true"]):not([disabled])'
MODAL_POST_WAIT = f'[role="dialog"] [data-testid="tweetButton"]{_ENABLED_CSS}'
INLINE_POST_WAIT = f'[data-testid="tweetButtonInline"]{_ENABLED_CSS}'
MODAL_FILE_INPUT = 'xpath=(//*[@role="dialog"]//input[@data-testid="fileInput"])[last()]'
INLINE_FILE_INPUT = 'xpath=(//input[@data-testid="fileInput"][not(ancestor::*[@role="dialog"])])[1]'


_STATUS_PATH = re.compile(r"^/([A-Za-z0-9_]{1,15})/status/(\d+)")

_URL_STATE = r"""
const urlState = () => {
  const path = location.pathname;
  if (path.startsWith("/i/flow/login") || path === "/login" || path.startsWith("/account/access"))
    return "login";
  return null;
};
const profileHandle = () => {
  const a = document.querySelector('a[data-testid="AppTabBar_Profile_Link"]');
  const m = a && (a.getAttribute("href") || "").match(/^\/([A-Za-z0-9_]{1,15})$/);
  return m ? m[1] : null;
};
"""

# What an opened page is: the login flow, a cookie bar to dismiss, or the app.
_PAGE_STATE = (
    _URL_STATE
    + r"""
const state = await waitFor(() => {
  const url = urlState();
  if (url) return { kind: url };
  if (firstVisible(A.cookie) >= 0) return { kind: "cookie" };
  if (firstVisible(A.ready) >= 0) return { kind: "ready" };
  return null;
}, A.timeoutMs);
return {
  ...(state || { kind: "timeout" }),
  modal: firstVisible(A.modal) >= 0,
  handle: profileHandle(),
  href: location.href,
};
"""
)

# After the publishing click: the toast with its View link, or an error toast.
_OUTCOME = (
    _URL_STATE
    + r"""
const has = (text, list) => list.some((t) => text.includes(t));
const result = await waitFor(() => {
  const url = urlState();
  if (url) return { kind: url };
  for (const toast of q('[data-testid="toast"], [role="alert"]')) {
    for (const a of toast.querySelectorAll("a[href]")) {
      let u;
      try { u = new URL(a.getAttribute("href"), location.href); } catch (e) { continue; }
      if (/^\/[A-Za-z0-9_]{1,15}\/status\/\d+/.test(u.pathname))
        return { kind: "posted", path: u.pathname };
    }
    const text = (toast.textContent || "").replace(/[\u2018\u2019]/g, "'").trim();
    if (has(text, A.rateLimited)) return { kind: "rate_limited", text };
    if (has(text, A.duplicate)) return { kind: "duplicate", text };
    if (has(text, A.generic)) return { kind: "error", text };
  }
  return null;
}, A.timeoutMs);
return result || { kind: "timeout" };
"""
)

# Verification: the newest post on this page holding the text, by its status link.
_FIND_POST = (
    _URL_STATE
    + r"""
const want = squash(A.content).slice(0, 60);
const result = await waitFor(() => {
  const url = urlState();
  if (url) return { kind: url };
  for (const article of q('article[data-testid="tweet"], [role="article"]')) {
    if (!want || !squash(textOf(article)).includes(want)) continue;
    for (const a of article.querySelectorAll('a[href*="/status/"]')) {
      const u = new URL(a.getAttribute("href"), location.href);
      if (A.handle && !u.pathname.toLowerCase().startsWith("/" + A.handle.toLowerCase() + "/"))
        continue;
      if (/^\/[A-Za-z0-9_]{1,15}\/status\/\d+$/.test(u.pathname))
        return { kind: "posted", path: u.pathname };
    }
  }
  return null;
}, A.timeoutMs);
return result || { kind: "timeout" };
"""
)


def _page_state(ctx: FlowContext) -> str:
    return script(
        _PAGE_STATE,
        cookie=COOKIE_BUTTONS,
        ready=READY,
        modal=MODAL_TEXTBOX,
        timeoutMs=ctx.timeouts.page_ready_ms,
    )


def status_url(origin: str, path: str) -> str | None:
    """``<origin>/<handle>/status/<id>`` for a status path, else ``None``."""
    match = _STATUS_PATH.match(path)
    if match is None:
        return None
    return f"{origin}/{match.group(1)}/status/{match.group(2)}"


class TwitterPost:
    """``post``: text and up to four images; result ``{"post": {"url": …}}``."""

    async def run(self, ctx: FlowContext) -> dict[str, Any]:
        params = read_params(ctx, PostParams)
        media = params.media or []
        if len(media) > MAX_IMAGES["twitter"]:
            ctx.fail("invalid_params", f"X allows at most {MAX_IMAGES['twitter']} images")
        origin = ctx.origins.twitter
        state = await self._open(ctx, origin + "/compose/post")

        async with ctx.step("click_compose") as step:
            modal = bool(state.get("modal"))
            if not modal and state["kind"] == "ready":
                # No modal came up with the page: open it from the side nav.
                await click(ctx, COMPOSE_BUTTONS, not_found="x_textbox_not_found")
                modal = True
            step.data["modal"] = modal

        async with ctx.step("type_content", chars=len(params.content)):
            textboxes = MODAL_TEXTBOX + INLINE_TEXTBOX if modal else INLINE_TEXTBOX
            found = await click(ctx, textboxes, not_found="x_textbox_not_found")
            in_modal = found in MODAL_TEXTBOX
            if params.content:
                await type_text(ctx, found, params.content)

        if media:
            async with ctx.step("attach_media", count=len(media)):
                files = [UploadFile(url=item.url, type=item.type) for item in media]
                selector = MODAL_FILE_INPUT if in_modal else INLINE_FILE_INPUT
                await ctx.do(
                    Upload(selector=selector, files=files, timeout_ms=upload_ms(ctx, files))
                )

        buttons = MODAL_POST_ENABLED if in_modal else INLINE_POST_ENABLED
        async with ctx.step("wait_post_enabled"):
            timeout_ms = enable_ms(ctx, len(media))
            await ctx.do(
                Wait(
                    selector=MODAL_POST_WAIT if in_modal else INLINE_POST_WAIT,
                    timeout_ms=timeout_ms,
                ),
                not_found="x_post_button_not_found",
            )

        async with ctx.step("submit"):
            await ctx.point_of_no_return()
            await click(ctx, buttons, not_found="x_post_button_not_found")

        async with ctx.step("extract_post_url") as step:
            outcome = await probe(
                ctx,
                script(
                    _OUTCOME,
                    rateLimited=list(RATE_LIMIT_TEXTS),
                    duplicate=list(DUPLICATE_TEXTS),
                    generic=list(GENERIC_ERROR_TEXTS),
                    timeoutMs=ctx.timeouts.outcome_ms,
                ),
            )
            url = self._url_from(ctx, outcome)
            if url is None:
                url = await self._find_post(ctx, params.content, state.get("handle"))
            if url is None:
                ctx.fail("x_unknown", "Post was clicked but no confirmation appeared")
            step.data["url"] = url
        return {"post": {"url": url}}

    async def verify(self, ctx: FlowContext) -> dict[str, Any] | None:
        params = read_params(ctx, PostParams)
        async with ctx.step("verify") as step:
            state = await self._open_quietly(ctx, ctx.origins.twitter + "/home")
            url = None
            if state["kind"] != "login":
                url = await self._find_post(ctx, params.content, state.get("handle"))
            step.data["found"] = url is not None
        return {"post": {"url": url}} if url else None

    async def _open(self, ctx: FlowContext, url: str) -> dict[str, Any]:
        """navigate → dismiss_cookies → check_login; returns the page state."""
        async with ctx.step("navigate", url=url):
            await ctx.do(Navigate(url=url))
            state = await probe(ctx, _page_state(ctx))
        if state["kind"] == "cookie":
            async with ctx.step("dismiss_cookies"):
                await click(ctx, COOKIE_BUTTONS)
                state = await probe(ctx, _page_state(ctx))
        async with ctx.step("check_login"):
            if state["kind"] == "login":
                ctx.fail("x_login_required", "X is not logged in")
            cookies = await ctx.do(Cookies(urls=[ctx.origins.twitter]))
            names = {c.get("name") for c in cookies.get("cookies", [])}
            if "auth_token" not in names:
                ctx.fail("x_login_required", "No auth_token cookie: X is not logged in")
        return state

    async def _open_quietly(self, ctx: FlowContext, url: str) -> dict[str, Any]:
        await ctx.do(Navigate(url=url))
        state: dict[str, Any] = await probe(ctx, _page_state(ctx))
        return state

    @staticmethod
    def _url_from(ctx: FlowContext, outcome: dict[str, Any]) -> str | None:
        kind = outcome["kind"]
        if kind == "posted":
            return status_url(ctx.origins.twitter, outcome["path"])
        if kind == "login":
            ctx.fail("x_login_required", "X logged the account out")
        if kind == "rate_limited":
            ctx.fail("x_rate_limited", outcome["text"])
        if kind == "duplicate":
            ctx.fail("x_duplicate", outcome["text"])
        if kind == "error":
            ctx.fail("x_unknown", outcome["text"])
        return None

    async def _find_post(self, ctx: FlowContext, content: str, handle: str | None) -> str | None:
        """Look on the account's profile for the newest post holding ``content``."""
        if not content.strip() or not handle:
            return None
        await ctx.do(Navigate(url=f"{ctx.origins.twitter}/{handle}"))
        found = await probe(
            ctx,
            script(_FIND_POST, content=content, handle=handle, timeoutMs=ctx.timeouts.find_post_ms),
        )
        if found["kind"] != "posted":
            return None
        return status_url(ctx.origins.twitter, found["path"])
