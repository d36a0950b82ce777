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

# Chromium keeps only the LAST --disable-features of its command line, and Playwright
# puts its own list before the caller's arguments: a second list must repeat it, or it
# switches back on what Playwright turns off. This copy is Playwright 1.65's; the launch
# test checks that every name Playwright passes is in it.
PLAYWRIGHT_DISABLED_FEATURES: tuple[str, ...] = (
    "AvoidUnnecessaryBeforeUnloadCheckSync",
    "DestroyProfileOnBrowserClose",
    "HttpsUpgrades",
    "HttpsFirstBalancedModeAutoEnable",
    "LensOverlay",
    "MediaRouter",
    "PaintHolding",
    "ThirdPartyStoragePartitioning",
    "AvoidCorsURLLoaderRestartOnRedirect",
    "TcpPortRandomizationWin",
    "OptimizationHints",
    "NetworkTimeServiceQuerying",
    "AimEnabled",
    "PreconnectToSearch",
    "msForceBrowserSignIn",
    "msEdgeUpdateLaunchServicesPreferredVersion",
)

# Renderers a headless agent never uses, about 30 MB of memory per browser between them:
# the omnibox dropdown (a hidden web page kept loaded in its own renderer; headless has
# no address bar to open it from) and the spare renderer kept warm for the next
# navigation to another site (an agent's navigations stay on one site or two).
DISABLED_FEATURES: tuple[str, ...] = (
    "WebUIOmniboxPopup",
    "WebUIOmniboxAimPopup",
    "SpareRendererForSitePerProcess",
)

_DISABLE_FEATURES = "--disable-features="


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
    The arguments end with one ``--disable-features``: Playwright's list, then
    :data:`DISABLED_FEATURES`, then any names ``extra_args`` disable.
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
    # One --disable-features carrying Playwright's list, ours and the caller's.
    disabled = [*PLAYWRIGHT_DISABLED_FEATURES, *DISABLED_FEATURES]
    for arg in extra_args:
        if arg.startswith(_DISABLE_FEATURES):
            disabled.extend(name for name in arg[len(_DISABLE_FEATURES) :].split(",") if name)
        else:
            args.append(arg)
    args.append(_DISABLE_FEATURES + ",".join(dict.fromkeys(disabled)))
    options["args"] = args
    return options
