"""Endpoints the Chrome extension calls."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body

from api.deps import SessionDep
from api.errors import BadRequest
from api.schemas.agents import HeartbeatAgent, HeartbeatRequest, HeartbeatResponse
from api.services import agents as agent_service

router = APIRouter(tags=["extension"])


@router.post("/api/extension/heartbeat", response_model=HeartbeatResponse)
def heartbeat(session: SessionDep, body: Any = Body(None)) -> HeartbeatResponse:
    """Mark the agent behind ``token`` online (the popup calls this once on Save &
    Connect)."""
    if body is not None and not isinstance(body, dict):
        raise BadRequest("Body must be a JSON object")
    request = HeartbeatRequest.model_validate(body or {})
    agent, user = agent_service.heartbeat(session, request.token, request.version)
    return HeartbeatResponse(
        agent=HeartbeatAgent(
            agentId=agent.id,
            name=agent.name,
            userEmail=user.email,
            status=agent.status,
            platforms=list(agent.platforms),
        )
    )
