"""An agent's browser profile: cookie import/export and the login check. Runners own
every browser, so these run as jobs on a runner and the request waits for the result."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from api.context import AppContext
from api.db.models import User
from api.deps import ContextDep, CurrentUser
from api.errors import BadRequest, ServiceUnavailable
from api.schemas.common import Request as RequestBody
from api.services import agents as agent_service
from profiles.cookies import Cookie

router = APIRouter(tags=["agents"])


class CookieImport(RequestBody):
    cookies: list[Cookie] = Field(min_length=1, max_length=2000)


class CookieImportResponse(BaseModel):
    success: bool = True
    imported: int
    rejected: list[dict[str, Any]]


class CookieExportResponse(BaseModel):
    success: bool = True
    cookies: list[dict[str, Any]]


class LoginCheckRequest(RequestBody):
    platforms: list[str] | None = None
    deep: bool = Field(False, description="Also open the site and watch for a login redirect.")


class LoginCheckResponse(BaseModel):
    success: bool = True
    platforms: list[dict[str, Any]]


async def _owned_platforms(context: AppContext, user: User, agent_id: str) -> list[str]:
    """Check ownership in a short read of its own: no transaction stays open while the
    request waits for a runner."""

    def check() -> list[str]:
        with context.db.unit(write=False) as session:
            return list(agent_service.get_owned(session, user, agent_id).platforms)

    return await run_in_threadpool(check)


async def _run(request: Request, agent_id: str, op: str, payload: dict[str, Any]) -> Any:
    queue = getattr(request.app.state, "queue", None)
    if queue is None:
        raise ServiceUnavailable("No task queue is configured (set BREDGIO_REDIS_URL)")
    result = await queue.profile_op(agent_id, op, payload)
    if isinstance(result, dict) and "error" in result:
        raise BadRequest(str(result["error"]))
    return result


@router.post("/api/agents/{agent_id}/cookies", response_model=CookieImportResponse)
async def import_cookies(
    agent_id: str,
    body: CookieImport,
    request: Request,
    user: CurrentUser,
    context: ContextDep,
) -> CookieImportResponse:
    """Import cookies into the agent's profile (how an operator logs a headless profile
    in). Cookies without ``expires`` are stored as persistent so they survive restarts."""
    await _owned_platforms(context, user, agent_id)
    payload = {"cookies": [c.model_dump(by_alias=True, exclude_none=True) for c in body.cookies]}
    result = await _run(request, agent_id, "import_cookies", payload)
    return CookieImportResponse(imported=result["imported"], rejected=result["rejected"])


@router.get("/api/agents/{agent_id}/cookies", response_model=CookieExportResponse)
async def export_cookies(
    agent_id: str, request: Request, user: CurrentUser, context: ContextDep
) -> CookieExportResponse:
    """Export the cookies of the agent's profile."""
    await _owned_platforms(context, user, agent_id)
    result = await _run(request, agent_id, "export_cookies", {})
    return CookieExportResponse(cookies=result["cookies"])


@router.post("/api/agents/{agent_id}/login-check", response_model=LoginCheckResponse)
async def login_check(
    agent_id: str,
    request: Request,
    user: CurrentUser,
    context: ContextDep,
    body: LoginCheckRequest | None = None,
) -> LoginCheckResponse:
    """Report, per platform of the agent, whether its profile is logged in."""
    agent_platforms = await _owned_platforms(context, user, agent_id)
    platforms = (body.platforms if body else None) or agent_platforms
    payload = {"platforms": platforms, "deep": bool(body and body.deep)}
    result = await _run(request, agent_id, "login_check", payload)
    return LoginCheckResponse(platforms=result["platforms"])
