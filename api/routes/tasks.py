"""Tasks: list and detail with the step log."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import FileResponse
from sqlalchemy import Connection

from api import artifacts
from api.deps import ContextDep, CurrentUser, HotCallDep, SessionDep, authenticate_ref
from api.errors import NotFound
from api.schemas.common import model_response
from api.schemas.tasks import (
    DispatchResponse,
    TaskDetail,
    TaskDetailResponse,
    TaskListResponse,
    TaskResponse,
)
from api.services import tasks as task_service

router = APIRouter(tags=["tasks"])
# Registered before every other router (clients poll this route in loops).
hot_router = APIRouter(tags=["tasks"])


@router.get("/api/tasks", response_model=TaskListResponse)
def list_tasks(
    user: CurrentUser,
    session: SessionDep,
    agentId: str | None = None,
    status: str | None = None,
    limit: str | None = None,
) -> TaskListResponse:
    """The caller's tasks, newest first. ``limit`` defaults to 50, at most 200."""
    tasks = task_service.list_tasks(
        session,
        user,
        agent_id=agentId,
        status=task_service.parse_status(status),
        limit=task_service.parse_limit(
            limit, task_service.DEFAULT_LIST_LIMIT, task_service.MAX_LIST_LIMIT
        ),
    )
    return TaskListResponse(tasks=[task_service.to_public(t) for t in tasks])


@hot_router.get("/api/tasks/{task_id}", response_model=TaskDetailResponse)
async def get_task(task_id: str, call: HotCallDep) -> Response:
    """One task with its params and full step log."""

    # Polled in loops by clients: one transaction, one trip to the thread pool.
    context, credentials = call.context, call.credentials

    def work(connection: Connection) -> TaskDetail:
        caller = authenticate_ref(connection, context, credentials)
        return task_service.detail_core(connection, caller, task_id)

    return model_response(TaskDetailResponse(task=await context.db.run_core(work, write=False)))


@router.post("/api/tasks/{task_id}/cancel", response_model=TaskResponse)
def cancel_task(task_id: str, user: CurrentUser, session: SessionDep) -> TaskResponse:
    """Cancel a pending or running task. A running task stops before its next command;
    one that is already publishing finishes and reports (409)."""
    return TaskResponse(task=task_service.to_public(task_service.cancel(session, user, task_id)))


@router.delete("/api/tasks/{task_id}", response_model=TaskResponse)
def delete_task(task_id: str, user: CurrentUser, session: SessionDep) -> TaskResponse:
    """Same as ``POST /api/tasks/:id/cancel`` (the task and its log are kept)."""
    return TaskResponse(task=task_service.to_public(task_service.cancel(session, user, task_id)))


@router.post("/api/tasks/{task_id}/retry", response_model=DispatchResponse)
def retry_task(
    task_id: str, user: CurrentUser, session: SessionDep, context: ContextDep
) -> DispatchResponse:
    """Dispatch a new task with the same agent, action, platform, params and timeout."""
    return DispatchResponse(task=task_service.retry(session, context, user, task_id))


@router.get("/api/tasks/{task_id}/trace", response_class=FileResponse)
def get_trace(
    task_id: str, user: CurrentUser, session: SessionDep, context: ContextDep
) -> FileResponse:
    """The task's Playwright trace (open it with ``playwright show-trace trace.zip``)."""
    task = task_service.get_owned(session, user, task_id)
    path = artifacts.trace_path(context.settings.artifacts_dir, task.id)
    if not path.is_file():
        raise NotFound("This task has no trace (yet)")
    return FileResponse(path, media_type="application/zip", filename=f"trace-{task.id}.zip")


@router.get("/api/tasks/{task_id}/steps/{index}/screenshot", response_class=FileResponse)
def get_step_screenshot(
    task_id: str, index: int, user: CurrentUser, session: SessionDep, context: ContextDep
) -> FileResponse:
    """PNG of the page at the failing step ``index`` (0-based position in ``log``)."""
    task = task_service.get_owned(session, user, task_id)
    path = artifacts.screenshot_path(context.settings.artifacts_dir, task.id, index)
    if index < 0 or not path.is_file():
        raise NotFound("No screenshot for this step")
    return FileResponse(path, media_type="image/png")
