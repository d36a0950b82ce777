"""The hub: every extension socket this API process holds, and what keeps them useful.

- One connection per agent; a newer one replaces (closes) the older, here or in another
  process.
- Tasks of extension agents run here, one at a time per agent, on the process holding
  the agent's socket: woken after their row is committed (``context.task_wakeups``), when
  the socket connects, and by a reconciler every ``reconcile_interval_s`` (lost wake-ups,
  a ``scheduledFor`` that arrived). A runnable task whose agent has no socket anywhere is
  failed ``agent_offline``.
- Rotating an agent's token or deleting the agent closes its socket with 1008.
- lastSeenAt follows the socket's traffic (written at most every
  ``seen_write_interval_s``); a sweep sets extension agents unseen for
  ``stale_after_s`` offline.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

from fastapi import FastAPI
from sqlmodel import Session
from starlette.websockets import WebSocket

from api import task_run
from api.config import Settings
from api.context import AppContext, TaskWakeup
from api.db.models import ExecutorKind, utcnow
from api.hub import service
from api.hub.connection import AgentConnection
from api.hub.execute import ExtensionTasks
from api.hub.presence import HubMessage, LocalPresence, Presence, RedisPresence
from api.hub.protocol import CLOSE_GOING_AWAY, CLOSE_REPLACED, CLOSE_REVOKED

log = logging.getLogger(__name__)
T = TypeVar("T")

#: How long a stopping hub lets running tasks end after their sockets closed.
STOP_GRACE_S = 10.0
#: Pause before a drain that failed (database unreachable, say) is tried again.
RETRY_S = 1.0
#: A revocation this recent also refuses a socket that was being admitted meanwhile.
REVOCATION_MEMORY_S = 60.0


@dataclass(frozen=True)
class HubTimings:
    """The hub's clocks, in seconds (tests shorten them)."""

    ping_interval_s: float = 30.0
    idle_timeout_s: float = 90.0
    command_timeout_s: float = 60.0
    reconcile_interval_s: float = 3.0
    sweep_interval_s: float = 60.0
    stale_after_s: float = 120.0
    seen_write_interval_s: float = 15.0
    presence_ttl_s: float = 30.0

    @classmethod
    def from_settings(cls, settings: Settings) -> HubTimings:
        return cls(
            ping_interval_s=settings.hub_ping_interval_s,
            idle_timeout_s=settings.hub_idle_timeout_s,
            command_timeout_s=settings.hub_command_timeout_s,
            reconcile_interval_s=settings.hub_reconcile_interval_s,
            sweep_interval_s=settings.hub_stale_sweep_interval_s,
            stale_after_s=settings.hub_stale_after_s,
            seen_write_interval_s=settings.hub_seen_write_interval_s,
            presence_ttl_s=settings.hub_presence_ttl_s,
        )


class Hub:
    def __init__(
        self,
        context: AppContext,
        timings: HubTimings | None = None,
        presence: Presence | None = None,
    ) -> None:
        self.context = context
        self.timings = timings or HubTimings.from_settings(context.settings)
        self.presence: Presence = presence or LocalPresence()
        self.tasks = ExtensionTasks(context, self.presence.instance_id)
        self._connections: dict[str, AgentConnection] = {}
        self._agent_locks: weakref.WeakValueDictionary[str, asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )
        self._revoked_at: dict[str, float] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._loops: list[asyncio.Task[None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = False

    # -- life ------------------------------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        await self.presence.start(self._on_message)
        timings = self.timings
        self._loops = [
            self._every(timings.reconcile_interval_s, self.reconcile, "reconcile"),
            self._every(timings.sweep_interval_s, self.sweep, "stale sweep"),
            self._every(timings.seen_write_interval_s, self.touch, "lastSeenAt"),
            self._every(timings.presence_ttl_s / 3, self.refresh_presence, "presence"),
        ]

    async def stop(self) -> None:
        """Close every socket (1001), let running tasks end, stop the loops."""
        self._stopping = True
        for loop_task in self._loops:
            loop_task.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        for connection in list(self._connections.values()):
            connection.close(CLOSE_GOING_AWAY, "server shutting down")
        if self._tasks:
            _, running = await asyncio.wait(list(self._tasks), timeout=STOP_GRACE_S)
            for task in running:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)
        await self.presence.stop()

    def _every(
        self, interval_s: float, work: Callable[[], Awaitable[object]], what: str
    ) -> asyncio.Task[None]:
        async def loop() -> None:
            while True:
                await asyncio.sleep(interval_s)
                try:
                    await work()
                except Exception:
                    log.exception("hub %s pass failed", what)

        return asyncio.create_task(loop(), name=f"hub-{what}")

    def _spawn(self, work: Awaitable[None], name: str) -> None:
        task = asyncio.ensure_future(work)
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(_log_crash)

    async def _db(self, work: Callable[[Session], T], *, write: bool = True) -> T:
        return await self.context.db.run(work, write=write)

    # -- sockets ---------------------------------------------------------------------

    def connection(self, agent_id: str) -> AgentConnection | None:
        """This process's open socket of the agent, if it holds one."""
        connection = self._connections.get(agent_id)
        return connection if connection is not None and not connection.closed else None

    @property
    def connected_agents(self) -> list[str]:
        return [agent_id for agent_id, c in self._connections.items() if not c.closed]

    async def admit(self, token: str, version: str | None) -> str | None:
        """The agent a connecting extension's token belongs to, marked online; None for
        an unknown or revoked token."""
        admitted = await self._db(lambda s: service.admit(s, token, version))
        return admitted.agent_id if admitted is not None else None

    async def serve(
        self, websocket: WebSocket, agent_id: str, version: str | None, admitted_at: float
    ) -> None:
        """Run an accepted socket until it closes."""
        timings = self.timings
        connection = AgentConnection(
            websocket,
            agent_id,
            ping_interval_s=timings.ping_interval_s,
            idle_timeout_s=timings.idle_timeout_s,
            command_timeout_s=timings.command_timeout_s,
            version=service.clean_version(version),
        )
        connection.on_hello(self._store_version)
        previous = self._connections.get(agent_id)
        self._connections[agent_id] = connection
        if previous is not None:
            previous.close(CLOSE_REPLACED, "replaced by a newer connection")
        if self._revoked_at.get(agent_id, float("-inf")) >= admitted_at or self._stopping:
            # Revoked (or stopping) while this socket was being admitted.
            connection.close(CLOSE_REVOKED if not self._stopping else CLOSE_GOING_AWAY)
        else:
            await self.presence.claim(agent_id)
            self._spawn(self._drain_loop(connection), f"hub-drain-{agent_id}")
            connection.wake()
            log.info("agent %s connected (extension %s)", agent_id, connection.version)
        try:
            await connection.serve()
        finally:
            await self._forget(connection)

    async def _forget(self, connection: AgentConnection) -> None:
        agent_id = connection.agent_id
        code, reason = connection.close_code, connection.close_reason
        log.info("agent %s disconnected (%s %s)", agent_id, code, reason)
        if self._connections.get(agent_id) is not connection:
            return  # replaced by a newer socket of this process
        del self._connections[agent_id]
        await self.presence.release(agent_id)
        if connection.close_code == CLOSE_REPLACED:
            return  # a newer socket, in another process, holds the agent
        if await self.presence.holder(agent_id) not in (None, self.presence.instance_id):
            return
        await self._db(lambda s: service.mark_offline(s, agent_id))

    def _store_version(self, connection: AgentConnection, version: str) -> None:
        agent_id = connection.agent_id
        self._spawn(
            self._db(lambda s: service.store_version(s, agent_id, version)),
            f"hub-version-{agent_id}",
        )

    # -- running tasks ---------------------------------------------------------------

    def _agent_lock(self, agent_id: str) -> asyncio.Lock:
        lock = self._agent_locks.get(agent_id)
        if lock is None:
            lock = asyncio.Lock()
            self._agent_locks[agent_id] = lock
        return lock

    async def _drain_loop(self, connection: AgentConnection) -> None:
        """Run the agent's tasks on ``connection``, one at a time, whenever woken, until
        the socket closes. A task running on a socket that closes fails ``disconnected``
        and the lock passes to the agent's newer socket, if any."""
        agent_id = connection.agent_id
        while not connection.closed:
            await connection.woken()
            if connection.closed:
                return
            try:
                async with self._agent_lock(agent_id):
                    while not connection.closed:
                        claim = await self.tasks.claim(agent_id)
                        if claim.run is None:
                            if claim.not_before is not None:
                                delay = (claim.not_before - utcnow()).total_seconds()
                                connection.wake_in(max(delay, 0.0))
                            break
                        await self.tasks.execute(claim.run, connection)
            except Exception:
                log.exception("running the tasks of agent %s failed; retrying", agent_id)
                await asyncio.sleep(RETRY_S)
                connection.wake()

    def on_task_wakeup(self, wakeup: TaskWakeup) -> None:
        """``context.task_wakeups`` callback (after commit, from any thread)."""
        if wakeup.executor != ExecutorKind.extension or self._loop is None:
            return
        self._loop.call_soon_threadsafe(self._wake_soon, wakeup.agent_id)

    def _wake_soon(self, agent_id: str) -> None:
        connection = self.connection(agent_id)
        if connection is not None:
            connection.wake()
            return
        self._spawn(self.wake(agent_id), f"hub-wake-{agent_id}")

    async def wake(self, agent_id: str) -> None:
        """Run the agent's runnable tasks where its socket is, or fail them
        ``agent_offline`` if it has none anywhere."""
        connection = self.connection(agent_id)
        if connection is not None:
            connection.wake()
            return
        holder = await self.presence.holder(agent_id)
        if holder is not None and holder != self.presence.instance_id:
            await self.presence.publish("wake", agent_id)
            return
        failed = await self._db(lambda s: service.fail_offline(s, agent_id))
        if failed:
            log.info("agent %s is offline: failed %d task(s)", agent_id, len(failed))

    async def reconcile(self) -> None:
        """Recover the tasks of hubs that died (their leases expired), then wake every
        extension agent with a runnable task and nothing in flight."""
        stale = await task_run.recover_stale(self.context, ExecutorKind.extension.value)
        recovered = list(dict.fromkeys(agent_id for agent_id, _ in stale))
        if recovered:
            log.warning("recovered the tasks of %d agent(s) from a dead hub", len(recovered))
        for agent_id in await self._db(service.runnable_agents, write=False):
            connection = self.connection(agent_id)
            if connection is not None:
                connection.wake()
            elif await self.presence.holder(agent_id) is None:
                await self.wake(agent_id)

    # -- revocation, presence, liveness ----------------------------------------------

    def on_agent_revoked(self, agent_id: str) -> None:
        """``context.agent_revocations`` callback (after commit, from any thread)."""
        if self._loop is None:
            return
        self._loop.call_soon_threadsafe(self._revoke, agent_id, True)

    def _revoke(self, agent_id: str, tell_others: bool) -> None:
        now = asyncio.get_running_loop().time()
        self._revoked_at = {
            key: at for key, at in self._revoked_at.items() if now - at < REVOCATION_MEMORY_S
        }
        self._revoked_at[agent_id] = now
        connection = self.connection(agent_id)
        if connection is not None:
            connection.close(CLOSE_REVOKED, "agent token revoked")
        if tell_others:
            self._spawn(self.presence.publish("revoke", agent_id), f"hub-revoke-{agent_id}")

    def _on_message(self, message: HubMessage) -> None:
        connection = self.connection(message.agent_id)
        if message.kind == "revoke":
            self._revoke(message.agent_id, False)
        elif message.kind == "wake" and connection is not None:
            connection.wake()
        elif message.kind == "claim" and connection is not None:
            self._spawn(self._yield_if_replaced(connection), f"hub-claim-{message.agent_id}")

    async def _yield_if_replaced(self, connection: AgentConnection) -> None:
        """Another process took a socket of this agent. Claims can cross (each process
        publishes after setting the key), so the key decides which socket is newer."""
        holder = await self.presence.holder(connection.agent_id)
        if holder is not None and holder != self.presence.instance_id:
            connection.close(CLOSE_REPLACED, "replaced by a newer connection")

    async def refresh_presence(self) -> None:
        for agent_id in await self.presence.refresh(self.connected_agents):
            connection = self.connection(agent_id)
            if connection is not None:
                connection.close(CLOSE_REPLACED, "replaced by a newer connection")

    async def touch(self) -> None:
        """Write lastSeenAt for the agents heard from since the last pass."""
        heard: list[str] = []
        for agent_id, connection in self._connections.items():
            if connection.heard and not connection.closed:
                connection.heard = False
                heard.append(agent_id)
        if heard:
            await self._db(lambda s: service.touch(s, heard))

    async def sweep(self) -> list[str]:
        """Set offline the extension agents not seen for ``stale_after_s``."""
        cutoff = utcnow() - timedelta(seconds=self.timings.stale_after_s)
        stale = await self._db(lambda s: service.sweep_stale(s, seen_before=cutoff))
        if stale:
            log.info("stale sweep: %d extension agent(s) offline", len(stale))
        return stale


def _log_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("hub task %s failed", task.get_name(), exc_info=task.exception())


def hub_component(
    redis_url: str | None = None, *, timings: HubTimings | None = None
) -> Callable[[FastAPI, AppContext], AbstractAsyncContextManager[None]]:
    """A lifespan component running the hub in an API process; with ``redis_url`` the
    hubs of several API processes find each other's sockets through Redis."""

    @asynccontextmanager
    async def component(app: FastAPI, context: AppContext) -> AsyncIterator[None]:
        chosen = timings or HubTimings.from_settings(context.settings)
        presence: Presence = (
            RedisPresence(redis_url, ttl_s=chosen.presence_ttl_s) if redis_url else LocalPresence()
        )
        hub = Hub(context, chosen, presence)
        await hub.start()
        app.state.hub = hub
        context.task_wakeups.append(hub.on_task_wakeup)
        context.agent_revocations.append(hub.on_agent_revoked)
        try:
            yield
        finally:
            context.task_wakeups.remove(hub.on_task_wakeup)
            context.agent_revocations.remove(hub.on_agent_revoked)
            with contextlib.suppress(AttributeError):
                del app.state.hub
            await hub.stop()

    return component
