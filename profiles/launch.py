"""Keyword arguments for ``chromium.launch_persistent_context`` from an agent's settings."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from profiles.settings import BrowserSettings

DEFAULT_CHROMIUM_PATH = "/usr/bin/chromium"

# Flags every launch gets: no sandbox (containers), no GPU, and nothing that phones home,
# so a browser on a closed network starts fast and talks only to the sites it is sent to.
BASE_ARGS: tuple[str, ...] = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def launch_options(
    settings: BrowserSettings,
    *,
    executable_path: str = DEFAULT_CHROMIUM_PATH,
    headless: bool = True,
    extra_args: Iterable[str] = (),
) -> dict[str, Any]:
    """Build the kwargs for ``playwright.chromium.launch_persistent_context(user_data_dir,
    **kwargs)``.

    Unset settings are left out, so Playwright's defaults apply (viewport 1280x720, the
    browser's own user agent, locale and time zone). The locale also sets ``--lang``.
    """
    args = list(BASE_ARGS)
    options: dict[str, Any] = {"executable_path": executable_path, "headless": headless}
    if settings.locale:
        options["locale"] = settings.locale
        args.append(f"--lang={settings.locale}")
    if settings.timezone:
        options["timezone_id"] = settings.timezone
    if settings.user_agent:
        options["user_agent"] = settings.user_agent
    if settings.viewport:
        options["viewport"] = {
            "width": settings.viewport.width,
            "height": settings.viewport.height,
        }
    if settings.proxy:
        options["proxy"] = settings.proxy.model_dump(exclude_none=True)
    args.extend(extra_args)
    options["args"] = args
    return options
