"""A minimal hub speaking the seed protocol, for testing the extension on its own.

It accepts one agent token, answers ``POST /api/extension/heartbeat`` the way the API
does, holds the extension's socket, and lets a test send any ``command`` and await its
``result``. It also serves small test pages (``/pages/<name>``) and files
(``/files/<name>``) from dicts the test fills. It runs on uvicorn in the test's event
loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

START_TIMEOUT_S = 10.0


@dataclass
class Connection:
    """One accepted socket: what it sent, and how it ended."""

    websocket: WebSocket
    version: str | None
    frames: list[dict[str, Any]] = field(default_factory=list)
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    close_code: int | None = None

    def count(self, kind: str) -> int:
        return sum(1 for frame in self.frames if frame.get("type") == kind)


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Any:
        yield  # leave Ctrl-C to pytest


class SeedHub:
    def __init__(self, token: str) -> None:
        self.token = token
        self.pages: dict[str, str] = {}
        self.files: dict[str, tuple[bytes, str]] = {}
        self.connections: list[Connection] = []
        self.refused = 0
        self.heartbeats: list[dict[str, Any]] = []
        self._results: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._connected = asyncio.Condition()
        self.url = ""
        self._server: _Server | None = None
        self._serving: asyncio.Task[None] | None = None
        self._socket: socket.socket | None = None

    # -- the app -------------------------------------------------------------------------

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/api/extension/heartbeat", self._heartbeat, methods=["POST"]),
                Route("/pages/{name}", self._page),
                Route("/files/{name}", self._file),
                WebSocketRoute("/api/social-agents/ws", self._socket_endpoint),
            ]
        )

    async def _heartbeat(self, request: Request) -> Response:
        body = await request.json()
        self.heartbeats.append(body)
        if body.get("token") != self.token:
            return JSONResponse({"success": False, "error": "Invalid token"}, status_code=401)
        agent = {"agentId": "a1", "name": "Seed seat", "status": "online", "platforms": []}
        return JSONResponse({"success": True, "agent": agent})

    async def _page(self, request: Request) -> Response:
        html = self.pages.get(request.path_params["name"])
        if html is None:
            return Response(status_code=404)
        return HTMLResponse(html)

    async def _file(self, request: Request) -> Response:
        found = self.files.get(request.path_params["name"])
        if found is None:
            return Response(status_code=404)
        data, content_type = found
        return Response(data, media_type=content_type)

    async def _socket_endpoint(self, websocket: WebSocket) -> None:
        if websocket.query_params.get("token") != self.token:
            self.refused += 1
            denial = JSONResponse({"success": False, "error": "Invalid token"}, status_code=401)
            await websocket.send_denial_response(denial)
            return
        await websocket.accept()
        connection = Connection(websocket, websocket.query_params.get("version"))
        async with self._connected:
            self.connections.append(connection)
            self._connected.notify_all()
        try:
            while True:
                frame = json.loads(await websocket.receive_text())
                connection.frames.append(frame)
                if frame.get("type") == "ping":
                    await websocket.send_text(json.dumps({"type": "pong"}))
                elif frame.get("type") == "result":
                    waiter = self._results.get(frame.get("id", ""))
                    if waiter is not None and not waiter.done():
                        waiter.set_result(frame)
        except WebSocketDisconnect as disconnect:
            connection.close_code = disconnect.code
        finally:
            connection.closed.set()

    # -- what tests use ------------------------------------------------------------------

    @property
    def current(self) -> Connection | None:
        """The newest socket, if still open."""
        if self.connections and not self.connections[-1].closed.is_set():
            return self.connections[-1]
        return None

    async def wait_connected(self, timeout_s: float = 10.0, *, after: int = 0) -> Connection:
        """The first open socket beyond the first ``after`` ones."""
        async with asyncio.timeout(timeout_s), self._connected:
            await self._connected.wait_for(
                lambda: len(self.connections) > after and self.current is not None
            )
        connection = self.current
        assert connection is not None
        return connection

    async def command(
        self, cmd: str, args: dict[str, Any] | None = None, *, timeout_s: float = 30.0
    ) -> dict[str, Any]:
        """Send one command frame on the current socket; returns the result frame."""
        connection = self.current
        assert connection is not None, "the extension is not connected"
        frame_id = str(uuid.uuid4())
        waiter: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._results[frame_id] = waiter
        try:
            frame = {"type": "command", "id": frame_id, "cmd": cmd, "args": args or {}}
            await connection.websocket.send_text(json.dumps(frame))
            async with asyncio.timeout(timeout_s):
                return await waiter
        finally:
            self._results.pop(frame_id, None)

    async def ok(self, cmd: str, args: dict[str, Any] | None = None, **kw: Any) -> Any:
        """``command`` that must succeed; returns its ``data``."""
        result = await self.command(cmd, args, **kw)
        assert result["ok"] is True, result
        return result.get("data")

    async def close_current(self, code: int, reason: str = "") -> None:
        connection = self.current
        assert connection is not None
        await connection.websocket.close(code, reason)

    # -- life ----------------------------------------------------------------------------

    async def start(self, port: int = 0) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        config = uvicorn.Config(
            self.app(),
            lifespan="off",
            log_level="warning",
            ws_ping_interval=None,
            timeout_graceful_shutdown=1,
        )
        self._server = _Server(config)
        self._socket = sock
        self._serving = asyncio.create_task(self._server.serve(sockets=[sock]))
        async with asyncio.timeout(START_TIMEOUT_S):
            while not self._server.started:
                if self._serving.done():
                    self._serving.result()
                await asyncio.sleep(0.01)
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"

    async def restart(self, down_s: float = 0.0) -> float:
        """Stop, stay down ``down_s``, start again on the same port; returns when it
        listens again (``loop.time()``)."""
        port = int(self.url.rsplit(":", 1)[1])
        await self.stop()
        await asyncio.sleep(down_s)
        await self.start(port)
        return asyncio.get_running_loop().time()

    async def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._serving is not None:
            with contextlib.suppress(Exception):
                await self._serving
        if self._socket is not None:
            self._socket.close()
        self._server = self._serving = self._socket = None


@contextlib.asynccontextmanager
async def seed_hub(token: str) -> AsyncIterator[SeedHub]:
    hub = SeedHub(token)
    await hub.start()
    try:
        yield hub
    finally:
        await hub.stop()
