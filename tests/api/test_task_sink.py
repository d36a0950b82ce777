"""The running task's sink: one process-wide watch notices cancelled tasks."""

from __future__ import annotations

import asyncio

from fastapi.testclient import TestClient

from api.context import AppContext
from api.services import execution
from api.services.execution import TaskRun
from api.task_sink import STOP_POLL_S, DbSink
from flows.sink import LogEntry
from tests.helpers import Account, eventually


def running_task(client: TestClient, context: AppContext, account: Account, n: int) -> TaskRun:
    agent = client.post("/api/agents", headers=account.headers, json={"name": f"a{n}"})
    agent_id = agent.json()["agent"]["agentId"]
    response = client.post(
        f"/api/agents/{agent_id}/command",
        headers=account.headers,
        json={"action": "post", "platform": "twitter", "params": {"content": f"post {n}"}},
    )
    assert response.status_code == 200, response.text
    with context.db.unit() as session:
        run = execution.claim(session, agent_id, start=True).run
    assert run is not None
    return run


def test_one_watch_notices_each_cancelled_task(
    client: TestClient, context: AppContext, alice: Account
) -> None:
    runs = [running_task(client, context, alice, n) for n in range(6)]
    cancelled = {runs[1].task_id, runs[4].task_id}

    async def scenario() -> None:
        sinks = [DbSink(context, run) for run in runs]
        for sink in sinks:
            await sink.__aenter__()
        watchers = [t for t in asyncio.all_tasks() if t.get_name() == "cancel-watch"]
        assert len(watchers) == 1, "six running tasks share one watch"

        for task_id in cancelled:
            response = client.post(f"/api/tasks/{task_id}/cancel", headers=alice.headers)
            assert response.status_code == 200, response.text
        stopped = [s for s in sinks if s.run.task_id in cancelled]
        await eventually(lambda: all(s.stop_reason == "cancelled" for s in stopped))
        await asyncio.sleep(3 * STOP_POLL_S)
        assert {s.run.task_id for s in sinks if await s.should_stop()} == cancelled

        for sink in sinks:
            await sink.__aexit__(None, None, None)
        # With no sink open the watch ends; the next sink starts it again.
        await eventually(lambda: watchers[0].done(), timeout_s=2 * STOP_POLL_S + 1)
        again = DbSink(context, runs[0])
        async with again:
            assert [t for t in asyncio.all_tasks() if t.get_name() == "cancel-watch"]

    asyncio.run(scenario())


def test_log_entries_and_the_step_are_written_in_order(
    client: TestClient, context: AppContext, alice: Account
) -> None:
    run = running_task(client, context, alice, 0)

    async def scenario() -> None:
        async with DbSink(context, run) as sink:
            await sink.current_step("navigate")
            for n in range(5):
                await sink.log(LogEntry("navigate", "info", f"entry {n}", {"n": n, "ü": "✓"}, None))
            await sink.current_step("submit")
            await sink.log(LogEntry("submit", "error", "boom", None, "x_unknown"))
            await sink.flush()
            task = client.get(f"/api/tasks/{run.task_id}", headers=alice.headers).json()["task"]
            assert task["currentStep"] == "submit"
            assert [(e["step"], e["status"], e["message"]) for e in task["log"]] == [
                *[("navigate", "info", f"entry {n}") for n in range(5)],
                ("submit", "error", "boom"),
            ]
            assert task["log"][3]["data"] == {"n": 3, "ü": "✓"}
            assert task["log"][5]["errorCode"] == "x_unknown"

    asyncio.run(scenario())
