"""An agent's browser settings: the ``browser`` object of ``PATCH /api/agents/:id``.

Every field is optional; an unset field keeps Chromium's (or Playwright's) default.
Field names are camelCase on the wire (``userAgent``); Python code may use either.
"""

from __future__ import annotations

import re
import zoneinfo
from functools import cache
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

MIN_VIEWPORT_PX = 200
MAX_VIEWPORT_PX = 7680
PROXY_SCHEMES = ("http", "https", "socks5")

# language[-Script][-REGION|-UN M.49 area], e.g. "en", "en-US", "zh-Hant-TW", "es-419".
_LOCALE = re.compile(r"([a-z]{2,3})(?:-([a-z]{4}))?(?:-([a-z]{2}|[0-9]{3}))?", re.IGNORECASE)


@cache
def _iana_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class Viewport(_Model):
    """Size of the page's layout viewport in CSS pixels."""

    width: int = Field(ge=MIN_VIEWPORT_PX, le=MAX_VIEWPORT_PX, description="Width in CSS px.")
    height: int = Field(ge=MIN_VIEWPORT_PX, le=MAX_VIEWPORT_PX, description="Height in CSS px.")


class ProxySettings(_Model):
    """The proxy every request of the browser goes through."""

    server: str = Field(
        description="Proxy URL with scheme http, https or socks5, e.g. http://10.0.0.2:3128."
    )
    username: str | None = Field(None, description="Proxy user (http/https proxies only).")
    password: str | None = Field(None, description="Proxy password.")
    bypass: str | None = Field(
        None, description="Comma-separated hosts that skip the proxy, e.g. '.internal,10.0.0.1'."
    )

    @field_validator("server")
    @classmethod
    def _check_server(cls, server: str) -> str:
        server = server.strip()
        parts = urlsplit(server)
        if parts.scheme.lower() not in PROXY_SCHEMES:
            raise ValueError(f"proxy server must start with one of {', '.join(PROXY_SCHEMES)}://")
        try:
            port = parts.port
        except ValueError as exc:
            raise ValueError("proxy server has an invalid port") from exc
        if not parts.hostname:
            raise ValueError("proxy server has no host")
        if parts.username or parts.password:
            raise ValueError("put proxy credentials in username/password, not in the URL")
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise ValueError("proxy server must be scheme://host[:port] only")
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        return f"{parts.scheme.lower()}://{host}" + (f":{port}" if port is not None else "")

    @model_validator(mode="after")
    def _check_credentials(self) -> ProxySettings:
        if self.password is not None and self.username is None:
            raise ValueError("proxy password given without a username")
        if self.username is not None and self.server.startswith("socks5://"):
            raise ValueError("Chromium does not support socks5 proxy authentication")
        return self


class BrowserSettings(_Model):
    """How the agent's Chromium presents itself. All fields optional."""

    locale: str | None = Field(
        None,
        description="BCP 47 language tag, e.g. 'en-US' or 'zh-TW': navigator.language, "
        "Accept-Language and the browser UI language.",
    )
    timezone: str | None = Field(None, description="IANA time zone, e.g. 'Asia/Taipei'.")
    user_agent: str | None = Field(
        None, alias="userAgent", description="User-Agent header and navigator.userAgent."
    )
    viewport: Viewport | None = Field(None, description="Page viewport in CSS pixels.")
    proxy: ProxySettings | None = Field(None, description="Proxy for all browser traffic.")

    @field_validator("locale")
    @classmethod
    def _check_locale(cls, locale: str | None) -> str | None:
        if locale is None:
            return None
        match = _LOCALE.fullmatch(locale.strip().replace("_", "-"))
        if not match:
            raise ValueError("locale must be a BCP 47 tag like 'en', 'en-US' or 'zh-Hant-TW'")
        language, script, region = match.groups()
        # Canonical casing: language lower, Script title, REGION upper.
        parts = [language.lower()]
        if script:
            parts.append(script.title())
        if region:
            parts.append(region.upper())
        return "-".join(parts)

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, timezone: str | None) -> str | None:
        if timezone is None:
            return None
        timezone = timezone.strip()
        if timezone not in _iana_zones():
            raise ValueError(f"unknown IANA time zone {timezone!r}")
        return timezone

    @field_validator("user_agent")
    @classmethod
    def _check_user_agent(cls, user_agent: str | None) -> str | None:
        if user_agent is None:
            return None
        user_agent = user_agent.strip()
        if not user_agent or len(user_agent) > 512:
            raise ValueError("userAgent must be 1-512 characters")
        if not user_agent.isprintable():
            raise ValueError("userAgent must not contain control characters")
        return user_agent
