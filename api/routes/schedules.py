"""Schedules: recurring and one-off posts."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import CurrentUser, SessionDep
from api.schemas.common import OkResponse
from api.schemas.schedules import (
    ScheduleCreate,
    ScheduleListResponse,
    ScheduleResponse,
    ScheduleRunListResponse,
    ScheduleUpdate,
)
from api.services import schedules as schedule_service
from api.services.tasks import parse_limit

router = APIRouter(tags=["schedules"])


@router.get("/api/schedules", response_model=ScheduleListResponse)
def list_schedules(
    user: CurrentUser,
    session: SessionDep,
    agentId: str | None = None,
    status: str | None = None,
    limit: str | None = None,
) -> ScheduleListResponse:
    """The caller's schedules, newest first (``limit`` default 100)."""
    schedules = schedule_service.list_schedules(
        session,
        user,
        agent_id=agentId,
        status=status,
        limit=parse_limit(
            limit, schedule_service.DEFAULT_LIST_LIMIT, schedule_service.MAX_LIST_LIMIT
        ),
    )
    return ScheduleListResponse(schedules=[schedule_service.to_public(s) for s in schedules])


@router.post("/api/schedules", response_model=ScheduleResponse)
def create_schedule(
    body: ScheduleCreate, user: CurrentUser, session: SessionDep
) -> ScheduleResponse:
    """Create a schedule; ``nextRunAt`` is computed from its frequency."""
    schedule = schedule_service.create(session, user, body)
    return ScheduleResponse(schedule=schedule_service.to_public(schedule))


@router.get("/api/schedules/{schedule_id}", response_model=ScheduleResponse)
def get_schedule(schedule_id: str, user: CurrentUser, session: SessionDep) -> ScheduleResponse:
    """One schedule."""
    schedule = schedule_service.get_owned(session, user, schedule_id)
    return ScheduleResponse(schedule=schedule_service.to_public(schedule))


@router.get("/api/schedules/{schedule_id}/runs", response_model=ScheduleRunListResponse)
def list_schedule_runs(
    schedule_id: str, user: CurrentUser, session: SessionDep, limit: str | None = None
) -> ScheduleRunListResponse:
    """What the scheduler did with each fire time, newest first (``limit`` default 100):
    ``dispatched`` with the ``taskId``, or ``skipped`` with the ``reason`` (missed beyond
    ``misfireGraceSec``, agent paused or deleted, content refused)."""
    runs = schedule_service.list_runs(
        session,
        user,
        schedule_id,
        limit=parse_limit(
            limit, schedule_service.DEFAULT_LIST_LIMIT, schedule_service.MAX_LIST_LIMIT
        ),
    )
    return ScheduleRunListResponse(runs=[schedule_service.run_to_public(run) for run in runs])


@router.patch("/api/schedules/{schedule_id}", response_model=ScheduleResponse)
def update_schedule(
    schedule_id: str, body: ScheduleUpdate, user: CurrentUser, session: SessionDep
) -> ScheduleResponse:
    """Edit content, status or timing. Timing changes are re-validated as a whole and
    recompute ``nextRunAt``; a status other than active clears it."""
    schedule = schedule_service.update(session, user, schedule_id, body)
    return ScheduleResponse(schedule=schedule_service.to_public(schedule))


@router.delete("/api/schedules/{schedule_id}", response_model=OkResponse)
def delete_schedule(schedule_id: str, user: CurrentUser, session: SessionDep) -> OkResponse:
    """Delete the schedule (tasks it already dispatched stay)."""
    schedule_service.delete(session, user, schedule_id)
    return OkResponse()
