from __future__ import annotations

from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, Field, NaiveDatetime

from api.schemas.common import Request
from flows.catalog import MediaItem, Platform

Frequency = Literal["oneoff", "daily", "weekly", "cron", "interval"]
ScheduleStatus = Literal["active", "paused", "completed", "cancelled"]

TIMING_FIELDS = (
    "frequency",
    "runAt",
    "timeMinutesUTC",
    "dayOfWeek",
    "cronExpr",
    "cronTimezone",
    "intervalValue",
    "intervalUnit",
)


class ScheduleCreate(Request):
    agentId: str = Field(min_length=1)
    platform: Platform
    content: str
    media: list[MediaItem] | None = None
    frequency: Frequency
    runAt: AwareDatetime | NaiveDatetime | None = None
    timeMinutesUTC: int | None = None
    dayOfWeek: int | None = None
    cronExpr: str | None = Field(None, max_length=200)
    cronTimezone: str | None = Field(None, max_length=64)
    intervalValue: int | None = None
    intervalUnit: Literal["minutes", "hours", "days"] | None = None
    timezone: str | None = Field(None, max_length=64)
    status: Literal["active", "paused"] = "active"
    misfireGraceSec: int = Field(300, ge=0, le=7 * 86_400)


class ScheduleUpdate(Request):
    content: str | None = None
    media: list[MediaItem] | None = None
    status: ScheduleStatus | None = None
    frequency: Frequency | None = None
    runAt: AwareDatetime | NaiveDatetime | None = None
    timeMinutesUTC: int | None = None
    dayOfWeek: int | None = None
    cronExpr: str | None = Field(None, max_length=200)
    cronTimezone: str | None = Field(None, max_length=64)
    intervalValue: int | None = None
    intervalUnit: Literal["minutes", "hours", "days"] | None = None
    timezone: str | None = Field(None, max_length=64)
    misfireGraceSec: int | None = Field(None, ge=0, le=7 * 86_400)


class SchedulePublic(BaseModel):
    scheduleId: str
    agentId: str
    platform: str
    action: str
    content: str
    media: list[dict[str, Any]] | None
    frequency: str
    runAt: str | None
    timeMinutesUTC: int | None
    dayOfWeek: int | None
    cronExpr: str | None
    cronTimezone: str | None
    intervalValue: int | None
    intervalUnit: str | None
    timezone: str | None
    misfireGraceSec: int
    status: str
    nextRunAt: str | None
    lastRunAt: str | None
    createdAt: str | None


class ScheduleListResponse(BaseModel):
    success: bool = True
    schedules: list[SchedulePublic]


class ScheduleResponse(BaseModel):
    success: bool = True
    schedule: SchedulePublic


class ScheduleRunPublic(BaseModel):
    fireAt: str | None = Field(description="The fire time this run is for.")
    outcome: Literal["dispatched", "skipped"]
    taskId: str | None = Field(description="The task dispatched for it (null when skipped).")
    reason: str | None = Field(description="Why it was skipped (null when dispatched).")
    createdAt: str | None = Field(description="When the scheduler handled it.")


class ScheduleRunListResponse(BaseModel):
    success: bool = True
    runs: list[ScheduleRunPublic]
