"""The extension's side of the socket: reconnecting after drops and restarts, stopping
for good when the token is revoked or refused, and the popup's handshake."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from tests.extension.browsers import (
    VERSION,
    ExtensionHost,
    PlainChromium,
    connect_popup,
    wait_status,
)
from tests.extension.seed_hub import SeedHub

pytestmark = [
    pytest.mark.asyncio(loop_scope="session"),
    # The same worker code in either browser; an operator's is the plain one.
    pytest.mark.parametrize("host", ["plain"], indirect=True),
]

RECONNECT_LIMIT_S = 5.0


@pytest_asyncio.fixture(loop_scope="session", autouse=True)
async def reconnected(hub: SeedHub, host: ExtensionHost) -> AsyncIterator[None]:
    """Each test starts and ends with the extension connected with the hub's token."""
    token = hub.token
    yield
    hub.token = token
    if hub.current is None:
        await host.connect(hub.url, token)


async def state(host: ExtensionHost, wanted: str, timeout_s: float = 5.0) -> dict[str, str]:
    async with asyncio.timeout(timeout_s):
        while True:
            status = await host.status()
            if status.get("state") == wanted:
                return status
            await asyncio.sleep(0.1)


async def test_a_dropped_socket_is_reopened_with_hello(hub: SeedHub) -> None:
    count = len(hub.connections)
    await hub.close_current(1011, "server error")
    connection = await hub.wait_connected(2.0, after=count)
    await asyncio.sleep(0.1)
    assert connection.frames[0] == {"type": "hello", "version": VERSION}
    assert connection.version == VERSION


async def test_a_restarted_server_is_rejoined_within_5_s(hub: SeedHub) -> None:
    count = len(hub.connections)
    listening_at = await hub.restart(down_s=2.0)  # a few failed attempts meanwhile
    await hub.wait_connected(RECONNECT_LIMIT_S, after=count)
    assert asyncio.get_running_loop().time() - listening_at < RECONNECT_LIMIT_S


async def test_a_reopened_browser_reconnects_by_itself(hub: SeedHub, host: ExtensionHost) -> None:
    assert isinstance(host, PlainChromium)
    count = len(hub.connections)
    host.restart()  # token and server URL were kept in chrome.storage.local
    await hub.wait_connected(15.0, after=count)
    assert await hub.ok("evaluate", {"expression": "6 * 7"}) == {"result": 42}


async def test_1008_stops_until_a_token_is_saved_again(hub: SeedHub, host: ExtensionHost) -> None:
    count = len(hub.connections)
    await hub.close_current(1008, "agent token revoked")
    status = await state(host, "revoked")
    assert status["message"] == "Token revoked"
    await asyncio.sleep(1.0)
    assert len(hub.connections) == count and hub.refused == 0  # no attempt at all

    assert await host.connect(hub.url, hub.token) == "Connected"
    await hub.wait_connected(after=count)


async def test_a_token_refused_on_reconnect_is_reported_once(
    hub: SeedHub, host: ExtensionHost
) -> None:
    refused = hub.refused
    hub.token = secrets.token_hex(32)  # rotated while the socket was down
    await hub.close_current(1011)
    status = await state(host, "error")
    assert status["message"] == "Invalid token"
    assert hub.refused == refused + 1
    await asyncio.sleep(1.0)
    assert hub.refused == refused + 1  # it stopped trying


async def test_replaced_by_another_browser_it_does_not_fight_back(
    hub: SeedHub, host: ExtensionHost
) -> None:
    count = len(hub.connections)
    await hub.close_current(4001, "replaced by a newer connection")
    status = await state(host, "error")
    assert "Another browser" in status["message"]
    await asyncio.sleep(1.0)
    assert len(hub.connections) == count


async def test_popup_shows_a_refused_token_and_does_not_connect(
    hub: SeedHub, host: ExtensionHost
) -> None:
    count, refused = len(hub.connections), hub.refused
    async with host.popup() as popup:
        await connect_popup(popup, hub.url, "0" * 64)
        assert await wait_status(popup, "error") == "Error: Invalid token"
        assert hub.heartbeats[-1] == {"token": "0" * 64, "version": VERSION}
        # The open socket is untouched and nothing was saved.
        assert hub.current is not None and len(hub.connections) == count
        assert hub.refused == refused
        await connect_popup(popup, hub.url, hub.token)
        assert await wait_status(popup, "connected") == "Connected"
