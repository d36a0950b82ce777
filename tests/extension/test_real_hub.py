"""The extension against a real ``bredgio up``: an operator's Chromium (plain
subprocess, extension loaded unpacked, token pasted in the popup) and a Playwright-
launched one post to the look-alike Facebook and X through the hub; the connection
survives an idle worker, an API restart, and ends for good when the token is rotated."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
from playwright.async_api import Playwright
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.extension.bredgio_up import BredgioUp
from tests.extension.browsers import VERSION, PlainChromium, launched_browser
from tests.fixtures.sites.server import SiteServer, login_cookies
from tests.helpers import eventually, png_bytes

pytestmark = pytest.mark.asyncio(loop_scope="session")

IDLE_S = 45.0
RECONNECT_LIMIT_S = 5.0


@pytest.fixture(scope="module")
def up(
    tmp_path_factory: pytest.TempPathFactory, facebook_site: SiteServer, twitter_site: SiteServer
) -> Iterator[BredgioUp]:
    server = BredgioUp(
        tmp_path_factory.mktemp("bredgio-up") / "data",
        {
            "BREDGIO_FACEBOOK_ORIGIN": facebook_site.origin,
            "BREDGIO_TWITTER_ORIGIN": twitter_site.origin,
            # No server pings during the idle test: only the extension's own
            # keepalive holds its service worker up.
            "BREDGIO_HUB_PING_INTERVAL_S": "600",
        },
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def operator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlainChromium]:
    """The operator's browser: plain Chromium with the extension loaded unpacked."""
    browser = PlainChromium(tmp_path_factory.mktemp("operator") / "profile")
    browser.start()
    try:
        yield browser
    finally:
        browser.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def seat(
    up: BredgioUp, operator: PlainChromium, facebook_site: SiteServer, twitter_site: SiteServer
) -> dict[str, Any]:
    """An extension agent whose token the operator pasted into the popup; the browser
    holds both sites' login cookies."""
    agent_id, token = await up.new_agent("facebook", "twitter")
    cookies = login_cookies("facebook", facebook_site.origin)
    cookies += login_cookies("twitter", twitter_site.origin)
    await operator.add_cookies(cookies)
    assert await operator.connect(up.url, token) == "Connected"
    status = await operator.status()
    assert status["state"] == "connected"
    return {"id": agent_id, "token": token, "since": time.monotonic(), "status_at": status["at"]}


async def completed(up: BredgioUp, task_id: str, timeout_s: float = 60.0) -> dict[str, Any]:
    task = await up.wait_task(task_id, timeout_s)
    assert task["status"] == "completed", task
    assert all(entry["status"] != "error" for entry in task["log"]), task["log"]
    return task


async def test_the_popup_brings_the_agent_online(up: BredgioUp, seat: dict[str, Any]) -> None:
    agent = await up.agent(seat["id"])
    assert agent["status"] == "online"
    assert agent["extensionVersion"] == VERSION


async def test_facebook_post_with_an_image_from_a_playwright_launched_browser(
    up: BredgioUp,
    playwright_driver: Playwright,
    tmp_path_factory: pytest.TempPathFactory,
    facebook_site: SiteServer,
    reset_sites: None,
) -> None:
    agent_id, token = await up.new_agent("facebook")
    async with launched_browser(playwright_driver, tmp_path_factory.mktemp("fb")) as browser:
        await browser.add_cookies(login_cookies("facebook", facebook_site.origin))
        assert await browser.connect(up.url, token) == "Connected"
        image = png_bytes(rgb=(10, 200, 10))
        media = [await up.upload(image, "green.png")]
        content = "Today\u2019s new menu 🍣\n今日菜單"
        task = await completed(up, await up.post(agent_id, "facebook", content, media))

    (post,) = facebook_site.posts
    assert post.text == content
    assert [data for _, _, data in post.images] == [image]
    assert task["result"]["post"]["url"].startswith(facebook_site.origin + post.url)


@pytest.mark.slow
async def test_after_45_s_idle_the_worker_is_still_connected_and_posts(
    up: BredgioUp,
    operator: PlainChromium,
    seat: dict[str, Any],
    twitter_site: SiteServer,
    reset_sites: None,
) -> None:
    # Since the popup closed, nothing touched this browser: no CDP client, no task, no
    # server ping (the test before ran on another browser). Chrome stops an idle
    # service worker after 30 s, which would close its socket.
    deadline = seat["since"] + IDLE_S
    while time.monotonic() < deadline:
        assert operator.worker_running(), "the service worker was stopped"
        await asyncio.sleep(2.5)

    first, second = png_bytes(rgb=(255, 0, 0)), png_bytes(rgb=(0, 0, 255))
    media = [await up.upload(first, "a.png"), await up.upload(second, "b.png")]
    content = "Hello from Bredgio 🍣\n第二行 https://example.com/x"
    task = await completed(up, await up.post(seat["id"], "twitter", content, media), 30)

    (post,) = twitter_site.posts
    assert post.text == content
    assert [data for _, _, data in post.images] == [first, second]
    assert task["result"]["post"]["url"] == twitter_site.origin + post.url
    # The same connection throughout: the status was not touched by a reconnect.
    assert (await operator.status())["at"] == seat["status_at"]


async def test_an_api_restart_is_rejoined_within_5_s(
    up: BredgioUp,
    operator: PlainChromium,
    seat: dict[str, Any],
    facebook_site: SiteServer,
    reset_sites: None,
) -> None:
    before = await operator.status()
    up.stop()
    ready_at = up.start()
    ready_wall = time.time() - (time.monotonic() - ready_at)

    async def rejoined() -> dict[str, Any] | None:
        status = await operator.status()
        return status if status["state"] == "connected" and status["at"] > before["at"] else None

    status = await eventually(rejoined, RECONNECT_LIMIT_S + 5, interval_s=0.2)
    assert status["at"] / 1000 - ready_wall < RECONNECT_LIMIT_S

    task = await completed(up, await up.post(seat["id"], "facebook", "Back after a restart"))
    assert [post.text for post in facebook_site.posts] == ["Back after a restart"]
    assert task["result"]["post"]["url"].startswith(facebook_site.origin)


async def test_rotating_the_token_closes_the_socket_for_good(
    up: BredgioUp, operator: PlainChromium, seat: dict[str, Any]
) -> None:
    new_token = await up.rotate_token(seat["id"])

    async def revoked() -> dict[str, Any] | None:
        status = await operator.status()
        return status if status["state"] == "revoked" else None

    status = await eventually(revoked, 10, interval_s=0.2)
    assert status["message"].startswith("Token revoked")

    async with httpx.AsyncClient(base_url=up.url) as client:
        refused = await client.post(
            "/api/extension/heartbeat", json={"token": seat["token"], "version": VERSION}
        )
    assert refused.status_code == 401
    ws_url = f"ws://127.0.0.1:{up.port}/api/social-agents/ws?token={seat['token']}"
    with pytest.raises(InvalidStatus) as refusal:
        async with connect(ws_url):
            pass
    assert refusal.value.response.status_code == 401
    await asyncio.sleep(1.5)
    assert (await operator.status())["state"] == "revoked"  # no reconnection attempts

    # Pasting the new token brings it back.
    assert await operator.connect(up.url, new_token) == "Connected"
    seat["token"] = new_token

