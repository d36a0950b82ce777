"""Agent affinity: an agent's tasks run in the runner that holds its warm browser.

arq hands a drain job to whichever runner polls first. Left at that, an agent's tasks
wander between runners, and each move closes a warm Chromium in one runner and launches
a cold one in the other (seconds of CPU, and the profile lease changes hands). So a
runner that drains an agent records itself as the agent's holder in Redis, under a key
that lives ``ttl_s`` and that it refreshes while the agent's browser stays open. A drain
job that lands in another runner forwards the wake-up to the holder's inbox, a Redis
list the holder pops from, and returns.

Profile operations (cookie import/export, login checks) need the profile too: the
runner that gets one asks the holder, through the same inbox, to close the agent's
browser once idle, and holds the agent itself while its own browser stays open.

The key lapses when its holder dies, hangs or closes the browser, and the next wake-up
then goes to whichever runner takes it. Correctness never depends on any of this: claims
in the database keep one task per agent in flight, and profile leases keep one Chromium
per profile; affinity only keeps the warm browser where the work goes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

HOLDER_KEY = "bredgio:agent-holder:"
INBOX_KEY = "bredgio:runner-inbox:"
INBOX_POLL_S = 5
# An inbox entry asking for an agent's profile (agent ids never hold a colon).
RELEASE_PREFIX = "release:"

# Renew holder keys that name this runner or lapsed; leave those another runner took.
_REFRESH = """
for i, key in ipairs(KEYS) do
  local holder = redis.call('GET', key)
  if (not holder) or holder == ARGV[1] then
    redis.call('SET', key, ARGV[1], 'PX', ARGV[2])
  end
end
return 0
"""
# Delete a holder key only if it still names this runner.
_RELEASE = """
for i, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then redis.call('DEL', key) end
end
return 0
"""


class Affinity:
    """This runner's side of the holder keys and its inbox."""

    def __init__(self, redis: Redis, runner_id: str, ttl_s: float) -> None:
        self.redis = redis
        self.runner_id = runner_id
        self.ttl_ms = max(int(ttl_s * 1000), 1000)

    async def hold(self, agent_id: str) -> None:
        """This runner drains ``agent_id`` now: it is the holder for the next ``ttl_s``."""
        await self.redis.set(HOLDER_KEY + agent_id, self.runner_id, px=self.ttl_ms)

    async def refresh(self, agent_ids: Iterable[str]) -> None:
        """Keep holding the agents whose browsers stay open here (unless another runner
        took one over meanwhile)."""
        keys = [HOLDER_KEY + agent_id for agent_id in agent_ids]
        if keys:
            await self.redis.eval(_REFRESH, len(keys), *keys, self.runner_id, str(self.ttl_ms))  # type: ignore[misc]

    async def release(self, agent_ids: Iterable[str]) -> None:
        keys = [HOLDER_KEY + agent_id for agent_id in agent_ids]
        if keys:
            await self.redis.eval(_RELEASE, len(keys), *keys, self.runner_id)  # type: ignore[misc]

    async def _other_holder(self, agent_id: str) -> str | None:
        """The runner holding ``agent_id`` if that is another one; "" if this one."""
        holder = await self.redis.get(HOLDER_KEY + agent_id)
        if holder is None:
            return None
        holder_id = holder.decode() if isinstance(holder, bytes) else str(holder)
        return "" if holder_id == self.runner_id else holder_id

    async def route(self, agent_id: str) -> str:
        """Where the agent's wake-up goes: ``"forwarded"`` (sent to the holder's inbox),
        ``"held"`` (this runner is the holder) or ``"free"`` (no holder: drain here and
        take it)."""
        holder_id = await self._other_holder(agent_id)
        if holder_id is None:
            return "free"
        if not holder_id:
            return "held"
        await self.redis.rpush(INBOX_KEY + holder_id, agent_id)  # type: ignore[misc]
        return "forwarded"

    async def ask_for_profile(self, agent_id: str) -> bool:
        """A profile operation (cookies, login check) landed here while another runner
        holds the agent: ask that runner to close the agent's browser once it is idle,
        which frees the profile. False when no other runner holds it."""
        holder_id = await self._other_holder(agent_id)
        if not holder_id:
            return False
        await self.redis.rpush(INBOX_KEY + holder_id, RELEASE_PREFIX + agent_id)  # type: ignore[misc]
        return True


class Inbox:
    """Drains the agents whose wake-ups other runners forwarded here: one drain per
    agent at a time, run once more if a wake-up arrives while it runs (the drain may
    already have looked for work and be about to return). Requests for an agent's
    profile go to ``release``."""

    def __init__(
        self,
        redis: Redis,
        runner_id: str,
        drain: Callable[[str], Awaitable[object]],
        release: Callable[[str], Coroutine[Any, Any, object]],
    ) -> None:
        self.redis = redis
        self.key = INBOX_KEY + runner_id
        self.drain = drain
        self.release = release
        self._releases: set[asyncio.Task[object]] = set()
        self._running: dict[str, asyncio.Task[None]] = {}
        self._again: set[str] = set()

    async def serve(self) -> None:
        outage = False
        while True:
            try:
                item = await self.redis.blpop([self.key], timeout=INBOX_POLL_S)  # type: ignore[misc]
            except (RedisError, OSError) as error:
                if not outage:
                    log.warning("runner inbox: Redis unreachable: %s", error)
                    outage = True
                await asyncio.sleep(0.5)
                continue
            outage = False
            if item is None:
                continue
            entry = item[1].decode()
            if entry.startswith(RELEASE_PREFIX):
                task = asyncio.create_task(self.release(entry.removeprefix(RELEASE_PREFIX)))
                self._releases.add(task)
                task.add_done_callback(self._releases.discard)
            else:
                self.wake(entry)

    def wake(self, agent_id: str) -> None:
        running = self._running.get(agent_id)
        if running is not None and not running.done():
            self._again.add(agent_id)
            return
        self._running[agent_id] = asyncio.create_task(self._drain(agent_id))

    async def _drain(self, agent_id: str) -> None:
        try:
            while True:
                self._again.discard(agent_id)
                try:
                    await self.drain(agent_id)
                except Exception:
                    log.exception("forwarded drain of %s failed", agent_id)
                if agent_id not in self._again:
                    return
        finally:
            self._running.pop(agent_id, None)

    async def close(self) -> None:
        tasks = [*self._running.values(), *self._releases]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
