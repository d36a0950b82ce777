"""Agents, their tokens, and task dispatch."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Response
from sqlalchemy import Connection

from api.context import TaskWakeup
from api.deps import ContextDep, CurrentUser, HotCallDep, SessionDep
from api.schemas.agents import (
    AgentCreate,
    AgentCreateResponse,
    AgentListResponse,
    AgentResponse,
    AgentUpdate,
    TokenResponse,
    TokenRotateRequest,
)
from api.schemas.common import OkResponse, model_response
from api.schemas.logs import OutreachLogPublic
from api.schemas.tasks import DispatchedTask, DispatchRequest, DispatchResponse, TaskPublic
from api.services import agents as agent_service
from api.services import auth as auth_service
from api.services import logs as log_service
from api.services import tasks as task_service

router = APIRouter(tags=["agents"])
# Registered before every other router: route matching is linear, and this is the
# route automation calls most.
hot_router = APIRouter(tags=["agents"])


class AgentDetailResponse(AgentResponse):
    recentTasks: list[TaskPublic]
    recentLogs: list[OutreachLogPublic]
    todayCount: int


@router.get("/api/agents", response_model=AgentListResponse)
def list_agents(user: CurrentUser, session: SessionDep, context: ContextDep) -> AgentListResponse:
    """Every agent the caller owns, with ``todayCount`` (tasks dispatched in 24 h)."""
    return AgentListResponse(
        agents=agent_service.list_agents(session, user, context.runners_online)
    )


@router.post("/api/agents", response_model=AgentCreateResponse)
def create_agent(
    body: AgentCreate, user: CurrentUser, session: SessionDep, context: ContextDep
) -> AgentCreateResponse:
    """Create an agent and mint its token (returned in full only here)."""
    return AgentCreateResponse(agent=agent_service.create_agent(session, context, user, body))


@router.get("/api/agents/{agent_id}", response_model=AgentDetailResponse)
def get_agent(
    agent_id: str, user: CurrentUser, session: SessionDep, context: ContextDep
) -> AgentDetailResponse:
    """One agent with its 20 most recent tasks and outreach log entries."""
    agent = agent_service.get_owned(session, user, agent_id)
    public = agent_service.public(session, user, agent, context.runners_online)
    tasks = task_service.recent_for_agent(session, agent.id)
    logs, _ = log_service.query_logs(
        session, user, agent_id=agent.id, platform=None, result=None, days=3650, limit=20
    )
    return AgentDetailResponse(
        agent=public,
        recentTasks=[task_service.to_public(t) for t in tasks],
        recentLogs=[log_service.to_public(log) for log in logs],
        todayCount=public.todayCount,
    )


@router.patch("/api/agents/{agent_id}", response_model=AgentResponse)
def update_agent(
    agent_id: str, body: AgentUpdate, user: CurrentUser, session: SessionDep, context: ContextDep
) -> AgentResponse:
    """Change any of name, platforms, status, config.*, executor, browser. A paused
    agent holds its tasks; un-pausing it lets them run."""
    agent = agent_service.update_agent(session, user, agent_id, body, context)
    return AgentResponse(agent=agent_service.public(session, user, agent, context.runners_online))


@router.delete("/api/agents/{agent_id}", response_model=OkResponse)
def delete_agent(
    agent_id: str, user: CurrentUser, session: SessionDep, context: ContextDep
) -> OkResponse:
    """Soft-delete the agent; its token stops working at once."""
    agent_service.delete_agent(session, context, user, agent_id)
    return OkResponse()


@router.get("/api/agents/{agent_id}/token", response_model=TokenResponse)
def reveal_token(
    agent_id: str, user: CurrentUser, session: SessionDep, context: ContextDep
) -> TokenResponse:
    """Reveal the agent's current token."""
    return TokenResponse(token=agent_service.reveal_token(session, context, user, agent_id))


@router.post("/api/agents/{agent_id}/token", response_model=TokenResponse)
def rotate_token(
    agent_id: str,
    user: CurrentUser,
    session: SessionDep,
    context: ContextDep,
    body: TokenRotateRequest | None = None,
) -> TokenResponse:
    """Rotate the agent's token (requires the account password). The old token stops
    working and connected extensions are disconnected."""
    password = body.password if body is not None else None
    return TokenResponse(
        token=agent_service.rotate_token(session, context, user, agent_id, password)
    )


@hot_router.post("/api/agents/{agent_id}/command", response_model=DispatchResponse)
async def dispatch(
    agent_id: str,
    body: DispatchRequest,
    call: HotCallDep,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            description="Repeat a request safely: the same key within 24 h returns the "
            "same task instead of creating another.",
        ),
    ] = None,
) -> Response:
    """Dispatch a task to the agent; it is stored ``pending`` and runs as soon as the
    agent is free (or at ``scheduledFor``)."""

    # The hottest route: authentication, ownership and the insert share one Core
    # transaction and one trip to the thread pool.
    context, credentials = call.context, call.credentials

    def work(connection: Connection) -> tuple[DispatchedTask, TaskWakeup | None]:
        _, agent = auth_service.authenticate_for_agent(
            connection,
            context,
            authorization=credentials.authorization,
            session_cookie=credentials.session_cookie,
            agent_id=agent_id,
        )
        return task_service.insert_task(connection, agent, body, idempotency_key=idempotency_key)

    # Raises (auth, validation) before it writes: it can share a group commit.
    task, wakeup = await context.db.run_core_batched(work)
    if wakeup is not None:
        context.wake_task(wakeup)
    return model_response(DispatchResponse(task=task))
