# ruff: noqa: RUF001 -- the locale texts are exact copies of the real site (full-width punctuation).
"""The Facebook look-alike behaves like the facts file says, in a real browser."""

from __future__ import annotations

import asyncio
import re
from urllib.parse import quote

from playwright.async_api import BrowserContext, Dialog, Page, expect

from tests.fixtures.sites import (
    GROUP_CLOSED_CIRCLE,
    GROUP_PYTHON_TAIPEI,
    GROUP_PYTHON_WORLDWIDE,
    SiteServer,
)
from tests.sites.conftest import file_payload, png

TEXT = "line1\nline2 🍣 中文"
ENTRY = '[data-pagelet="FeedComposer"] div[role="button"]'
DIALOG = 'div[role="dialog"][aria-labelledby]'
EDITOR = f'{DIALOG} div[contenteditable="true"][role="textbox"][data-lexical-editor="true"]'
POST = f'{DIALOG} div[role="button"][aria-label="Post"]'
FILE_INPUT = f'{DIALOG} input[type="file"][multiple]'


async def open_home(context: BrowserContext, site: SiteServer, locale: str | None = None) -> Page:
    await context.add_cookies(site.login_cookies(locale))  # type: ignore[arg-type]
    page = await context.new_page()
    await page.goto(site.origin + "/")
    return page


async def open_composer(page: Page, entry_text: str = "What's on your mind, Ada?") -> None:
    await page.locator(ENTRY, has_text=entry_text).first.click()
    await expect(page.locator(EDITOR)).to_be_visible()


async def type_into_editor(page: Page, text: str) -> None:
    await page.locator(EDITOR).click()
    await page.keyboard.type(text)


async def test_typed_text_enables_post_and_is_recorded_exactly(
    context: BrowserContext, facebook_site: SiteServer
) -> None:
    page = await open_home(context, facebook_site)
    await open_composer(page)
    post = page.locator(POST)
    await expect(post).to_have_attribute("aria-disabled", "true")
    editor = page.locator(EDITOR)
    await expect(editor).to_have_attribute("aria-placeholder", "What's on your mind, Ada?")
    await expect(editor).not_to_have_attribute("aria-label", re.compile(".*"))

    await type_into_editor(page, TEXT)
    await expect(post).not_to_have_attribute("aria-disabled", "true")
    await post.click()

    await expect(page.locator(DIALOG)).to_have_count(0)
    [recorded] = facebook_site.posts
    assert recorded.text == TEXT
    assert recorded.images == []
    assert recorded.group_id is None
    assert recorded.status == "posted"
    assert re.fullmatch(r"/ada\.lovelace/posts/pfbid0[0-9A-Za-z]+", recorded.url)

    newest = page.locator('[role="feed"] > [role="article"]').first
    await expect(newest).to_contain_text("line1")
    await expect(newest).to_contain_text("line2 🍣 中文")
    link = newest.locator(f'a[href^="{recorded.url}"]')
    await expect(link).to_have_count(1)

    await page.goto(facebook_site.origin + "/ada.lovelace")
    profile_post = page.locator('[role="article"]', has=page.locator(f'a[href^="{recorded.url}"]'))
    await expect(profile_post).to_contain_text("line2 🍣 中文")


async def test_insert_text_counts_as_trusted_input(
    context: BrowserContext, facebook_site: SiteServer
) -> None:
    page = await open_home(context, facebook_site)
    await open_composer(page)
    await page.locator(EDITOR).click()
    await page.keyboard.insert_text("first")
    await page.keyboard.press("Enter")
    await page.keyboard.insert_text("second 中文")
    await page.keyboard.press("Backspace")
    await page.locator(POST).click()
    await expect(page.locator(DIALOG)).to_have_count(0)
    assert [post.text for post in facebook_site.posts] == ["first\nsecond 中"]


async def test_programmatic_changes_do_not_enable_post(
    context: BrowserContext, facebook_site: SiteServer
) -> None:
    page = await open_home(context, facebook_site)
    await open_composer(page)
    editor = page.locator(EDITOR)
    post = page.locator(POST)

    await editor.click()
    await editor.fill("filled by script")
    await editor.evaluate("node => { node.textContent = 'set by textContent'; }")
    await editor.evaluate(
        "node => { node.focus(); document.execCommand('insertText', false, ' exec'); }"
    )
    await editor.evaluate(
        """node => node.dispatchEvent(new InputEvent('beforeinput',
            {inputType: 'insertText', data: 'synthetic', bubbles: true, cancelable: true}))"""
    )
    await asyncio.sleep(0.3)
    await expect(post).to_have_attribute("aria-disabled", "true")

    await type_into_editor(page, "typed")
    await expect(post).not_to_have_attribute("aria-disabled", "true")
    await post.click()
    await expect(page.locator(DIALOG)).to_have_count(0)
    assert [p.text for p in facebook_site.posts] == ["typed"]


async def test_images_are_recorded_in_order_with_exact_bytes(
    context: BrowserContext, facebook_site: SiteServer
) -> None:
    page = await open_home(context, facebook_site)
    await open_composer(page)
    first, second = png(1), png(2)
    await page.locator(FILE_INPUT).set_input_files(
        [
            file_payload("b-first.png", "image/png", first),
            file_payload("a-second.jpg", "image/jpeg", second),
        ]
    )
    await type_into_editor(page, "two photos")
    post = page.locator(POST)
    await expect(post).to_have_attribute("aria-disabled", "true")
    await expect(page.locator(f"{DIALOG} img")).to_have_count(2)
    await expect(post).not_to_have_attribute("aria-disabled", "true", timeout=3_000)
    await post.click()
    await expect(page.locator(DIALOG)).to_have_count(0)

    [recorded] = facebook_site.posts
    assert recorded.images == [
        ("b-first.png", "image/png", first),
        ("a-second.jpg", "image/jpeg", second),
    ]
    article = page.locator('[role="feed"] > [role="article"]').first
    await expect(article.locator("img")).to_have_count(2)


async def test_photo_button_and_file_input_exist_in_the_dialog(
    context: BrowserContext, facebook_site: SiteServer
) -> None:
    page = await open_home(context, facebook_site)
    await open_composer(page)
    file_input = page.locator(FILE_INPUT)
    await expect(file_input).to_have_count(1)
    await expect(file_input).to_have_attribute(
        "accept",
        "image/*,image/heif,image/heic,video/*,video/mp4,video/x-m4v,video/x-matroska,.mkv",
    )
    async with page.expect_file_chooser() as chooser_info:
        await page.locator(f'{DIALOG} div[role="button"][aria-label="Photo/video"]').click()
    chooser = await chooser_info.value
    assert chooser.is_multiple()


async def test_comment_box_trap_comes_before_the_dialog(
    context: BrowserContext, facebook_site: SiteServer
) -> None:
    page = await open_home(context, facebook_site)
    await open_composer(page)
    first_textbox = page.locator('div[role="textbox"][contenteditable="true"]').first
    await expect(first_textbox).to_have_attribute("aria-label", "Write a comment…")
    await expect(page.locator(f'{DIALOG} div[role="textbox"]')).to_have_count(1)


async def test_zh_tw_locale_texts(context: BrowserContext, facebook_site: SiteServer) -> None:
    page = await open_home(context, facebook_site, locale="zh-TW")
    await open_composer(page, "Ada，在想些什麼？")
    dialog = page.locator(DIALOG)
    await expect(dialog.locator("h2")).to_have_text("建立貼文")
    await expect(dialog.locator('div[role="button"][aria-label="相片／影片"]')).to_have_count(1)
    post = dialog.locator('div[role="button"][aria-label="發佈"]')
    await expect(post).to_have_attribute("aria-disabled", "true")
    await page.locator(EDITOR).click()
    await page.keyboard.type("你好")
    await post.click()
    await expect(dialog).to_have_count(0)
    assert [p.text for p in facebook_site.posts] == ["你好"]


async def test_aria_layout_labels_the_entry(
    context: BrowserContext, facebook_site: SiteServer
) -> None:
    facebook_site.set_scenario(layout="aria")
    page = await open_home(context, facebook_site)
    await expect(page.locator(ENTRY, has_text="What's on your mind, Ada?")).to_have_count(0)
    await page.locator(f'{ENTRY}[aria-label="Create post"]').click()
    await expect(page.locator(EDITOR)).to_be_visible()


async def test_logged_out_redirects_to_login(
    context: BrowserContext, facebook_site: SiteServer
) -> None:
    page = await context.new_page()
    target = f"{facebook_site.origin}/groups/{GROUP_PYTHON_TAIPEI}/"
    await page.goto(target)
    assert page.url == f"{facebook_site.origin}/login/?next={quote(target, safe='')}"
    for selector in ("#email", "#pass", 'button[name="login"]'):
        await expect(page.locator(selector)).to_be_visible()


async def test_checkpoint_redirect(context: BrowserContext, facebook_site: SiteServer) -> None:
    facebook_site.set_scenario(checkpoint=True)
    page = await open_home(context, facebook_site)
    assert page.url == f"{facebook_site.origin}/checkpoint/1501092823525282/"
    facebook_site.set_scenario(checkpoint="/two_step_verification/two_factor/")
    await page.goto(f"{facebook_site.origin}/groups/{GROUP_PYTHON_TAIPEI}")
    assert page.url == f"{facebook_site.origin}/two_step_verification/two_factor/"


async def test_blocked_account_shows_message_and_records_nothing(
    context: BrowserContext, facebook_site: SiteServer
) -> None:
    facebook_site.set_scenario(blocked="You're temporarily blocked")
    page = await open_home(context, facebook_site)
    await open_composer(page)
    await type_into_editor(page, "hello")
    await page.locator(POST).click()
    await expect(page.locator(DIALOG).last).to_contain_text("You're temporarily blocked")
    assert facebook_site.posts == []


async def test_stacked_dialogs_put_post_in_the_first(
    context: BrowserContext, facebook_site: SiteServer
) -> None:
    facebook_site.set_scenario(stacked_dialogs=True)
    page = await open_home(context, facebook_site)
    await open_composer(page)
    dialogs = page.locator(DIALOG)
    await expect(dialogs).to_have_count(2)
    await expect(dialogs.last.locator('div[role="button"][aria-label="Post"]')).to_have_count(0)
    await expect(dialogs.last.locator("h2")).to_have_text("Create post")
    await type_into_editor(page, "stacked")
    await dialogs.first.locator('div[role="button"][aria-label="Post"]').click()
    await expect(dialogs).to_have_count(0)
    assert [p.text for p in facebook_site.posts] == ["stacked"]


async def test_next_comes_before_post(context: BrowserContext, facebook_site: SiteServer) -> None:
    facebook_site.set_scenario(next_first=True)
    page = await open_home(context, facebook_site)
    await open_composer(page)
    await expect(page.locator(POST)).to_have_count(0)
    next_button = page.locator(f'{DIALOG} div[role="button"][aria-label="Next"]')
    await expect(next_button).to_have_attribute("aria-disabled", "true")
    await type_into_editor(page, "via next")
    await next_button.click()
    await page.locator(POST).click()
    await expect(page.locator(DIALOG)).to_have_count(0)
    assert [p.text for p in facebook_site.posts] == ["via next"]


async def test_cookie_banner_blocks_until_dismissed(
    context: BrowserContext, facebook_site: SiteServer
) -> None:
    facebook_site.set_scenario(cookie_banner=True)
    page = await open_home(context, facebook_site)
    entry = page.locator(ENTRY).first
    try:
        await entry.click(timeout=500)
        blocked = False
    except Exception:
        blocked = True
    assert blocked
    await expect(page.locator('button[data-cookiebanner="accept_button"]')).to_be_visible()
    await page.locator('button[data-cookiebanner="accept_only_essential_button"]').click()
    await open_composer(page)


async def test_draft_triggers_beforeunload(
    context: BrowserContext, facebook_site: SiteServer
) -> None:
    page = await open_home(context, facebook_site)
    await open_composer(page)
    await type_into_editor(page, "unsaved")
    dialog_types: list[str] = []

    async def accept(dialog: Dialog) -> None:
        dialog_types.append(dialog.type)
        await dialog.accept()

    page.on("dialog", accept)
    await page.goto(facebook_site.origin + "/ada.lovelace")
    assert dialog_types == ["beforeunload"]


async def test_group_post_links_to_the_group(
    context: BrowserContext, facebook_site: SiteServer
) -> None:
    page = await open_home(context, facebook_site)
    await page.goto(f"{facebook_site.origin}/groups/{GROUP_PYTHON_TAIPEI}/")
    await page.locator('[data-pagelet="GroupInlineComposer"] div[role="button"]').click()
    editor = page.locator(EDITOR)
    await expect(editor).to_have_attribute("aria-placeholder", "Create a public post…")
    await type_into_editor(page, "hello group")
    await page.locator(POST).click()
    await expect(page.locator(DIALOG)).to_have_count(0)
    [recorded] = facebook_site.posts
    assert recorded.group_id == GROUP_PYTHON_TAIPEI
    assert re.fullmatch(rf"/groups/{GROUP_PYTHON_TAIPEI}/posts/\d+/", recorded.url)
    article = page.locator('[role="article"]', has_text="hello group")
    await expect(article.locator(f'a[href^="{recorded.url}"]')).to_have_count(1)


async def test_group_with_approval_shows_pending_notice(
    context: BrowserContext, facebook_site: SiteServer
) -> None:
    page = await open_home(context, facebook_site)
    await page.goto(f"{facebook_site.origin}/groups/{GROUP_PYTHON_WORLDWIDE}/")
    await page.locator('[data-pagelet="GroupInlineComposer"] div[role="button"]').click()
    await type_into_editor(page, "needs approval")
    await page.locator(POST).click()
    await expect(page.locator(DIALOG)).to_have_count(0)
    await expect(page.get_by_text(re.compile("pending approval|awaiting approval"))).to_be_visible()
    await expect(page.locator('[role="article"]', has_text="needs approval")).to_have_count(0)
    [recorded] = facebook_site.posts
    assert (recorded.status, recorded.group_id) == ("pending_approval", GROUP_PYTHON_WORLDWIDE)


async def test_groups_membership_and_blocks(
    context: BrowserContext, facebook_site: SiteServer
) -> None:
    page = await open_home(context, facebook_site, locale="zh-TW")
    await page.goto(f"{facebook_site.origin}/groups/joins/")
    links = page.locator('[role="main"] a[href^="/groups/"]')
    await expect(links).to_have_count(3)
    await expect(page.locator(f'a[href="/groups/{GROUP_CLOSED_CIRCLE}/"]')).to_have_count(0)

    await page.goto(f"{facebook_site.origin}/groups/{GROUP_CLOSED_CIRCLE}/")
    await expect(page.locator('div[role="button"][aria-label="加入社團"]')).to_be_visible()
    await expect(page.locator('[data-pagelet="GroupInlineComposer"]')).to_have_count(0)

    facebook_site.set_scenario(blocked_group_ids=[GROUP_PYTHON_TAIPEI])
    await page.goto(f"{facebook_site.origin}/groups/{GROUP_PYTHON_TAIPEI}/")
    await page.locator(
        '[data-pagelet="GroupInlineComposer"] div[role="button"]', has_text="留個言吧……"
    ).click()
    await expect(page.locator(EDITOR)).to_have_attribute("aria-placeholder", "建立公開貼文……")
    await type_into_editor(page, "blocked here")
    await page.locator(f'{DIALOG} div[role="button"][aria-label="發佈"]').click()
    await expect(page.get_by_text("You can't post to this group right now")).to_be_visible()
    assert facebook_site.posts == []
