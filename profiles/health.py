"""Is the profile logged in to a platform?

The quick check only reads cookies: Facebook's ``c_user``, X's ``auth_token`` and
``ct0``. Cookies can outlive the session they belong to (the site logged the browser out
server-side), so ``deep=True`` also opens the site in a fresh page and reports logged out
if the site sends it to its login page (or, on Facebook, to a checkpoint).

Origins are parameters, so tests point the check at local look-alike sites.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping
from typing import Literal
from urllib.parse import urlsplit

from playwright.async_api import BrowserContext, Page
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import TimeoutError as PlaywrightTimeoutError
from pydantic import BaseModel, ConfigDict, Field

from profiles.errors import ProfileError

Platform = Literal["facebook", "twitter"]

DEFAULT_ORIGINS: Mapping[str, str] = {
    "facebook": "https://www.facebook.com",
    "twitter": "https://x.com",
}

REQUIRED_COOKIES: Mapping[str, tuple[str, ...]] = {
    "facebook": ("c_user",),
    "twitter": ("auth_token", "ct0"),
}

# Where the deep check goes: X's root is a public landing page, /home needs a login.
DEEP_CHECK_PATHS: Mapping[str, str] = {"facebook": "/", "twitter": "/home"}

# Paths a logged-out browser is sent to, with how the check words it.
_LOGGED_OUT_PATHS: Mapping[str, tuple[tuple[re.Pattern[str], str], ...]] = {
    "facebook": (
        (re.compile(r"^/login(/|$)|/login\.php$"), "sent to the login page"),
        (re.compile(r"^/(checkpoint|two_step_verification|recover)(/|$)"), "held at checkpoint"),
    ),
    "twitter": ((re.compile(r"^/i/flow/login(/|$)|^/login(/|$)"), "sent to the login page"),),
}


class LoginCheckFailed(ProfileError):
    """The deep check could not load the site (timeout, network error, browser gone)."""


class LoginStatus(BaseModel):
    """Result of a login health check."""

    model_config = ConfigDict(populate_by_name=True, frozen=True)

    platform: Platform
    logged_in: bool = Field(alias="loggedIn")
    reason: str = Field(description="Why the check concluded what it did.")


async def login_status(
    context: BrowserContext,
    platform: Platform,
    origins: Mapping[str, str] | None = None,
    *,
    deep: bool = False,
    timeout_s: float = 15.0,
    redirect_wait_s: float = 1.0,
) -> LoginStatus:
    """Check whether ``context`` is logged in to ``platform``.

    ``origins`` maps platform to origin (defaults: ``DEFAULT_ORIGINS``). With ``deep``,
    a fresh page opens ``origin + DEEP_CHECK_PATHS[platform]``, waits for the load and up
    to ``redirect_wait_s`` for a client-side redirect, and is closed without running
    ``beforeunload`` handlers. Raises ``LoginCheckFailed`` if that page cannot load.
    """
    if platform not in REQUIRED_COOKIES:
        raise ValueError(f"unknown platform {platform!r}")
    origin = (origins or {}).get(platform) or DEFAULT_ORIGINS[platform]
    origin = origin.rstrip("/")

    present = {entry["name"] for entry in await context.cookies([origin]) if entry["value"]}
    missing = [name for name in REQUIRED_COOKIES[platform] if name not in present]
    if missing:
        return LoginStatus(
            platform=platform, logged_in=False, reason=f"missing cookie {', '.join(missing)}"
        )
    cookies_reason = f"cookie {', '.join(REQUIRED_COOKIES[platform])} present"
    if not deep:
        return LoginStatus(platform=platform, logged_in=True, reason=cookies_reason)

    url = origin + DEEP_CHECK_PATHS[platform]
    page = await context.new_page()
    try:
        landed = await _landing_path(page, url, platform, timeout_s, redirect_wait_s)
    except PlaywrightError as exc:
        raise LoginCheckFailed(f"could not load {url}: {exc.message}") from exc
    finally:
        # The browser may already be gone; then there is nothing left to close.
        with contextlib.suppress(PlaywrightError):
            await page.close(run_before_unload=False)

    why_logged_out = _logged_out(platform, landed)
    if why_logged_out:
        reason = f"{cookies_reason}, but {why_logged_out} {landed}"
        return LoginStatus(platform=platform, logged_in=False, reason=reason)
    reason = f"{cookies_reason} and {url} opened"
    return LoginStatus(platform=platform, logged_in=True, reason=reason)


def _logged_out(platform: str, path: str) -> str | None:
    """How the site says the browser is logged out at ``path``, or ``None``."""
    for pattern, wording in _LOGGED_OUT_PATHS[platform]:
        if pattern.search(path):
            return wording
    return None


async def _landing_path(
    page: Page, url: str, platform: str, timeout_s: float, redirect_wait_s: float
) -> str:
    """Open ``url`` and return the path the page ends up on."""
    await page.goto(url, wait_until="load", timeout=timeout_s * 1000)
    # A client-side redirect to the login page may come after the load event.
    with contextlib.suppress(PlaywrightTimeoutError):
        await page.wait_for_url(
            lambda current: _logged_out(platform, urlsplit(current).path) is not None,
            timeout=redirect_wait_s * 1000,
        )
    return urlsplit(page.url).path
