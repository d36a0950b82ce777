"""Cookie import/export, and cookies surviving a browser restart."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from pydantic import ValidationError

from profiles import (
    SESSION_COOKIE_LIFETIME_S,
    Cookie,
    export_cookies,
    import_cookies,
    profile_dir,
)
from tests.profiles.support import Launch, Site, parse_cookie_header


def test_cookie_body_accepts_the_api_and_extension_shapes() -> None:
    api = Cookie.model_validate(
        {
            "name": "c_user",
            "value": "100",
            "domain": ".Facebook.com",
            "path": "/",
            "expires": -1,
            "httpOnly": True,
            "secure": True,
            "sameSite": "none",
        }
    )
    assert api.domain == ".facebook.com"
    assert api.expires is None and api.is_session
    assert api.same_site == "None"
    assert api.model_dump(by_alias=True, exclude_none=True) == {
        "name": "c_user",
        "value": "100",
        "domain": ".facebook.com",
        "path": "/",
        "httpOnly": True,
        "secure": True,
        "sameSite": "None",
    }
    # What chrome.cookies.getAll() gives the extension.
    extension = Cookie.model_validate(
        {
            "name": "ct0",
            "value": "abc",
            "domain": ".x.com",
            "path": "/",
            "expirationDate": 1900000000.5,
            "hostOnly": False,
            "sameSite": "lax",
            "storeId": "0",
        }
    )
    assert extension.expires == 1900000000.5
    assert extension.same_site == "Lax"
    assert Cookie(name="a", value="b", domain="x.com", sameSite="unspecified").same_site is None


@pytest.mark.parametrize(
    "body",
    [
        {"name": "a", "value": "b", "domain": "x.com", "sameSite": "sometimes"},
        {"name": "a", "value": "b", "domain": "x.com", "sameSite": "None"},  # not secure
        {"name": "a", "value": "b", "domain": "x.com", "path": "no-slash"},
        {"name": "a", "value": "b", "domain": "x.com", "expires": -5},
        {"name": "a", "value": "b", "domain": " "},
        {"name": "a", "domain": "x.com"},
    ],
)
def test_invalid_cookies_are_rejected(body: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        Cookie.model_validate(body)


async def test_imported_cookies_are_sent_and_survive_a_restart(
    profiles_root: Path, launch: Launch, site: Site
) -> None:
    profile = profile_dir(profiles_root, "agent1")
    in_an_hour = time.time() + 3600
    cookies = [
        Cookie(name="sid", value="session-value", domain="127.0.0.1"),
        Cookie(name="pref", value="dark", domain="127.0.0.1", expires=in_an_hour),
        Cookie(name="secret", value="s3", domain="127.0.0.1", path="/", httpOnly=True),
        Cookie(name="strict", value="1", domain="127.0.0.1", sameSite="strict"),
    ]
    context = await launch(profile)
    assert await import_cookies(context, cookies) == []

    page = context.pages[0]
    await page.goto(f"{site.origin}/whoami")
    sent = parse_cookie_header(site.last("/whoami").headers.get("cookie"))
    assert sent == {"sid": "session-value", "pref": "dark", "secret": "s3", "strict": "1"}
    assert await page.evaluate("document.cookie.includes('secret')") is False

    exported = {c.name: c for c in await export_cookies(context, [site.origin])}
    # A cookie imported without expiry is stored as persistent, for 400 days.
    sid_expires = exported["sid"].expires
    assert sid_expires is not None
    assert abs(sid_expires - (time.time() + SESSION_COOKIE_LIFETIME_S)) < 60
    assert exported["pref"].expires == pytest.approx(in_an_hour, abs=1)
    assert exported["secret"].http_only
    assert exported["strict"].same_site == "Strict"
    await context.close()

    relaunched = await launch(profile)
    after_restart = {c.name: c.value for c in await export_cookies(relaunched)}
    assert after_restart == {"sid": "session-value", "pref": "dark", "secret": "s3", "strict": "1"}


async def test_export_filters_by_url_and_reports_refused_cookies(
    profiles_root: Path, launch: Launch
) -> None:
    context = await launch(profile_dir(profiles_root, "agent1"))
    refused = await import_cookies(
        context,
        [
            Cookie(name="fb", value="1", domain=".facebook.com", secure=True),
            Cookie(name="x", value="2", domain="x.com", path="/i/"),
            # __Host- cookies must have path "/": Chromium refuses this one.
            Cookie(name="__Host-bad", value="3", domain="x.com", path="/i/", secure=True),
        ],
    )
    assert [cookie.name for cookie in refused] == ["__Host-bad"]

    assert [c.name for c in await export_cookies(context, ["https://www.facebook.com/"])] == ["fb"]
    assert [c.name for c in await export_cookies(context, ["https://x.com/i/flow"])] == ["x"]
    assert [c.name for c in await export_cookies(context, ["https://x.com/home"])] == []
    assert sorted(c.name for c in await export_cookies(context)) == ["fb", "x"]
