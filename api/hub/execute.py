"""Running the tasks of extension agents: claim the agent's next task, run its flow
through a :class:`HubExecutor` on the agent's socket with the step log in a
:class:`DbSink`, keep the task's lease alive meanwhile, and persist the outcome (with a
screenshot of the failing step). The hub's counterpart of ``runner/execute.py``."""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import os
import socket
from collections.abc import Callable
from typing import Any, TypeVar

from sqlmodel import Session

from api import artifacts
from api.context import AppContext
from api.db.models import TaskStatus
from api.hub import service
from api.hub.connection import AgentConnection
from api.hub.executor import HubExecutor
from api.hub.protocol import CLOSE_GOING_AWAY
from api.services import execution
from api.services.execution import Claim, TaskRun
from api.task_sink import DbSink
from flows.commands import Screenshot
from flows.context import Origins
from flows.engine import FlowOutcome, run_flow, verify_flow
from flows.executor import CommandError

log = logging.getLogger(__name__)
T = TypeVar("T")

_STATUS = {
    "completed": TaskStatus.completed,
    "failed": TaskStatus.failed,
    "cancelled": TaskStatus.cancelled,
}

#: Close codes meaning the server, not the extension, went away (uvicorn's shutdown
#: sends 1012): a task cut off by them is handed back, not failed.
SERVER_GOING_AWAY = frozenset({CLOSE_GOING_AWAY, 1012})
#: How long the failure screenshot may take.
SCREENSHOT_TIMEOUT_S = 10.0


class ExtensionTasks:
    """Claims and runs the tasks of extension agents for one hub."""

    def __init__(self, context: AppContext, instance_id: str) -> None:
        self.context = context
        self.runner_id = f"hub:{socket.gethostname()}:{os.getpid()}:{instance_id[:8]}"
        site = context.settings.site_origins
        self.origins = Origins(facebook=site.facebook, twitter=site.twitter)

    async def _db(self, work: Callable[[Session], T], *, write: bool = True) -> T:
        return await self.context.db.run(work, write=write)

    async def claim(self, agent_id: str) -> Claim:
        """Claim and start the agent's next task (or learn when it may start)."""
        return await self._db(lambda s: service.claim(s, agent_id, self.runner_id))

    async def execute(self, run: TaskRun, connection: AgentConnection) -> None:
        """Run one claimed (``running``) task to its end on ``connection``."""
        try:
            async with DbSink(self.context, run) as sink:
                heartbeat = asyncio.create_task(self._heartbeat(run, sink))
                try:
                    outcome = await self._run_flow(run, connection, sink)
                    if outcome.status == "failed" and not connection.closed:
                        await sink.flush()
                        await self._screenshot(run, connection)
                finally:
                    heartbeat.cancel()
        except asyncio.CancelledError:
            # The hub is stopping: hand the task back; past its point of no return it
            # keeps the mark, so whoever takes it next verifies instead of posting.
            await asyncio.shield(self._hand_back(run))
            raise
        if sink.stop_reason == "lease_lost":
            log.warning("lost the lease of %s; leaving it to its new owner", run.task_id)
        elif outcome.error_code == "disconnected" and connection.close_code in SERVER_GOING_AWAY:
            await self._hand_back(run)
        else:
            await self._finish(run, outcome)

    async def _run_flow(
        self, run: TaskRun, connection: AgentConnection, sink: DbSink
    ) -> FlowOutcome:
        flow = verify_flow if run.passed_point_of_no_return else run_flow
        return await flow(
            run.action,
            run.platform,
            await self._paced_params(run),
            HubExecutor(connection),
            sink,
            self.origins,
            timeout_s=float(run.timeout_sec),
            timeout_code="task_timeout",
        )

    async def _paced_params(self, run: TaskRun) -> dict[str, Any]:
        """Cap a group post at the agent's remaining daily outreach (as runners do)."""
        if run.action != "post-to-groups":
            return run.params
        budget = await self._db(
            lambda s: execution.outreach_budget(s, run.agent_id, run.config or {}), write=False
        )
        if budget is None:
            return run.params
        wanted = int(run.params.get("maxGroups", 5))
        return {**run.params, "maxGroups": max(1, min(wanted, budget))}

    async def _heartbeat(self, run: TaskRun, sink: DbSink) -> None:
        """Renew the task's lease; on losing it, stop before the next command."""
        interval = self.context.settings.runner_heartbeat_s
        while True:
            await asyncio.sleep(interval)
            try:
                held = await self._db(
                    lambda s: execution.heartbeat(s, run.task_id, run.lease_token)
                )
            except Exception as error:  # the database may be briefly unreachable
                log.warning("heartbeat of %s failed: %s", run.task_id, error)
                continue
            if not held:
                sink.stop_reason = sink.stop_reason or "lease_lost"
                return

    async def _finish(self, run: TaskRun, outcome: FlowOutcome) -> None:
        status = _STATUS[outcome.status]
        failed = status == TaskStatus.failed
        await self._db(
            lambda s: execution.finish(
                s,
                run.task_id,
                status,
                result=outcome.result,
                error_code=outcome.error_code if failed else None,
                error_message=outcome.error_message if failed else None,
                lease_token=run.lease_token,
            )
        )
        log.info("task %s of agent %s: %s", run.task_id, run.agent_id, outcome.status)

    async def _hand_back(self, run: TaskRun) -> None:
        await self._db(lambda s: execution.hand_back_claimed(s, run.task_id, run.lease_token))
        log.info("task %s of agent %s handed back", run.task_id, run.agent_id)

    async def _screenshot(self, run: TaskRun, connection: AgentConnection) -> None:
        """A PNG of the extension's tab, linked from the task's last error entry."""
        index = await self._db(lambda s: execution.last_error_index(s, run.task_id))
        if index is None:
            return
        try:
            async with asyncio.timeout(SCREENSHOT_TIMEOUT_S):
                data = await HubExecutor(connection).run(Screenshot(format="png"))
            png = _png_from_data_uri(str(data.get("dataUri", "")))
        except (CommandError, TimeoutError, ValueError) as error:
            log.info("no failure screenshot for %s: %s", run.task_id, error)
            return
        path = artifacts.screenshot_path(self.context.settings.artifacts_dir, run.task_id, index)
        path.parent.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(path.write_bytes, png)
        url = f"/api/tasks/{run.task_id}/steps/{index}/screenshot"
        await self._db(lambda s: execution.set_log_data(s, run.task_id, index, {"screenshot": url}))


def _png_from_data_uri(uri: str) -> bytes:
    prefix = "data:image/png;base64,"
    if not uri.startswith(prefix):
        raise ValueError("the screenshot is not a PNG data URI")
    try:
        return base64.b64decode(uri.removeprefix(prefix), validate=True)
    except binascii.Error as error:
        raise ValueError(f"the screenshot is not valid base64: {error}") from None
