"""What every executor (a runner's browser pool, the hub's extension sockets) does around
a claimed task's flow: keep its lease, cap its outreach, record its outcome and attach a
screenshot of the failing step; and how each recovers the tasks of an executor that
died. The executors differ only in how they drive the page."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from api import artifacts
from api.context import AppContext
from api.db.models import TaskStatus
from api.services import execution
from api.services.execution import TaskRun
from api.task_sink import DbSink
from flows.engine import FlowOutcome

log = logging.getLogger(__name__)

_STATUS = {
    "completed": TaskStatus.completed,
    "failed": TaskStatus.failed,
    "cancelled": TaskStatus.cancelled,
}


async def recover_stale(context: AppContext, executor: str) -> list[tuple[str, str]]:
    """Requeue (or verify) the in-flight tasks of ``executor`` agents whose executor
    stopped heartbeating for ``task_stale_s``; ``(agent_id, task_id)`` of each. A read
    looks first, so that the usual answer (none) takes no write lock."""
    stale_after_s = context.settings.task_stale_s
    found = await context.db.run(
        partial(execution.any_stale, stale_after_s=stale_after_s, executor=executor),
        write=False,
    )
    if not found:
        return []
    return await context.db.run(
        partial(execution.recover_stale, stale_after_s=stale_after_s, executor=executor),
        write=True,
    )


async def keep_lease(context: AppContext, run: TaskRun, sink: DbSink) -> None:
    """Renew the task's lease every ``runner_heartbeat_s``; on losing it, make the flow
    stop before its next command."""
    interval = context.settings.runner_heartbeat_s
    while True:
        await asyncio.sleep(interval)
        try:
            held = await context.db.run(
                lambda s: execution.heartbeat(s, run.task_id, run.lease_token), write=True
            )
        except Exception as error:  # the database may be briefly unreachable
            log.warning("heartbeat of %s failed: %s", run.task_id, error)
            continue
        if not held:
            sink.stop_reason = sink.stop_reason or "lease_lost"
            return


async def paced_params(context: AppContext, run: TaskRun) -> dict[str, Any]:
    """The task's params, with a group post capped at the agent's remaining daily
    outreach: the groups past it are logged ``skipped``."""
    if run.action != "post-to-groups":
        return run.params
    budget = await context.db.run(
        lambda s: execution.outreach_budget(s, run.agent_id, run.config or {}), write=False
    )
    if budget is None:
        return run.params
    wanted = int(run.params.get("maxGroups", 5))
    return {**run.params, "maxGroups": max(1, min(wanted, budget))}


async def finish(context: AppContext, run: TaskRun, outcome: FlowOutcome) -> None:
    """Persist the flow's outcome (fenced by the task's lease token)."""
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
            lease_token=run.lease_token,
        ),
        write=True,
    )


async def attach_screenshot(
    context: AppContext, run: TaskRun, take: Callable[[], Awaitable[bytes | None]]
) -> None:
    """A PNG from ``take`` (None: none could be had), saved and linked from the task's
    last error entry."""
    index = await context.db.run(lambda s: execution.last_error_index(s, run.task_id), write=False)
    if index is None:
        return
    png = await take()
    if png is None:
        return
    path = artifacts.screenshot_path(context.settings.artifacts_dir, run.task_id, index)
    path.parent.mkdir(parents=True, exist_ok=True)
    await asyncio.to_thread(path.write_bytes, png)
    url = f"/api/tasks/{run.task_id}/steps/{index}/screenshot"
    await context.db.run(
        lambda s: execution.set_log_data(s, run.task_id, index, {"screenshot": url}), write=True
    )
