"""One extension's socket: commands sent and their results matched by id, the keepalive
ping, the idle timeout, and a clean end for every waiting command when it closes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from starlette.websockets import WebSocket

from api.hub.protocol import (
    CLOSE_IDLE,
    PING,
    PONG,
    CommandFrame,
    ResultFrame,
    as_result,
    encode,
    parse_client_frame,
)
from flows.executor import CommandTimeout, Disconnected

log = logging.getLogger(__name__)

#: How long the server waits for the client to acknowledge a close frame.
CLOSE_TIMEOUT_S = 5.0


class AgentConnection:
    """The socket of one agent's extension, multiplexed for every command issued to it.

    :meth:`serve` reads frames until the socket closes; :meth:`request` may be called
    concurrently from any number of coroutines meanwhile."""

    def __init__(
        self,
        websocket: WebSocket,
        agent_id: str,
        *,
        ping_interval_s: float,
        idle_timeout_s: float,
        command_timeout_s: float,
        version: str | None = None,
    ) -> None:
        self.websocket = websocket
        self.agent_id = agent_id
        self.ping_interval_s = ping_interval_s
        self.idle_timeout_s = idle_timeout_s
        self.command_timeout_s = command_timeout_s
        self.version = version
        loop = asyncio.get_running_loop()
        self._loop = loop
        self.last_frame_at = loop.time()
        self.frames_received = 0
        #: A frame arrived since the hub last wrote the agent's lastSeenAt.
        self.heard = False
        #: Why the socket closed (a WebSocket close code), once it has.
        self.close_code: int | None = None
        self.close_reason = ""
        self._close_sent = False
        self._closed = asyncio.Event()
        self._wake = asyncio.Event()
        self._wake_timer: asyncio.TimerHandle | None = None
        self._pending: dict[str, asyncio.Future[ResultFrame]] = {}
        self._send_lock = asyncio.Lock()
        self._on_hello: list[Callable[[AgentConnection, str], None]] = []

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    # -- commands --------------------------------------------------------------------

    async def request(self, cmd: str, args: dict[str, Any]) -> ResultFrame:
        """Send a ``command`` frame and return the correlated ``result`` frame. Raises
        :class:`Disconnected` if the socket is or becomes closed and
        :class:`CommandTimeout` after the end-to-end limit."""
        if self.closed:
            raise Disconnected(self._disconnected_message(), command=cmd)
        frame = CommandFrame(cmd=cmd, args=args)
        waiter: asyncio.Future[ResultFrame] = self._loop.create_future()
        self._pending[frame.id] = waiter
        try:
            async with asyncio.timeout(self.command_timeout_s):
                await self.send(encode(frame), command=cmd)
                return await waiter
        except TimeoutError:
            raise CommandTimeout(
                f"timeout: no result for {cmd} within {self.command_timeout_s:g} s",
                command=cmd,
            ) from None
        finally:
            self._pending.pop(frame.id, None)

    async def send(self, text: str, *, command: str | None = None) -> None:
        """Send one frame; a socket that cannot take it is closed."""
        async with self._send_lock:
            if self.closed:
                raise Disconnected(self._disconnected_message(), command=command)
            try:
                await self.websocket.send_text(text)
            except Exception as error:
                log.info("send to agent %s failed: %s", self.agent_id, error)
                self._mark_closed(1006, "send failed")
                raise Disconnected(self._disconnected_message(), command=command) from None

    @property
    def pending_commands(self) -> int:
        return len(self._pending)

    # -- waking the drainer ----------------------------------------------------------

    def wake(self) -> None:
        """Ask this connection's drainer to look for runnable tasks."""
        self._wake.set()

    def wake_in(self, delay_s: float) -> None:
        """:meth:`wake` after ``delay_s`` (replacing any earlier such request)."""
        if self._wake_timer is not None:
            self._wake_timer.cancel()
        self._wake_timer = self._loop.call_later(delay_s, self.wake)

    async def woken(self) -> None:
        """Wait for :meth:`wake` (or the close); then clear the wake-up."""
        if not self._wake.is_set() and not self.closed:
            waits = [
                asyncio.ensure_future(self._wake.wait()),
                asyncio.ensure_future(self._closed.wait()),
            ]
            try:
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiting in waits:
                    waiting.cancel()
        self._wake.clear()

    # -- the socket's life -----------------------------------------------------------

    def close(self, code: int, reason: str = "") -> None:
        """Close the socket with ``code``: waiting commands fail at once with
        :class:`Disconnected`; the close frame is sent by :meth:`serve`."""
        self._mark_closed(code, reason)

    async def serve(self) -> None:
        """Read frames, ping, and watch for idleness until the socket closes."""
        reader = asyncio.create_task(self._read(), name=f"hub-read-{self.agent_id}")
        helpers = [
            asyncio.create_task(self._ping(), name=f"hub-ping-{self.agent_id}"),
            asyncio.create_task(self._watch_idle(), name=f"hub-idle-{self.agent_id}"),
        ]
        closed = asyncio.create_task(self._closed.wait())
        try:
            await asyncio.wait([reader, closed], return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (reader, closed, *helpers):
                task.cancel()
            await asyncio.gather(reader, closed, *helpers, return_exceptions=True)
            self._mark_closed(1006, "connection lost")
            if not self._close_sent:
                await self._send_close()

    async def _read(self) -> None:
        while True:
            message = await self.websocket.receive()
            if message["type"] == "websocket.disconnect":
                self._close_sent = True  # the peer closed; nothing to answer
                self._mark_closed(int(message.get("code") or 1005), message.get("reason") or "")
                return
            text = message.get("text")
            if text is None and message.get("bytes") is not None:
                text = message["bytes"].decode("utf-8", "replace")
            self.last_frame_at = self._loop.time()
            self.frames_received += 1
            self.heard = True
            if text is not None:
                await self._handle(text)

    async def _handle(self, text: str) -> None:
        frame = parse_client_frame(text)
        if frame is None:
            log.info("agent %s sent a frame that is not a JSON object", self.agent_id)
            return
        if frame.type == "result":
            result = as_result(frame)
            waiter = self._pending.get(result.id) if result is not None else None
            if waiter is not None and not waiter.done() and result is not None:
                waiter.set_result(result)
            else:
                log.debug("agent %s: result for no waiting command: %s", self.agent_id, text)
        elif frame.type == "ping":
            with contextlib.suppress(Disconnected):
                await self.send(encode(PONG))
        elif frame.type == "hello" and frame.version and frame.version != self.version:
            self.version = frame.version
            for callback in self._on_hello:
                callback(self, frame.version)

    def on_hello(self, callback: Callable[[AgentConnection, str], None]) -> None:
        """Call ``callback(connection, version)`` when a ``hello`` brings a new version."""
        self._on_hello.append(callback)

    async def _ping(self) -> None:
        while not self.closed:
            await asyncio.sleep(self.ping_interval_s)
            try:
                await self.send(encode(PING))
            except Disconnected:
                return

    async def _watch_idle(self) -> None:
        while not self.closed:
            idle_for = self._loop.time() - self.last_frame_at
            if idle_for >= self.idle_timeout_s:
                log.info("agent %s idle for %.0f s; closing", self.agent_id, idle_for)
                self.close(CLOSE_IDLE, "idle timeout")
                return
            await asyncio.sleep(self.idle_timeout_s - idle_for)

    def _mark_closed(self, code: int, reason: str) -> None:
        if self.closed:
            return
        self.close_code = code
        self.close_reason = reason
        self._closed.set()
        if self._wake_timer is not None:
            self._wake_timer.cancel()
        message = self._disconnected_message()
        for waiter in self._pending.values():
            if not waiter.done():
                waiter.set_exception(Disconnected(message))

    async def _send_close(self) -> None:
        self._close_sent = True
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT_S), self._send_lock:
                await self.websocket.close(self.close_code or 1000, self.close_reason)
        except Exception as error:
            log.debug("closing the socket of agent %s: %s", self.agent_id, error)

    def _disconnected_message(self) -> str:
        if self.close_code is None:
            return "disconnected"
        reason = f": {self.close_reason}" if self.close_reason else ""
        return f"disconnected: the extension's socket closed ({self.close_code}{reason})"
