from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, Field, NaiveDatetime

from api.errors import BadRequest
from api.schemas.common import Request
from flows.catalog import Action, Platform

DEFAULT_TIMEOUT_SEC = 300
MAX_TIMEOUT_SEC = 1800


class DispatchRequest(Request):
    action: Action
    platform: Platform
    params: dict[str, Any]
    scheduledFor: AwareDatetime | NaiveDatetime | None = Field(
        None, description="Future ISO 8601 time; a time without offset is UTC."
    )
    timeoutSec: int = Field(
        DEFAULT_TIMEOUT_SEC, ge=1, le=MAX_TIMEOUT_SEC, description="End-to-end limit."
    )


class DispatchedTask(BaseModel):
    taskId: str
    action: str
    platform: str
    status: str
    dispatchedAt: str | None
    scheduledFor: str | None


class DispatchResponse(BaseModel):
    success: bool = True
    task: DispatchedTask


class LogEntryPublic(BaseModel):
    ts: str | None
    step: str
    status: str
    message: str | None = None
    data: dict[str, Any] | None = None
    errorCode: str | None = None


class TaskPublic(BaseModel):
    taskId: str
    agentId: str
    action: str
    platform: str
    status: str
    dispatchedAt: str | None
    startedAt: str | None
    completedAt: str | None
    scheduledFor: str | None
    currentStep: str | None
    errorCode: str | None
    errorMessage: str | None = None
    result: dict[str, Any] | None
    attempt: int
    timeoutSec: int
    scheduleId: str | None = None


class TaskDetail(TaskPublic):
    params: dict[str, Any]
    log: list[LogEntryPublic]
    queuePosition: int | None = Field(
        None, description="Pending tasks: place in the agent's queue (1 = next)."
    )
    notBefore: str | None = Field(
        None, description="Pending tasks: earliest start (scheduledFor, pacing)."
    )


class TaskResponse(BaseModel):
    success: bool = True
    task: TaskPublic


class TaskListResponse(BaseModel):
    success: bool = True
    tasks: list[TaskPublic]


class TaskDetailResponse(BaseModel):
    success: bool = True
    task: TaskDetail


def as_utc(value: datetime) -> datetime:
    from datetime import UTC

    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:  # e.g. 9999-12-31T23:00:00-12:00 lies past year 9999 in UTC
        raise BadRequest("dates must lie between the years 1 and 9999 in UTC") from None
