# ruff: noqa: RUF001 -- the locale texts are exact copies of the real site (full-width punctuation).
"""The X look-alike behaves like the facts file says, in a real browser."""

from __future__ import annotations

import asyncio
import re

from playwright.async_api import BrowserContext, Page, expect

from tests.fixtures.sites import SiteServer
from tests.sites.conftest import file_payload, png

TEXT = "line1\nline2 🍣 中文"
INLINE_EDITOR = (
    '[data-testid="tweetTextarea_0RichTextInputContainer"] '
    'div[data-testid="tweetTextarea_0"][role="textbox"][contenteditable="true"]'
)
INLINE_BUTTON = '[data-testid="toolBar"] [data-testid="tweetButtonInline"]'
DIALOG = '[role="dialog"]'
MODAL_EDITOR = f'{DIALOG} div[data-testid="tweetTextarea_0"]'
MODAL_BUTTON = f'{DIALOG} [data-testid="tweetButton"]'
TOAST = '[data-testid="toast"]'


async def open_page(
    context: BrowserContext, site: SiteServer, path: str, locale: str | None = None
) -> Page:
    await context.add_cookies(site.login_cookies(locale))  # type: ignore[arg-type]
    page = await context.new_page()
    await page.goto(site.origin + path)
    return page


async def test_inline_typing_posts_exact_text_and_shows_toast(
    context: BrowserContext, twitter_site: SiteServer
) -> None:
    page = await open_page(context, twitter_site, "/home")
    await expect(page.locator('[data-testid="SideNav_NewTweet_Button"]')).to_be_visible()
    await expect(
        page.locator('a[data-testid="AppTabBar_Profile_Link"][href="/ada_bredgio"]')
    ).to_be_visible()
    editor = page.locator(INLINE_EDITOR)
    await expect(editor).to_have_attribute("aria-label", "Post text")
    await expect(page.get_by_text("What’s happening?")).to_be_visible()
    button = page.locator(INLINE_BUTTON)
    await expect(button).to_have_attribute("aria-disabled", "true")
    assert await editor.evaluate(
        "node => !node.closest('[data-testid=\"toolBar\"]') && "
        "!document.querySelector('[data-testid=\"tweetButtonInline\"]').contains(node)"
    )

    await editor.click()
    await page.keyboard.type(TEXT)
    await expect(button).not_to_have_attribute("aria-disabled", "true")
    await button.click()

    toast = page.locator(TOAST)
    await expect(toast).to_contain_text("Your post was sent.")
    [recorded] = twitter_site.posts
    assert recorded.text == TEXT
    assert re.fullmatch(r"/ada_bredgio/status/\d{19}", recorded.url)
    await expect(toast.get_by_role("link", name="View")).to_have_attribute("href", recorded.url)
    assert page.url == twitter_site.origin + "/home"
    await expect(editor).to_be_visible()
    await expect(editor).to_have_text("")
    await expect(button).to_have_attribute("aria-disabled", "true")

    await page.goto(twitter_site.origin + "/ada_bredgio")
    tweet = page.locator(
        'article[data-testid="tweet"]', has=page.locator(f'a[href="{recorded.url}"]')
    )
    await expect(tweet.locator('[data-testid="tweetText"]')).to_have_text(TEXT)


async def test_compose_modal_closes_back_to_home(
    context: BrowserContext, twitter_site: SiteServer
) -> None:
    page = await open_page(context, twitter_site, "/compose/post")
    button = page.locator(MODAL_BUTTON)
    await expect(button).to_have_attribute("aria-disabled", "true")
    await page.locator(MODAL_EDITOR).click()
    await page.keyboard.type("from the modal")
    await button.click()
    await expect(page.locator(DIALOG)).to_have_count(0)
    await expect(page.locator(TOAST)).to_contain_text("Your post was sent.")
    assert page.url == twitter_site.origin + "/home"
    await expect(page.locator(INLINE_EDITOR)).to_be_visible()
    assert [p.text for p in twitter_site.posts] == ["from the modal"]


async def test_programmatic_changes_do_not_enable_post(
    context: BrowserContext, twitter_site: SiteServer
) -> None:
    page = await open_page(context, twitter_site, "/home")
    editor = page.locator(INLINE_EDITOR)
    await editor.click()
    await editor.fill("filled by script")
    await editor.evaluate("node => { node.textContent = 'set by textContent'; }")
    await editor.evaluate(
        "node => { node.focus(); document.execCommand('insertText', false, 'exec'); }"
    )
    await asyncio.sleep(0.3)
    await expect(page.locator(INLINE_BUTTON)).to_have_attribute("aria-disabled", "true")


async def test_insert_text_with_newline_or_scheme_is_garbled(
    context: BrowserContext, twitter_site: SiteServer
) -> None:
    page = await open_page(context, twitter_site, "/home")
    await page.locator(INLINE_EDITOR).click()
    await page.keyboard.insert_text("kept\ndropped")
    await page.keyboard.press("Enter")
    await page.keyboard.insert_text("see https://example.com")
    await page.keyboard.press("Enter")
    await page.keyboard.type("typed https://example.com")
    await page.locator(INLINE_BUTTON).click()
    await expect(page.locator(TOAST)).to_contain_text("Your post was sent.")
    assert [p.text for p in twitter_site.posts] == ["kept\nsee https\ntyped https://example.com"]


async def test_duplicate_text_shows_whoops(
    context: BrowserContext, twitter_site: SiteServer
) -> None:
    page = await open_page(context, twitter_site, "/home")
    for _ in range(2):
        await page.locator(INLINE_EDITOR).click()
        await page.keyboard.type("same words")
        await page.locator(INLINE_BUTTON).click()
    await expect(page.locator(TOAST)).to_contain_text("Whoops! You already said that.")
    assert [p.text for p in twitter_site.posts] == ["same words"]
    await expect(page.locator(INLINE_EDITOR)).to_have_text("same words")


async def test_error_toasts_in_zh(context: BrowserContext, twitter_site: SiteServer) -> None:
    twitter_site.set_scenario(rate_limited=True)
    page = await open_page(context, twitter_site, "/compose/post", locale="zh-Hant")
    editor = page.locator(MODAL_EDITOR)
    await expect(editor).to_have_attribute("aria-label", "貼文文字")
    await expect(page.locator(DIALOG).get_by_text("有什麼新鮮事？")).to_be_visible()
    button = page.locator(MODAL_BUTTON)
    await expect(button).to_have_text("發佈")
    await editor.click()
    await page.keyboard.type("限額")
    await button.click()
    await expect(page.locator(TOAST)).to_have_text("你已超過每日發送貼文數的上限。")
    twitter_site.set_scenario(rate_limited=False, generic_error=True)
    await button.click()
    await expect(page.locator(TOAST)).to_have_text("發生錯誤。請稍後再嘗試發送你的貼文。")
    assert twitter_site.posts == []
    await expect(page.locator(DIALOG)).to_have_count(1)


async def test_four_images_at_most_in_order(
    context: BrowserContext, twitter_site: SiteServer
) -> None:
    twitter_site.set_scenario(upload_delay_ms=50)
    page = await open_page(context, twitter_site, "/compose/post")
    file_input = page.locator(f'{DIALOG} input[data-testid="fileInput"][type="file"][multiple]')
    await expect(file_input).to_have_attribute(
        "accept", "image/jpeg,image/png,image/webp,image/gif,video/mp4,video/quicktime"
    )
    images = [png(seed) for seed in range(5)]
    await file_input.set_input_files(
        [file_payload(f"{i}.png", "image/png", data) for i, data in enumerate(images)]
    )
    await expect(page.locator(TOAST)).to_be_visible()
    await expect(page.locator(f'{DIALOG} [data-testid="attachments"] img')).to_have_count(4)
    button = page.locator(MODAL_BUTTON)
    await expect(button).not_to_have_attribute("aria-disabled", "true")
    await button.click()
    await expect(page.locator(TOAST)).to_contain_text("Your post was sent.")
    [recorded] = twitter_site.posts
    assert recorded.text == ""
    assert recorded.images == [(f"{i}.png", "image/png", images[i]) for i in range(4)]


async def test_logged_out_redirects_to_login(
    context: BrowserContext, twitter_site: SiteServer
) -> None:
    page = await context.new_page()
    await page.goto(twitter_site.origin + "/compose/post")
    assert page.url == twitter_site.origin + "/i/flow/login?redirect_after_login=%2Fcompose%2Fpost"


async def test_closing_a_draft_asks_to_save(
    context: BrowserContext, twitter_site: SiteServer
) -> None:
    page = await open_page(context, twitter_site, "/compose/post", locale="zh-TW")
    await page.locator(MODAL_EDITOR).click()
    await page.keyboard.type("draft")
    await page.locator(f'{DIALOG} [data-testid="app-bar-close"]').click()
    await expect(page.get_by_text("要儲存貼文嗎？")).to_be_visible()
    await expect(page.get_by_role("button", name="儲存")).to_be_visible()
    await page.get_by_role("button", name="捨棄").click()
    await expect(page.locator(DIALOG)).to_have_count(0)
    assert page.url == twitter_site.origin + "/home"
    assert twitter_site.posts == []


async def test_cookie_bar_blocks_until_dismissed(
    context: BrowserContext, twitter_site: SiteServer
) -> None:
    twitter_site.set_scenario(cookie_bar=True, locale="zh-Hant")
    page = await open_page(context, twitter_site, "/home")
    editor = page.locator(INLINE_EDITOR)
    try:
        await editor.click(timeout=500)
        blocked = False
    except Exception:
        blocked = True
    assert blocked
    await page.get_by_role("button", name="Refuse non-essential cookies").click()
    await editor.click()
    await page.keyboard.type("after cookies")
    await page.locator(INLINE_BUTTON).click()
    await expect(page.locator(TOAST)).to_contain_text("你的貼文已發送。")
    await expect(page.locator(TOAST).get_by_role("link", name="查看")).to_be_visible()
