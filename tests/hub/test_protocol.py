"""The frames between the hub and an extension: keepalive, idle timeout, commands and
their results, time limits, a dropped socket. The database plays no part here, so these
run on SQLite only."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from starlette.testclient import WebSocketDenialResponse

from api.hub import HubExecutor
from flows.commands import Click, Evaluate, Navigate
from flows.executor import CommandError, CommandTimeout, Disconnected, ElementNotFound
from tests.helpers import Account
from tests.hub.conftest import Server, StartServer, eventually, status_is, timings


@pytest.fixture
def database_url(tmp_path: Path, sqlite_template: Path) -> Iterator[str]:
    path = tmp_path / "bredgio.db"
    shutil.copyfile(sqlite_template, path)
    yield f"sqlite:///{path}"


async def test_the_server_pings_and_a_client_that_answers_stays_connected(
    start_server: StartServer, alice: Account
) -> None:
    async with start_server(timings(ping_interval_s=0.1, idle_timeout_s=0.35)) as server:
        _, token = await server.new_agent(alice)
        async with server.extension(token) as extension:
            await asyncio.sleep(0.8)
            assert not extension.is_closed
            assert extension.pings >= 3
            assert {"type": "ping"} in extension.frames

            # A client may ping too (an MV3 service worker keeping itself alive).
            await extension.send({"type": "ping"})
            await eventually(lambda: {"type": "pong"} in extension.frames)


async def test_a_socket_idle_past_the_limit_is_closed(
    start_server: StartServer, alice: Account
) -> None:
    async with start_server(timings(ping_interval_s=0.1, idle_timeout_s=0.4)) as server:
        agent_id, token = await server.new_agent(alice)
        async with server.extension(token, answer_pings=False) as extension:
            started = asyncio.get_running_loop().time()
            assert await extension.wait_closed() == 4000
            assert asyncio.get_running_loop().time() - started < 3.0
            assert extension.pings >= 2
        await eventually(lambda: status_is(server, alice, agent_id, "offline"))


async def test_results_are_matched_to_concurrent_commands_by_id(
    server: Server, alice: Account
) -> None:
    agent_id, token = await server.new_agent(alice)
    async with server.extension(token) as extension:
        connection = server.hub.connection(agent_id)
        assert connection is not None
        executor = HubExecutor(connection)
        running = [
            asyncio.create_task(executor.run(Evaluate(expression=f"{n} * 2"))) for n in range(3)
        ]
        commands = [await extension.next_command() for _ in range(3)]
        assert [c["cmd"] for c in commands] == ["evaluate"] * 3
        assert len({c["id"] for c in commands}) == 3
        assert all(set(c) == {"type", "id", "cmd", "args"} for c in commands)

        # Unknown ids and unknown frame types are ignored.
        await extension.result("no-such-command", data={"result": -1})
        await extension.send({"type": "telemetry", "whatever": 1})
        for command in reversed(commands):
            n = int(command["args"]["expression"].split()[0])
            await extension.result(command["id"], data={"result": n * 2})
        assert await asyncio.gather(*running) == [{"result": n * 2} for n in range(3)]


async def test_failed_results_become_the_flows_command_errors(
    server: Server, alice: Account
) -> None:
    agent_id, token = await server.new_agent(alice)
    async with server.extension(token) as extension:
        connection = server.hub.connection(agent_id)
        assert connection is not None
        executor = HubExecutor(connection)
        cases = [
            ("not found: no element matches #post", ElementNotFound, "command_timeout"),
            ("timeout: navigation did not finish in 30 s", CommandTimeout, "command_timeout"),
            ("Cannot access a chrome:// URL", CommandError, "command_failed"),
        ]
        for error, kind, code in cases:
            running = asyncio.create_task(executor.run(Click(selectors=["#post"])))
            command = await extension.next_command()
            assert command["args"] == {"selectors": ["#post"], "timeoutMs": 10000}
            await extension.result(command["id"], ok=False, error=error)
            with pytest.raises(CommandError) as caught:
                await running
            assert type(caught.value) is kind
            assert caught.value.message == error and caught.value.code == code

        running = asyncio.create_task(executor.run(Navigate(url="http://example.test/")))
        await extension.result((await extension.next_command())["id"])  # no data
        assert await running == {}


async def test_a_command_without_a_result_fails_at_the_time_limit(
    start_server: StartServer, alice: Account
) -> None:
    async with start_server(timings(command_timeout_s=0.3)) as server:
        agent_id, token = await server.new_agent(alice)
        async with server.extension(token) as extension:
            connection = server.hub.connection(agent_id)
            assert connection is not None
            started = asyncio.get_running_loop().time()
            with pytest.raises(CommandTimeout, match=r"^timeout"):
                await HubExecutor(connection).run(Evaluate(expression="1"))
            assert 0.3 <= asyncio.get_running_loop().time() - started < 3.0

            # A late result is dropped; the socket still works.
            late = await extension.next_command()
            await extension.result(late["id"], data={"result": 1})
            running = asyncio.create_task(HubExecutor(connection).run(Evaluate(expression="2")))
            await extension.result((await extension.next_command())["id"], data={"result": 2})
            assert await running == {"result": 2}
            assert connection.pending_commands == 0


async def test_waiting_commands_fail_disconnected_when_the_socket_drops(
    server: Server, alice: Account
) -> None:
    agent_id, token = await server.new_agent(alice)
    extension = server.extension(token)
    await extension.connect()
    connection = server.hub.connection(agent_id)
    assert connection is not None
    running = asyncio.create_task(HubExecutor(connection).run(Evaluate(expression="1")))
    await extension.next_command()
    await extension.close()
    with pytest.raises(Disconnected, match=r"^disconnected") as caught:
        await running
    assert caught.value.code == "disconnected"
    with pytest.raises(Disconnected):
        await HubExecutor(connection).run(Evaluate(expression="1"))


def test_an_app_without_the_hub_refuses_sockets_with_503(client: TestClient) -> None:
    url = "/api/social-agents/ws?token=" + "0" * 64
    with pytest.raises(WebSocketDenialResponse) as caught, client.websocket_connect(url):
        pass
    assert caught.value.status_code == 503
    assert caught.value.json() == {"success": False, "error": "The hub is not running"}
