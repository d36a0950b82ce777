"""Login health check against local look-alikes of the sites' login behaviour."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import BrowserContext

from profiles import (
    Cookie,
    LoginCheckFailed,
    LoginStatus,
    Platform,
    import_cookies,
    login_status,
    profile_dir,
)
from tests.profiles.support import Launch, Site


@pytest.fixture
async def persistent_context(profiles_root: Path, launch: Launch) -> BrowserContext:
    return await launch(profile_dir(profiles_root, "agent1"))


def _origins(site: Site) -> dict[str, str]:
    return {"facebook": site.origin, "twitter": site.origin}


async def _login(context: BrowserContext, **values: str) -> None:
    cookies = [Cookie(name=name, value=value, domain="127.0.0.1") for name, value in values.items()]
    assert await import_cookies(context, cookies) == []


async def test_no_cookies_means_logged_out(persistent_context: BrowserContext, site: Site) -> None:
    facebook = await login_status(persistent_context, "facebook", _origins(site))
    assert not facebook.logged_in
    assert "c_user" in facebook.reason
    twitter = await login_status(persistent_context, "twitter", _origins(site))
    assert not twitter.logged_in
    assert "auth_token, ct0" in twitter.reason
    assert twitter.model_dump(by_alias=True) == {
        "platform": "twitter",
        "loggedIn": False,
        "reason": twitter.reason,
    }


async def test_cookie_check_needs_every_platform_cookie(
    persistent_context: BrowserContext, site: Site
) -> None:
    await _login(persistent_context, c_user="valid", auth_token="valid")
    assert (await login_status(persistent_context, "facebook", _origins(site))).logged_in
    twitter = await login_status(persistent_context, "twitter", _origins(site))
    assert not twitter.logged_in
    assert twitter.reason == "missing cookie ct0"

    await _login(persistent_context, ct0="csrf")
    assert (await login_status(persistent_context, "twitter", _origins(site))).logged_in


async def test_cookies_are_read_for_the_given_origin_only(
    persistent_context: BrowserContext, site: Site
) -> None:
    await _login(persistent_context, c_user="valid")
    # Default origin https://www.facebook.com has no cookie in this profile.
    assert not (await login_status(persistent_context, "facebook")).logged_in


async def test_deep_check_follows_the_site_to_its_login_page(
    persistent_context: BrowserContext, site: Site
) -> None:
    async def deep(platform: Platform) -> LoginStatus:
        # The look-alike redirects 100 ms after load; no need to wait the default second.
        return await login_status(
            persistent_context, platform, _origins(site), deep=True, redirect_wait_s=0.5
        )

    pages_before = len(persistent_context.pages)
    await _login(persistent_context, c_user="expired-session", auth_token="revoked", ct0="csrf")

    assert (await login_status(persistent_context, "facebook", _origins(site))).logged_in
    facebook = await deep("facebook")
    assert not facebook.logged_in
    assert "/login/" in facebook.reason
    # X sends the browser to its login flow from script, after the page loaded.
    twitter = await deep("twitter")
    assert not twitter.logged_in
    assert "/i/flow/login" in twitter.reason
    assert len(persistent_context.pages) == pages_before, "the check closes its page"

    await _login(persistent_context, c_user="checkpoint")
    held = await deep("facebook")
    assert not held.logged_in
    assert "checkpoint" in held.reason

    await _login(persistent_context, c_user="valid", auth_token="valid")
    assert (await deep("facebook")).logged_in
    assert (await deep("twitter")).logged_in


async def test_deep_check_reports_an_unreachable_site(persistent_context: BrowserContext) -> None:
    await _login(persistent_context, c_user="valid")
    unreachable = {"facebook": "http://127.0.0.1:9"}
    with pytest.raises(LoginCheckFailed):
        await login_status(persistent_context, "facebook", unreachable, deep=True)
