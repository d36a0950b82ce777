"""Several API processes (two servers with their own hubs and contexts, one database,
one Redis): wake-ups, revocations and replacements reach the process that holds the
socket, and ``agent_offline`` means offline everywhere."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from api.config import Settings
from api.context import AppContext
from tests.helpers import Account
from tests.hub.conftest import Server, StartServer, refuse_screenshot


@asynccontextmanager
async def two_processes(
    start_server: StartServer, settings: Settings, redis_url: str
) -> AsyncIterator[tuple[Server, Server]]:
    other = AppContext.create(settings, migrate=False)
    try:
        async with (
            start_server(redis_url=redis_url) as first,
            start_server(redis_url=redis_url, app_context=other) as second,
        ):
            yield first, second
    finally:
        other.db.dispose()


async def test_a_task_dispatched_through_one_process_runs_on_the_socket_of_another(
    start_server: StartServer, settings: Settings, redis_url: str, alice: Account
) -> None:
    async with two_processes(start_server, settings, redis_url) as (first, second):
        agent_id, token = await first.new_agent(alice, platforms=("twitter",))
        async with second.extension(token) as extension:
            assert second.hub.connection(agent_id) is not None
            task_id = await first.dispatch(alice, agent_id)
            command = await extension.next_command(timeout_s=5)
            assert command["cmd"] == "navigate"
            assert (await first.task(alice, task_id))["status"] == "running"
            await extension.result(command["id"], ok=False, error="not found: no composer")
            await refuse_screenshot(extension)
            task = await first.wait_task(alice, task_id)
            assert task["status"] == "failed" and task["errorCode"] != "agent_offline"

            # The first process's reconciler leaves the agent to the process holding it.
            second_task = await first.dispatch(alice, agent_id)
            command = await extension.next_command(timeout_s=5)
            await asyncio.sleep(0.5)
            assert (await first.task(alice, second_task))["status"] == "running"
            await extension.result(command["id"], ok=False, error="boom")
            await refuse_screenshot(extension)
            assert (await first.wait_task(alice, second_task))["status"] == "failed"


async def test_with_no_socket_anywhere_the_task_fails_agent_offline(
    start_server: StartServer, settings: Settings, redis_url: str, alice: Account
) -> None:
    async with two_processes(start_server, settings, redis_url) as (first, _):
        agent_id, _ = await first.new_agent(alice, platforms=("twitter",))
        task = await first.wait_task(alice, await first.dispatch(alice, agent_id), timeout_s=5)
        assert task["status"] == "failed"
        assert task["errorCode"] == "agent_offline"


async def test_rotating_the_token_in_one_process_closes_the_socket_in_another(
    start_server: StartServer, settings: Settings, redis_url: str, alice: Account
) -> None:
    async with two_processes(start_server, settings, redis_url) as (first, second):
        agent_id, token = await first.new_agent(alice)
        async with second.extension(token) as extension:
            response = await first.http.post(
                f"/api/agents/{agent_id}/token",
                headers=alice.headers,
                json={"password": alice.password},
            )
            assert response.status_code == 200, response.text
            assert await extension.wait_closed() == 1008


async def test_a_socket_in_another_process_replaces_the_old_one(
    start_server: StartServer, settings: Settings, redis_url: str, alice: Account
) -> None:
    async with two_processes(start_server, settings, redis_url) as (first, second):
        agent_id, token = await first.new_agent(alice)
        async with first.extension(token) as old, second.extension(token):
            assert await old.wait_closed() == 4001
            await asyncio.sleep(0.1)
            assert first.hub.connection(agent_id) is None
            assert second.hub.connection(agent_id) is not None
            assert (await first.agent(alice, agent_id))["status"] == "online"
