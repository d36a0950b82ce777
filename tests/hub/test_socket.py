"""The hub's socket and the agent behind it: admission by token, online/offline and
extensionVersion, lastSeenAt and the stale sweep, and the ways the server closes the
socket (token rotated, agent deleted, replaced by a newer one)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update
from sqlmodel import col
from websockets.exceptions import InvalidStatus

from api.db.models import Agent
from api.hub import HubExecutor
from flows.commands import Evaluate
from tests.fixtures.extension import FakeExtension
from tests.helpers import Account
from tests.hub.conftest import Server, StartServer, eventually, status_is, timings


async def refused(url: str) -> tuple[int, dict[str, object]]:
    with pytest.raises(InvalidStatus) as caught:
        await FakeExtension(url).connect()
    response = caught.value.response
    return response.status_code, json.loads(response.body or b"{}")


async def test_a_missing_or_invalid_token_is_refused_with_401_before_the_upgrade(
    server: Server, alice: Account
) -> None:
    assert await refused(server.socket_url(None)) == (
        401,
        {"success": False, "error": "token is required"},
    )
    assert await refused(server.socket_url("0" * 64)) == (
        401,
        {"success": False, "error": "Invalid token"},
    )
    assert (await refused(server.socket_url("short")))[0] == 401

    agent_id, token = await server.new_agent(alice)
    await server.http.delete(f"/api/agents/{agent_id}", headers=alice.headers)
    assert (await refused(server.socket_url(token)))[0] == 401


async def test_connecting_marks_the_agent_online_and_stores_the_version(
    server: Server, alice: Account
) -> None:
    agent_id, token = await server.new_agent(alice)
    assert (await server.agent(alice, agent_id))["status"] == "offline"

    async with server.extension(token, version="0.2.1") as extension:
        agent = await server.agent(alice, agent_id)
        assert agent["status"] == "online"
        assert agent["extensionVersion"] == "0.2.1"
        seen = datetime.fromisoformat(agent["lastSeenAt"].replace("Z", "+00:00"))
        assert datetime.now(UTC) - seen < timedelta(seconds=10)

        # A hello may bring a newer version; it is stored too.
        await extension.send({"type": "hello", "version": "0.2.2"})

        async def version() -> bool:
            return (await server.agent(alice, agent_id))["extensionVersion"] == "0.2.2"

        await eventually(version)

    # A clean close takes the agent offline.
    await eventually(lambda: status_is(server, alice, agent_id, "offline"))


async def test_rotating_the_token_closes_the_socket_with_1008(
    server: Server, alice: Account
) -> None:
    agent_id, token = await server.new_agent(alice)
    async with server.extension(token) as extension:
        response = await server.http.post(
            f"/api/agents/{agent_id}/token",
            headers=alice.headers,
            json={"password": alice.password},
        )
        assert response.status_code == 200, response.text
        assert await extension.wait_closed() == 1008
    assert (await refused(server.socket_url(token)))[0] == 401
    async with server.extension(response.json()["token"]) as renewed:
        await asyncio.sleep(0.05)
        assert not renewed.is_closed
        assert server.hub.connection(agent_id) is not None


async def test_deleting_the_agent_closes_the_socket_with_1008(
    server: Server, alice: Account
) -> None:
    agent_id, token = await server.new_agent(alice)
    async with server.extension(token) as extension:
        response = await server.http.delete(f"/api/agents/{agent_id}", headers=alice.headers)
        assert response.status_code == 200, response.text
        assert await extension.wait_closed() == 1008
    assert server.hub.connection(agent_id) is None


async def test_a_new_connection_replaces_the_old_one(server: Server, alice: Account) -> None:
    agent_id, token = await server.new_agent(alice)
    async with server.extension(token) as first, server.extension(token) as second:
        assert await first.wait_closed() == 4001
        connection = server.hub.connection(agent_id)
        assert connection is not None
        running = asyncio.create_task(HubExecutor(connection).run(Evaluate(expression="1")))
        await second.result((await second.next_command())["id"], data={"result": 1})
        assert await running == {"result": 1}
        # The replaced socket's close does not take the agent offline.
        await asyncio.sleep(0.1)
        assert (await server.agent(alice, agent_id))["status"] == "online"


async def test_socket_traffic_refreshes_last_seen_at(server: Server, alice: Account) -> None:
    agent_id, token = await server.new_agent(alice)
    async with server.extension(token) as extension:
        long_ago = datetime.now(UTC) - timedelta(hours=1)
        with server.context.db.unit() as session:
            backdate = update(Agent).where(col(Agent.id) == agent_id)
            session.execute(backdate.values(last_seen_at=long_ago))
        await asyncio.sleep(0.3)  # no traffic: nothing written
        assert (await server.agent(alice, agent_id))["lastSeenAt"].startswith(
            long_ago.strftime("%Y-%m-%dT%H")
        )

        await extension.send({"type": "pong"})

        async def refreshed() -> bool:
            seen = (await server.agent(alice, agent_id))["lastSeenAt"]
            return datetime.now(UTC) - datetime.fromisoformat(seen) < timedelta(seconds=10)

        await eventually(refreshed)


async def test_the_stale_sweep_sets_unseen_extension_agents_offline(
    start_server: StartServer, alice: Account
) -> None:
    quick = timings(sweep_interval_s=0.1, stale_after_s=1.0, ping_interval_s=0.1)
    async with start_server(quick) as server:
        gone, gone_token = await server.new_agent(alice)
        paused, paused_token = await server.new_agent(alice)
        runner, runner_token = await server.new_agent(alice, executor="runner")
        connected, connected_token = await server.new_agent(alice)
        for token in (gone_token, paused_token, runner_token):
            response = await server.http.post(
                "/api/extension/heartbeat", json={"token": token, "version": "0.2.1"}
            )
            assert response.json()["agent"]["status"] == "online"
        await server.http.patch(
            f"/api/agents/{paused}", headers=alice.headers, json={"status": "paused"}
        )
        async with server.extension(connected_token):

            async def swept() -> bool:
                return (await server.agent(alice, gone))["status"] == "offline"

            await eventually(swept)
            await asyncio.sleep(0.3)  # longer than stale_after_s since connecting
            assert (await server.agent(alice, paused))["status"] == "paused"
            assert (await server.agent(alice, runner))["status"] == "online"
            assert (await server.agent(alice, connected))["status"] == "online"
