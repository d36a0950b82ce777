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
from typing import TypeVar

from sqlmodel import Session

from api import task_run
from api.context import AppContext
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
                heartbeat = asyncio.create_task(task_run.keep_lease(self.context, run, sink))
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
            await task_run.finish(self.context, run, outcome)
            log.info("task %s of agent %s: %s", run.task_id, run.agent_id, outcome.status)

    async def _run_flow(
        self, run: TaskRun, connection: AgentConnection, sink: DbSink
    ) -> FlowOutcome:
        flow = verify_flow if run.passed_point_of_no_return else run_flow
        return await flow(
            run.action,
            run.platform,
            await task_run.paced_params(self.context, run),
            HubExecutor(connection),
            sink,
            self.origins,
            timeout_s=float(run.timeout_sec),
            timeout_code="task_timeout",
        )

    async def _hand_back(self, run: TaskRun) -> None:
        await self._db(lambda s: execution.hand_back_claimed(s, run.task_id, run.lease_token))
        log.info("task %s of agent %s handed back", run.task_id, run.agent_id)

    async def _screenshot(self, run: TaskRun, connection: AgentConnection) -> None:
        """A PNG of the extension's tab, linked from the task's last error entry."""

        async def take() -> bytes | None:
            try:
                async with asyncio.timeout(SCREENSHOT_TIMEOUT_S):
                    data = await HubExecutor(connection).run(Screenshot(format="png"))
                return _png_from_data_uri(str(data.get("dataUri", "")))
            except (CommandError, TimeoutError, ValueError) as error:
                log.info("no failure screenshot for %s: %s", run.task_id, error)
                return None

        await task_run.attach_screenshot(self.context, run, take)


def _png_from_data_uri(uri: str) -> bytes:
    prefix = "data:image/png;base64,"
    if not uri.startswith(prefix):
        raise ValueError("the screenshot is not a PNG data URI")
    try:
        return base64.b64decode(uri.removeprefix(prefix), validate=True)
    except binascii.Error as error:
        raise ValueError(f"the screenshot is not valid base64: {error}") from None
