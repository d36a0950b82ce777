"""Launch options reach the page: locale, time zone, user agent, viewport and proxy."""

from __future__ import annotations

import base64
from pathlib import Path

from profiles import BASE_ARGS, BrowserSettings, processes_for_profile, profile_dir
from profiles.launch import DISABLED_FEATURES, PLAYWRIGHT_DISABLED_FEATURES
from profiles.processes import read_cmdline
from runner.processes import descendants
from tests.profiles.support import PROXY_PASSWORD, PROXY_USER, Launch, Site

PROBE = """() => ({
    language: navigator.language,
    languages: navigator.languages,
    userAgent: navigator.userAgent,
    timeZone: Intl.DateTimeFormat().resolvedOptions().timeZone,
    width: innerWidth,
    height: innerHeight,
})"""


async def test_settings_show_in_the_page_and_in_requests(
    profiles_root: Path, launch: Launch, site: Site
) -> None:
    settings = BrowserSettings.model_validate(
        {
            "locale": "zh-TW",
            "timezone": "Asia/Taipei",
            "userAgent": "Mozilla/5.0 (X11; Linux x86_64) BredgioTest/1.0",
            "viewport": {"width": 1024, "height": 700},
        }
    )
    profile = profile_dir(profiles_root, "agent1")
    context = await launch(profile, settings)
    page = context.pages[0]
    await page.goto(f"{site.origin}/probe")

    seen = await page.evaluate(PROBE)
    assert seen["language"] == "zh-TW"
    assert seen["userAgent"] == "Mozilla/5.0 (X11; Linux x86_64) BredgioTest/1.0"
    assert seen["timeZone"] == "Asia/Taipei"
    assert (seen["width"], seen["height"]) == (1024, 700)

    request = site.last("/probe")
    assert request.headers["user-agent"] == "Mozilla/5.0 (X11; Linux x86_64) BredgioTest/1.0"
    assert request.headers["accept-language"].startswith("zh-TW")

    browser_args = next(
        read_cmdline(proc.pid) for proc in processes_for_profile(profile) if proc.is_browser
    )
    assert set(BASE_ARGS) <= set(browser_args)
    assert "--lang=zh-TW" in browser_args


async def test_one_renderer_per_page_and_playwrights_disabled_features_kept(
    profiles_root: Path, launch: Launch, site: Site
) -> None:
    """Chromium honours only the last --disable-features: ours must carry every name
    Playwright passes (this fails when a Playwright upgrade changes its list), and the
    omnibox dropdown's and the spare renderers are gone."""
    profile = profile_dir(profiles_root, "agent1")
    context = await launch(profile)
    page = context.pages[0]
    await page.goto(f"{site.origin}/probe")
    await page.goto(f"{site.origin}/probe?again")

    browser = next(proc.pid for proc in processes_for_profile(profile) if proc.is_browser)
    browser_args = read_cmdline(browser)
    lists = [arg.split("=", 1)[1].split(",") for arg in browser_args if arg.startswith(_DISABLE)]
    assert len(lists) == 2, "Playwright's list, then ours"
    playwrights, ours = lists
    assert set(playwrights) <= set(ours)
    assert set(playwrights) == set(PLAYWRIGHT_DISABLED_FEATURES)
    assert set(DISABLED_FEATURES) <= set(ours)

    # Child processes show their whole command line as one string.
    kinds = [" ".join(read_cmdline(pid)) for pid in descendants(browser)]
    renderers = [kind for kind in kinds if "--type=renderer" in kind]
    assert len(renderers) == 1, renderers


_DISABLE = "--disable-features="


async def test_proxy_with_credentials_carries_the_traffic(
    profiles_root: Path, launch: Launch, site: Site
) -> None:
    settings = BrowserSettings.model_validate(
        {"proxy": {"server": site.origin, "username": PROXY_USER, "password": PROXY_PASSWORD}}
    )
    context = await launch(profile_dir(profiles_root, "agent1"), settings)
    page = context.pages[0]

    # The host does not exist: only the proxy (our local server) can answer.
    await page.goto("http://bredgio-proxy-test.invalid/hello")
    assert await page.text_content("#ok") == "via proxy"

    proxied = [r for r in site.requests if r.target == "http://bredgio-proxy-test.invalid/hello"]
    credentials = base64.b64encode(f"{PROXY_USER}:{PROXY_PASSWORD}".encode()).decode()
    assert proxied[-1].headers["proxy-authorization"] == f"Basic {credentials}"
