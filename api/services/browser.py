"""Validation of an agent's browser settings (locale, timezone, userAgent, viewport,
proxy), shared with the runner through ``profiles``."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from api.errors import BadRequest


def validate_browser(raw: dict[str, Any]) -> dict[str, Any]:
    from profiles.settings import BrowserSettings

    try:
        parsed = BrowserSettings.model_validate(raw)
    except ValidationError as error:
        detail = "; ".join(
            f"browser.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()
        )
        raise BadRequest(detail) from None
    return parsed.model_dump(by_alias=True, exclude_none=True)
