"""Running one claimed task of an extension agent: the flow through a
:class:`HubExecutor` on the agent's socket, the step log through :class:`DbSink`, and
the outcome persisted. The hub's counterpart of ``runner/execute.py``."""

from __future__ import annotations

import asyncio
import logging

from api.context import AppContext
from api.db.models import TaskStatus
from api.hub.connection import AgentConnection
from api.hub.executor import HubExecutor
from api.services import execution
from api.services.execution import TaskRun
from api.task_sink import DbSink
from flows.context import Origins
from flows.engine import FlowOutcome, run_flow, verify_flow

log = logging.getLogger(__name__)

_STATUS = {
    "completed": TaskStatus.completed,
    "failed": TaskStatus.failed,
    "cancelled": TaskStatus.cancelled,
}

SHUTDOWN_MESSAGE = "disconnected: the API server stopped while the task ran"


async def execute(context: AppContext, run: TaskRun, connection: AgentConnection) -> None:
    """Run one claimed (``running``) task to its end on ``connection``."""
    site = context.settings.site_origins
    origins = Origins(facebook=site.facebook, twitter=site.twitter)
    flow = verify_flow if run.passed_point_of_no_return else run_flow
    try:
        async with DbSink(context, run) as sink:
            outcome = await flow(
                run.action,
                run.platform,
                run.params,
                HubExecutor(connection),
                sink,
                origins,
                timeout_s=float(run.timeout_sec),
            )
    except asyncio.CancelledError:
        # The hub is stopping: end the task rather than leave it running forever.
        outcome = FlowOutcome("failed", None, "disconnected", SHUTDOWN_MESSAGE)
        await asyncio.shield(_finish(context, run, outcome))
        raise
    await _finish(context, run, outcome)


async def _finish(context: AppContext, run: TaskRun, outcome: FlowOutcome) -> None:
    status = _STATUS[outcome.status]
    failed = status == TaskStatus.failed
    await context.db.run(
        lambda s: execution.finish(
            s,
            run.task_id,
            status,
            result=outcome.result,
            error_code=outcome.error_code if failed else None,
            error_message=outcome.error_message if failed else None,
        ),
        write=True,
    )
    log.info("task %s of agent %s: %s", run.task_id, run.agent_id, outcome.status)
