"""Tasks: list and detail with the step log."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import CurrentUser, SessionDep
from api.schemas.tasks import TaskDetailResponse, TaskListResponse
from api.services import tasks as task_service

router = APIRouter(tags=["tasks"])


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


@router.get("/api/tasks/{task_id}", response_model=TaskDetailResponse)
def get_task(task_id: str, user: CurrentUser, session: SessionDep) -> TaskDetailResponse:
    """One task with its params and full step log."""
    task = task_service.get_owned(session, user, task_id)
    return TaskDetailResponse(
        task=task_service.to_detail(task, task_service.log_entries(session, task.id))
    )
