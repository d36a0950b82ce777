"""``GET /api/social-agents/ws``: where an agent's Chrome extension connects."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from fastapi import APIRouter, WebSocket
from fastapi.responses import JSONResponse

if TYPE_CHECKING:
    from api.hub.hub import Hub

router = APIRouter(tags=["extension"])

WS_PATH = "/api/social-agents/ws"


async def _refuse(websocket: WebSocket, status: int, message: str) -> None:
    """Answer the upgrade request with an HTTP error in the seed envelope (servers
    without the ASGI denial-response extension get a 1008 close, which browsers report
    as a failed handshake too)."""
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        body = {"success": False, "error": message}
        await websocket.send_denial_response(JSONResponse(body, status_code=status))
    else:
        await websocket.close(code=1008, reason=message)


@router.websocket(WS_PATH)
async def agent_socket(
    websocket: WebSocket, token: str | None = None, version: str | None = None
) -> None:
    """The seed's hub protocol. A missing or invalid ``token`` is refused with HTTP 401
    before the upgrade; ``version`` is stored as the agent's extensionVersion."""
    hub: Hub | None = getattr(websocket.app.state, "hub", None)
    if hub is None:
        await _refuse(websocket, 503, "The hub is not running")
        return
    if not token:
        await _refuse(websocket, 401, "token is required")
        return
    admitted_at = asyncio.get_running_loop().time()
    agent_id = await hub.admit(token, version)
    if agent_id is None:
        await _refuse(websocket, 401, "Invalid token")
        return
    await websocket.accept()
    await hub.serve(websocket, agent_id, version, admitted_at)
