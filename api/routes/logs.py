"""The OutreachLog stream."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import CurrentUser, SessionDep
from api.schemas.logs import LogListResponse
from api.services import logs as log_service
from api.services.tasks import parse_limit

router = APIRouter(tags=["logs"])


@router.get("/api/logs", response_model=LogListResponse)
def list_logs(
    user: CurrentUser,
    session: SessionDep,
    agentId: str | None = None,
    platform: str | None = None,
    result: str | None = None,
    days: str | None = None,
    limit: str | None = None,
) -> LogListResponse:
    """Outreach attempts (sent / failed / skipped) in the last ``days`` (default 7), with
    totals and a per-day roll-up over the whole window."""
    logs, summary = log_service.query_logs(
        session,
        user,
        agent_id=agentId,
        platform=platform,
        result=result,
        days=log_service.parse_days(days),
        limit=parse_limit(limit, log_service.DEFAULT_LIMIT, log_service.MAX_LIMIT),
    )
    return LogListResponse(logs=[log_service.to_public(log) for log in logs], summary=summary)
