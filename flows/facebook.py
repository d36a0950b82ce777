"""Facebook flows: ``post`` to the operator's feed and ``post-to-groups``.

Written against PLATFORM_FACTS.md ("Facebook"): every lookup is an ordered list of
selectors covering English and Traditional Chinese, editor and button selectors are
scoped to dialogs (searched from the last one back) so the feed's comment boxes are never
typed into, and the new post's URL comes from the new ``[role=article]`` holding the
posted text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from flows.catalog import MediaItem, PostParams, PostToGroupsParams
from flows.commands import Cookies, Navigate, Upload, UploadFile, Wait
from flows.context import FlowContext, FlowFailure, read_params
from flows.dom import (
    NOT_COMMENT_BOX,
    any_of,
    click,
    containing_text,
    enable_ms,
    in_dialogs,
    probe,
    script,
    type_text,
    upload_ms,
)
from flows.executor import Cancelled, CommandError, Disconnected
from flows.sink import OutreachAttempt

# -- what the pages say, in both locales ---------------------------------------------

FEED_ENTRY_TEXTS = ("on your mind", "在想些什麼", "你在想什麼")
GROUP_ENTRY_TEXTS = ("Write something", "留個言吧", "Create a public post", "建立公開貼文")
CREATE_POST_LABELS = ("Create post", "建立貼文")
POST_LABELS = ("Post", "發佈", "發布")
NEXT_LABELS = ("Next", "下一步", "下一頁")
PHOTO_LABELS = ("Photo/video", "相片\uff0f影片", "相片/影片")  # full-width slash first
JOIN_LABELS = ("Join group", "加入社團")

ACCOUNT_BLOCK_TEXTS = (
    "You can't post right now",
    "You're temporarily blocked",
    "We limit how often you can post",
)
GROUP_BLOCK_TEXTS = ("You can't post to this group right now",)
PENDING_PATTERN = r"pending approval|awaiting approval|等待管理員批准|待審核"

# -- selectors -------------------------------------------------------------------------

COOKIE_BUTTONS = [
    'button[data-cookiebanner="accept_only_essential_button"]',
    '[data-cookiebanner="accept_only_essential_button"]',
    'button[data-cookiebanner="accept_button"]',
    '[data-cookiebanner="accept_button"]',
]
FEED_ENTRY = [
    *containing_text('//*[@role="main"]//div[@role="button"]', FEED_ENTRY_TEXTS),
    *(f'[role="main"] div[role="button"][aria-label="{label}"]' for label in CREATE_POST_LABELS),
    '[data-pagelet="FeedComposer"] div[role="button"]',
]
GROUP_ENTRY = [
    *containing_text(
        '//*[@data-pagelet="GroupInlineComposer"]//div[@role="button"]', GROUP_ENTRY_TEXTS
    ),
    *containing_text('//*[@role="main"]//div[@role="button"]', GROUP_ENTRY_TEXTS),
    *(
        f'[data-pagelet="GroupInlineComposer"] div[role="button"][aria-label="{label}"]'
        for label in CREATE_POST_LABELS
    ),
    '[data-pagelet="GroupInlineComposer"] div[role="button"]',
]
JOIN_BUTTONS = [f'[role="main"] [aria-label="{label}"]' for label in JOIN_LABELS]
EDITOR = [
    *in_dialogs(
        '//div[@contenteditable="true"][@role="textbox"][@data-lexical-editor="true"]'
        + NOT_COMMENT_BOX
    ),
    *in_dialogs('//*[@contenteditable="true"][@role="textbox"]' + NOT_COMMENT_BOX),
]
_ENABLED = '[not(@aria-disabled="true")]'
_POST_BUTTON = f'//div[@role="button"][{any_of("aria-label", POST_LABELS)}]'
_NEXT_BUTTON = f'//div[@role="button"][{any_of("aria-label", NEXT_LABELS)}]'
POST_ENABLED = in_dialogs(_POST_BUTTON + _ENABLED)
NEXT_ENABLED = in_dialogs(_NEXT_BUTTON + _ENABLED)
ONLY_POST_ENABLED = f'xpath=//*[@role="dialog"]{_POST_BUTTON}{_ENABLED}'
POST_OR_NEXT_ENABLED = f'{ONLY_POST_ENABLED} | //*[@role="dialog"]{_NEXT_BUTTON}{_ENABLED}'
PHOTO_BUTTONS = in_dialogs(f'//div[@role="button"][{any_of("aria-label", PHOTO_LABELS)}]')
FILE_INPUTS = [
    'xpath=(//*[@role="dialog"]//input[@type="file"][contains(@accept, "image")])[last()]',
    'xpath=(//*[@role="dialog"]//input[@type="file"])[last()]',
]

# -- timings ---------------------------------------------------------------------------


ACCOUNT_LEVEL_CODES = frozenset({"fb_login_required", "fb_checkpoint"})

# -- in-page scripts ---------------------------------------------------------------------

_URL_STATE = r"""
const urlState = () => {
  const path = location.pathname;
  if (/^\/(checkpoint|two_step_verification|recover)(\/|$)/.test(path)) return "checkpoint";
  if (/^\/login(\/|\.php|$)/.test(path) || /(^|\/)login\.php$/.test(path)) return "login";
  if (document.querySelector("#email") && document.querySelector("#pass")) return "login";
  return null;
};
"""

# What an opened page is: login, checkpoint, a cookie banner to dismiss, ready (the
# composer entry is there), or not a member (a "Join group" button and no composer).
_PAGE_STATE = (
    _URL_STATE
    + r"""
const heading = () => {
  const h = document.querySelector('[role="main"] h1');
  return h ? h.textContent.trim() : null;
};
const state = await waitFor(() => {
  const url = urlState();
  if (url) return { kind: url };
  const cookie = firstVisible(A.cookie);
  if (cookie >= 0) return { kind: "cookie" };
  if (firstVisible(A.entry) >= 0) return { kind: "ready" };
  if (A.join.length && firstVisible(A.join) >= 0) return { kind: "not_member" };
  return null;
}, A.timeoutMs);
return { ...(state || { kind: "timeout" }), name: heading(), href: location.href };
"""
)

_POST_LINKS = r"""
const LINK_PATHS = [/^\/groups\/[^/]+\/posts\/[^/]+/, /^\/groups\/[^/]+\/permalink\/[^/]+/,
  /^\/[^/]+\/posts\/[^/]+/, /\/permalink\/[^/]+/, /^\/(permalink|story)\.php$/];
const ORIGINS = [A.origin, location.origin];
const postLink = (article) => {
  for (const a of article.querySelectorAll("a[href]")) {
    let u;
    try { u = new URL(a.getAttribute("href"), location.href); } catch (e) { continue; }
    if (!ORIGINS.includes(u.origin) || u.searchParams.has("comment_id")) continue;
    const story = u.searchParams.get("story_fbid");
    if (story) {
      const id = u.searchParams.get("id");
      return A.origin + u.pathname + "?story_fbid=" + encodeURIComponent(story) +
        (id ? "&id=" + encodeURIComponent(id) : "");
    }
    if (LINK_PATHS.some((re) => re.test(u.pathname))) return A.origin + u.pathname;
  }
  return null;
};
const posts = () => q('[role="article"]').filter(
  (a) => !(a.parentElement && a.parentElement.closest('[role="article"]')));
const want = squash(A.content || "").slice(0, 60);
const findPost = (known) => {
  for (const article of posts()) {
    const link = postLink(article);
    if (!link || known.has(link)) continue;
    if (want && !squash(textOf(article)).includes(want)) continue;
    return link;
  }
  return null;
};
const PENDING = new RegExp(A.pending, "i");
"""

# Taken just before publishing: the posts already on the page, pending notices, and
# whether the dialog shows "Next" instead of "Post".
_BEFORE_SUBMIT = (
    _POST_LINKS
    + r"""
const known = posts().map(postLink).filter(Boolean);
const pending = noticeTexts().filter((t) => PENDING.test(t)).length;
const next = firstVisible(A.post) < 0 && firstVisible(A.next) >= 0;
return { known, pending, next };
"""
)

# After the publishing click: the new article, a pending-approval notice, a block, or
# the account being sent to login or a checkpoint.
_OUTCOME = (
    _URL_STATE
    + _POST_LINKS
    + r"""
const known = new Set(A.known);
const GROUP_BLOCK = A.groupBlock.map((t) => t.toLowerCase());
const ACCOUNT_BLOCK = A.accountBlock.map((t) => t.toLowerCase());
const result = await waitFor(() => {
  const url = urlState();
  if (url) return { kind: url };
  const link = findPost(known);
  if (link) return { kind: "posted", url: link };
  const notices = noticeTexts();
  for (const text of notices) {
    const lower = text.toLowerCase();
    const said = text.trim();
    if (GROUP_BLOCK.some((t) => lower.includes(t))) return { kind: "group_blocked", text: said };
    if (ACCOUNT_BLOCK.some((t) => lower.includes(t))) return { kind: "blocked", text: said };
  }
  const pending = notices.filter((t) => PENDING.test(t));
  if (pending.length > A.pendingBefore) return { kind: "pending", text: pending[0].trim() };
  return null;
}, A.timeoutMs);
return result || { kind: "timeout" };
"""
)

# Verification: the newest post on this page holding the text.
_FIND_POST = (
    _URL_STATE
    + _POST_LINKS
    + r"""
const result = await waitFor(() => {
  const url = urlState();
  if (url) return { kind: url };
  const link = want ? findPost(new Set()) : null;
  return link ? { kind: "posted", url: link } : null;
}, A.timeoutMs);
return result || { kind: "timeout" };
"""
)

# /groups/joins/: the joined groups' links and names.
_JOINED_GROUPS = (
    _URL_STATE
    + r"""
const collect = () => {
  const seen = new Map();
  for (const a of document.querySelectorAll('[role="main"] a[href*="/groups/"]')) {
    let u;
    try { u = new URL(a.getAttribute("href"), location.href); } catch (e) { continue; }
    const m = u.pathname.match(/^\/groups\/([^/]+)\/?$/);
    if (!m || ["joins", "feed", "discover", "create", "notifications"].includes(m[1])) continue;
    const name = a.textContent.trim();
    if (name && !seen.has(m[1])) seen.set(m[1], name);
  }
  return Array.from(seen, ([id, name]) => ({ id, name }));
};
const result = await waitFor(() => {
  const url = urlState();
  if (url) return { kind: url };
  const groups = collect();
  return groups.length ? { kind: "ready", groups } : null;
}, A.timeoutMs);
return result || { kind: "ready", groups: collect() };
"""
)


def _page_state(ctx: FlowContext, entry: list[str]) -> str:
    return script(
        _PAGE_STATE,
        cookie=COOKIE_BUTTONS,
        entry=entry,
        join=JOIN_BUTTONS,
        timeoutMs=ctx.timeouts.page_ready_ms,
    )


# -- the shared composer sequence ---------------------------------------------------------


@dataclass
class Published:
    status: str  # "posted" | "pending_approval"
    url: str | None = None


class GroupBlocked(FlowFailure):
    """Posting to one group is blocked; the account may still post elsewhere."""

    def __init__(self, message: str) -> None:
        super().__init__("fb_post_blocked", message)


async def _open(ctx: FlowContext, url: str, entry: list[str], **data: Any) -> dict[str, Any]:
    """navigate → dismiss_cookies → check_login; returns the page state."""
    async with ctx.step("navigate", url=url, **data):
        await ctx.do(Navigate(url=url))
        state = await probe(ctx, _page_state(ctx, entry))
    if state["kind"] == "cookie":
        async with ctx.step("dismiss_cookies"):
            await click(ctx, COOKIE_BUTTONS)
            state = await probe(ctx, _page_state(ctx, entry))
    async with ctx.step("check_login"):
        if state["kind"] == "checkpoint":
            ctx.fail("fb_checkpoint", f"Facebook asks to confirm the account ({state['href']})")
        if state["kind"] == "login":
            ctx.fail("fb_login_required", "Facebook is not logged in")
        if state["kind"] == "timeout":
            cookies = await ctx.do(Cookies(urls=[ctx.origins.facebook]))
            if not any(c.get("name") == "c_user" for c in cookies.get("cookies", [])):
                ctx.fail("fb_login_required", "No c_user cookie: Facebook is not logged in")
    return state


async def _compose_and_publish(
    ctx: FlowContext,
    entry: list[str],
    content: str,
    media: list[MediaItem],
    **data: Any,
) -> Published:
    """click_compose → type_content → attach_media → wait_post_enabled → submit →
    extract_post_url, on a page whose composer entry is ``entry``."""
    async with ctx.step("click_compose", **data):
        await click(ctx, entry, not_found="fb_compose_not_found")

    async with ctx.step("type_content", chars=len(content)):
        found = await click(ctx, EDITOR, not_found="fb_textbox_not_found")
        if content:
            await type_text(ctx, found, content)

    if media:
        async with ctx.step("attach_media", count=len(media)):
            await _attach(ctx, media)

    async with ctx.step("wait_post_enabled") as step:
        timeout_ms = enable_ms(ctx, len(media))
        await ctx.do(
            Wait(selector=POST_OR_NEXT_ENABLED, timeout_ms=timeout_ms),
            not_found="fb_post_button_not_found",
        )
        before = await probe(
            ctx,
            script(
                _BEFORE_SUBMIT,
                origin=ctx.origins.facebook,
                content="",
                pending=PENDING_PATTERN,
                post=POST_ENABLED,
                next=NEXT_ENABLED,
            ),
        )
        if before["next"]:
            step.data["next"] = True
            await click(ctx, NEXT_ENABLED, not_found="fb_post_button_not_found")
            await ctx.do(
                Wait(selector=ONLY_POST_ENABLED, timeout_ms=timeout_ms),
                not_found="fb_post_button_not_found",
            )

    async with ctx.step("submit"):
        await ctx.point_of_no_return()
        await click(ctx, POST_ENABLED, not_found="fb_post_button_not_found")

    async with ctx.step("extract_post_url") as step:
        outcome = await probe(
            ctx,
            script(
                _OUTCOME,
                origin=ctx.origins.facebook,
                content=content,
                pending=PENDING_PATTERN,
                known=before["known"],
                pendingBefore=before["pending"],
                groupBlock=list(GROUP_BLOCK_TEXTS),
                accountBlock=list(ACCOUNT_BLOCK_TEXTS),
                timeoutMs=ctx.timeouts.outcome_ms,
            ),
        )
        published = _published(ctx, outcome)
        if published is None:
            url = await _find_post(ctx, content, [_current_feed(ctx, data.get("group"))])
            if url is None:
                ctx.fail("fb_unknown", "Post was clicked but the new post never appeared")
            published = Published("posted", url)
        step.data["status"] = published.status
        if published.url:
            step.data["url"] = published.url
    return published


def _current_feed(ctx: FlowContext, group_url: str | None) -> str:
    return group_url or ctx.origins.facebook + "/"


def _published(ctx: FlowContext, outcome: dict[str, Any]) -> Published | None:
    kind = outcome["kind"]
    if kind == "posted":
        return Published("posted", outcome["url"])
    if kind == "pending":
        return Published("pending_approval")
    if kind == "group_blocked":
        raise GroupBlocked(outcome["text"])
    if kind == "blocked":
        ctx.fail("fb_post_blocked", outcome["text"])
    if kind == "checkpoint":
        ctx.fail("fb_checkpoint", "Facebook sent the account to a checkpoint")
    if kind == "login":
        ctx.fail("fb_login_required", "Facebook logged the account out")
    return None


async def _attach(ctx: FlowContext, media: list[MediaItem]) -> None:
    """Images in order through the dialog's file input, clicking Photo/video first only
    when the input is not there yet."""
    present = await probe(ctx, script("return exists(A.inputs);", inputs=FILE_INPUTS))
    if present < 0:
        await click(ctx, PHOTO_BUTTONS)
        present = 0
    files = [UploadFile(url=item.url, type=item.type) for item in media]
    await ctx.do(
        Upload(selector=FILE_INPUTS[present], files=files, timeout_ms=upload_ms(ctx, files))
    )


async def _find_post(ctx: FlowContext, content: str, urls: list[str]) -> str | None:
    """Open each page in turn and return the URL of the newest post holding
    ``content``."""
    if not content.strip():
        return None
    for url in urls:
        await ctx.do(Navigate(url=url))
        found = await probe(
            ctx,
            script(
                _FIND_POST,
                origin=ctx.origins.facebook,
                content=content,
                pending=PENDING_PATTERN,
                timeoutMs=ctx.timeouts.find_post_ms,
            ),
        )
        if found["kind"] == "posted":
            return str(found["url"])
        if found["kind"] in ("login", "checkpoint"):
            return None
    return None


async def _profile_url(ctx: FlowContext) -> str | None:
    cookies = await ctx.do(Cookies(urls=[ctx.origins.facebook]))
    for cookie in cookies.get("cookies", []):
        if cookie.get("name") == "c_user" and cookie.get("value"):
            return f"{ctx.origins.facebook}/profile.php?id={cookie['value']}"
    return None


# -- post ---------------------------------------------------------------------------------


class FacebookPost:
    """``post``: text and images to the operator's own feed; result
    ``{"post": {"url": <permalink>}}``."""

    async def run(self, ctx: FlowContext) -> dict[str, Any]:
        params = read_params(ctx, PostParams)
        await _open(ctx, ctx.origins.facebook + "/", FEED_ENTRY)
        published = await _compose_and_publish(ctx, FEED_ENTRY, params.content, params.media or [])
        return {"post": {"url": published.url}}

    async def verify(self, ctx: FlowContext) -> dict[str, Any] | None:
        params = read_params(ctx, PostParams)
        async with ctx.step("verify") as step:
            urls = [ctx.origins.facebook + "/"]
            profile = await _profile_url(ctx)
            if profile:
                urls.append(profile)
            url = await _find_post(ctx, params.content, urls)
            step.data["found"] = url is not None
        return {"post": {"url": url}} if url else None


# -- post-to-groups -------------------------------------------------------------------------


@dataclass
class GroupTarget:
    url: str | None
    name: str | None
    source: str

    def entry(self, status: str, **extra: Any) -> dict[str, Any]:
        return {"url": self.url or self.source, "name": self.name, "status": status, **extra}


_GROUP_PATH = re.compile(r"/groups/([^/?#]+)")


def group_url(origins_facebook: str, raw: str) -> str | None:
    """``<origin>/groups/<id>/`` for a group URL, path or bare id; ``None`` if ``raw``
    names no group."""
    raw = raw.strip()
    if re.fullmatch(r"[\w.\-]+", raw):
        return f"{origins_facebook}/groups/{raw}/"
    match = _GROUP_PATH.search(urlsplit(raw).path if "://" in raw else raw)
    if match is None or match.group(1) in ("joins", "feed", "discover", "create"):
        return None
    return f"{origins_facebook}/groups/{match.group(1)}/"


class FacebookPostToGroups:
    """``post-to-groups``: the same post to several groups, ``intervalSec`` apart;
    result ``{"groups": [{url, name, status, postUrl?, errorCode?}]}``. One outreach
    attempt is recorded per group."""

    async def run(self, ctx: FlowContext) -> dict[str, Any]:
        params = read_params(ctx, PostToGroupsParams)
        targets = await self._targets(ctx, params)
        entries: dict[int, dict[str, Any]] = {}

        async def settle(index: int, status: str, note: str | None = None, **extra: Any) -> None:
            target = targets[index]
            entries[index] = target.entry(status, **extra)
            ctx.result = {"groups": [entries[i] for i in sorted(entries)]}
            outreach = {"posted": "sent", "pending_approval": "sent"}.get(status, status)
            await self._record(ctx, target, outreach, params, note)

        chosen = [i for i, t in enumerate(targets) if t.url is not None][: params.maxGroups]
        for index, target in enumerate(targets):
            if target.url is None:
                await settle(index, "skipped", "Not a group URL", errorCode="invalid_params")
            elif index not in chosen:
                await settle(index, "skipped", "Beyond maxGroups", errorCode="max_groups")
        if not chosen:
            ctx.fail("fb_not_group_member", "No group to post to")

        async def skip_rest(reason: str, code: str) -> None:
            for index in chosen:
                if index not in entries:
                    await settle(index, "skipped", reason, errorCode=code)

        abort: FlowFailure | None = None
        submitted = False
        for index in chosen:
            if abort is not None:
                break
            if submitted and params.intervalSec > 0:
                try:
                    async with ctx.step("wait_interval", seconds=params.intervalSec):
                        await ctx.pause(params.intervalSec)
                except Cancelled:
                    await skip_rest("Task stopped", "cancelled")
                    raise
            ctx.renew_deadline()
            try:
                published = await self._post_to(ctx, targets[index], params)
            except (Cancelled, Disconnected):
                await skip_rest("Task stopped", "cancelled")
                raise
            except (FlowFailure, CommandError) as exc:
                code = exc.code if isinstance(exc, FlowFailure) else _command_code(exc)
                await settle(index, "failed", f"{code}: {exc.message}", errorCode=code)
                if code in ACCOUNT_LEVEL_CODES or (
                    code == "fb_post_blocked" and not isinstance(exc, GroupBlocked)
                ):
                    abort = FlowFailure(code, exc.message)
            else:
                extra = {"postUrl": published.url} if published.url else {}
                await settle(index, published.status, **extra)
            submitted = ctx.current_step in ("submit", "extract_post_url")

        if abort is not None:
            await skip_rest(abort.message, abort.code)
            if not any(e["status"] in ("posted", "pending_approval") for e in entries.values()):
                raise abort
        return {"groups": [entries[i] for i in sorted(entries)]}

    async def verify(self, ctx: FlowContext) -> dict[str, Any] | None:
        params = read_params(ctx, PostToGroupsParams)
        targets = [t for t in await self._targets(ctx, params) if t.url][: params.maxGroups]
        groups: list[dict[str, Any]] = []
        first: str | None = None
        async with ctx.step("verify") as step:
            for target in targets:
                assert target.url is not None
                url = await _find_post(ctx, params.content, [target.url])
                if url:
                    first = first or url
                    groups.append(target.entry("posted", postUrl=url))
                else:
                    groups.append(target.entry("failed", errorCode="outcome_unknown"))
            step.data["found"] = sum(1 for g in groups if g["status"] == "posted")
        if first is None:
            return None
        return {"groups": groups, "post": {"url": first}}

    async def _targets(self, ctx: FlowContext, params: PostToGroupsParams) -> list[GroupTarget]:
        if params.groupUrls:
            return [
                GroupTarget(group_url(ctx.origins.facebook, raw), None, raw)
                for raw in params.groupUrls
            ]
        topic = (params.topic or "").strip().casefold()
        joins = ctx.origins.facebook + "/groups/joins/"
        async with ctx.step("resolve_groups", topic=params.topic) as step:
            await ctx.do(Navigate(url=joins))
            listing = await probe(ctx, script(_JOINED_GROUPS, timeoutMs=ctx.timeouts.find_post_ms))
            if listing["kind"] == "checkpoint":
                ctx.fail("fb_checkpoint", "Facebook asks to confirm the account")
            if listing["kind"] == "login":
                ctx.fail("fb_login_required", "Facebook is not logged in")
            matches = [
                GroupTarget(f"{ctx.origins.facebook}/groups/{g['id']}/", g["name"], g["id"])
                for g in listing["groups"]
                if topic in g["name"].casefold()
            ][: params.maxGroups]
            step.data["found"] = len(matches)
        if not matches:
            ctx.fail("fb_not_group_member", f"No joined group matches {params.topic!r}")
        return matches

    async def _post_to(
        self, ctx: FlowContext, target: GroupTarget, params: PostToGroupsParams
    ) -> Published:
        assert target.url is not None
        state = await _open(ctx, target.url, GROUP_ENTRY, group=target.url)
        target.name = target.name or state.get("name")
        if state["kind"] == "not_member":
            async with ctx.step("click_compose", group=target.url):
                ctx.fail("fb_not_group_member", f"Not a member of {target.name or target.url}")
        return await _compose_and_publish(
            ctx, GROUP_ENTRY, params.content, params.media or [], group=target.url
        )

    @staticmethod
    async def _record(
        ctx: FlowContext,
        target: GroupTarget,
        result: str,
        params: PostToGroupsParams,
        error: str | None = None,
    ) -> None:
        await ctx.sink.outreach(
            OutreachAttempt(
                result=result,  # type: ignore[arg-type]
                target_url=target.url or target.source,
                target_name=target.name,
                message_sent=params.content if result == "sent" else None,
                error_message=error,
            )
        )


def _command_code(exc: CommandError) -> str:
    return "command_timeout" if exc.code == "command_timeout" else "fb_unknown"
