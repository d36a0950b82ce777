from __future__ import annotations

from pydantic import BaseModel


class OutreachLogPublic(BaseModel):
    logId: str
    agentId: str
    taskId: str | None
    platform: str
    result: str
    targetUrl: str | None
    targetName: str | None
    messageSent: str | None
    errorMessage: str | None
    timestamp: str | None


class DaySummary(BaseModel):
    day: str
    sent: int
    failed: int
    skipped: int


class LogSummary(BaseModel):
    total: int
    sent: int
    failed: int
    skipped: int
    byDay: list[DaySummary]


class LogListResponse(BaseModel):
    success: bool = True
    logs: list[OutreachLogPublic]
    summary: LogSummary
