"""Cookie import and export for a profile's browser context.

``Cookie`` is the API body shape ``{name, value, domain, path, expires?, httpOnly?,
secure?, sameSite?}``. It also accepts what ``chrome.cookies.getAll`` returns (the
extension's export): ``expirationDate`` for ``expires`` and ``no_restriction`` /
``unspecified`` for ``sameSite``; other extra keys (``hostOnly``, ``storeId``...) are
ignored.

A domain with a leading dot (``.facebook.com``) makes a domain cookie, sent to every
subdomain; without it (``www.facebook.com``) the cookie is host-only, as in Chromium's
own export.

Session cookies survive a restart here. Chromium does not restore session cookies when
a browser restarts, and the pool restarts browsers all the time (idle close, eviction,
crashes), so a pasted login would vanish. ``import_cookies`` therefore stores a cookie
without ``expires`` (or with ``-1``) as a persistent cookie expiring
``SESSION_COOKIE_LIFETIME_S`` (400 days, Chromium's cap on any cookie) from now.

Chromium writes cookies to disk in batches (about every 30 s) and on a clean close, so a
browser killed right after an import may lose it; closing the context flushes them.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Literal

from playwright.async_api import BrowserContext
from playwright.async_api import Cookie as PlaywrightCookie
from playwright.async_api import Error as PlaywrightError
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator, model_validator

if TYPE_CHECKING:
    # Playwright types add_cookies() with this TypedDict but does not export it.
    from playwright._impl._api_structures import SetCookieParam

SESSION_COOKIE_LIFETIME_S = 400 * 24 * 3600

SameSite = Literal["Strict", "Lax", "None"]

_SAME_SITE: dict[str, SameSite | None] = {
    "strict": "Strict",
    "lax": "Lax",
    "none": "None",
    "no_restriction": "None",
    "unspecified": None,
}


class Cookie(BaseModel):
    """One cookie, as the API takes and returns it."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)

    name: str = Field(description="Cookie name (Chromium allows an empty one).")
    value: str = Field(description="Cookie value.")
    domain: str = Field(
        min_length=1,
        description="Host ('www.facebook.com', host-only) or '.facebook.com' (all subdomains).",
    )
    path: str = Field("/", description="Path prefix the cookie is sent for.")
    expires: float | None = Field(
        None,
        validation_alias=AliasChoices("expires", "expirationDate"),
        description="Expiry as unix seconds; absent or -1 for a session cookie.",
    )
    http_only: bool = Field(False, alias="httpOnly", description="Hidden from page scripts.")
    secure: bool = Field(False, description="Sent over HTTPS only.")
    same_site: SameSite | None = Field(
        None, alias="sameSite", description="Strict, Lax or None (case-insensitive)."
    )

    @field_validator("domain")
    @classmethod
    def _check_domain(cls, domain: str) -> str:
        domain = domain.strip().lower()
        if not domain.lstrip("."):
            raise ValueError("cookie domain is empty")
        return domain

    @field_validator("path")
    @classmethod
    def _check_path(cls, path: str) -> str:
        if not path.startswith("/"):
            raise ValueError("cookie path must start with '/'")
        return path

    @field_validator("expires")
    @classmethod
    def _check_expires(cls, expires: float | None) -> float | None:
        if expires is None or expires == -1:
            return None
        if expires <= 0:
            raise ValueError("expires must be unix seconds, or -1 for a session cookie")
        return expires

    @field_validator("same_site", mode="before")
    @classmethod
    def _normalize_same_site(cls, value: Any) -> Any:
        if isinstance(value, str):
            key = value.strip().lower()
            if key not in _SAME_SITE:
                raise ValueError("sameSite must be Strict, Lax or None")
            return _SAME_SITE[key]
        return value

    @model_validator(mode="after")
    def _check_same_site_none(self) -> Cookie:
        # Chromium silently drops SameSite=None cookies that are not Secure.
        if self.same_site == "None" and not self.secure:
            raise ValueError("sameSite None requires secure: true")
        return self

    @property
    def is_session(self) -> bool:
        """Whether the cookie has no expiry of its own."""
        return self.expires is None


def _to_playwright(cookie: Cookie, now: float) -> SetCookieParam:
    expires = cookie.expires if cookie.expires is not None else now + SESSION_COOKIE_LIFETIME_S
    entry: SetCookieParam = {
        "name": cookie.name,
        "value": cookie.value,
        "domain": cookie.domain,
        "path": cookie.path,
        "expires": expires,
        "httpOnly": cookie.http_only,
        "secure": cookie.secure,
    }
    if cookie.same_site is not None:
        entry["sameSite"] = cookie.same_site
    return entry


def _from_playwright(entry: PlaywrightCookie) -> Cookie:
    expires = entry.get("expires", -1)
    return Cookie(
        name=entry["name"],
        value=entry["value"],
        domain=entry["domain"],
        path=entry.get("path", "/"),
        expires=None if expires is None or expires < 0 else expires,
        http_only=entry.get("httpOnly", False),
        secure=entry.get("secure", False),
        same_site=entry.get("sameSite"),
    )


def _key(name: str, domain: str, path: str) -> tuple[str, str, str]:
    return (name, domain.lower(), path)


async def import_cookies(context: BrowserContext, cookies: Iterable[Cookie]) -> list[Cookie]:
    """Add ``cookies`` to the context's profile, replacing same name/domain/path ones.

    Session cookies are stored as persistent (see the module docstring). Returns the
    cookies Chromium refused (for example a ``__Host-`` cookie with a path other than
    ``/``); the others are stored regardless. An empty list means all were stored.
    """
    wanted = list(cookies)
    if not wanted:
        return []
    now = time.time()
    try:
        await context.add_cookies([_to_playwright(cookie, now) for cookie in wanted])
    except PlaywrightError:
        # Chromium rejects the whole batch for one bad cookie: add them one by one.
        for cookie in wanted:
            with contextlib.suppress(PlaywrightError):
                await context.add_cookies([_to_playwright(cookie, now)])
    # Chromium may also drop a cookie without an error; check what it kept.
    stored = {
        _key(entry["name"], entry["domain"], entry["path"]) for entry in await context.cookies()
    }
    return [
        cookie for cookie in wanted if _key(cookie.name, cookie.domain, cookie.path) not in stored
    ]


async def export_cookies(
    context: BrowserContext, urls: Iterable[str] | None = None
) -> list[Cookie]:
    """The context's cookies, or only those that would be sent to one of ``urls``."""
    url_list = list(urls) if urls is not None else None
    entries = await context.cookies(url_list) if url_list else await context.cookies()
    return [_from_playwright(entry) for entry in entries]
