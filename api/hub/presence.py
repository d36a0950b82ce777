"""Which API process holds an agent's socket, and messages between the processes' hubs.

With one API process (no Redis) every socket is local: :class:`LocalPresence` knows of
no other process. With several, :class:`RedisPresence` keeps a key per connected agent
(``bredgio:hub:agent:<id>`` = the holding process's id, with a TTL its holder refreshes)
and a pub/sub channel that carries to every hub:

- ``wake``: a task of the agent became runnable (the holder drains it);
- ``revoke``: the agent's token was rotated or the agent deleted (the holder closes 1008);
- ``claim``: a process took a new socket of the agent (any older one is closed).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import redis.asyncio as aioredis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

Kind = Literal["wake", "revoke", "claim"]

CHANNEL = "bredgio:hub"
KEY_PREFIX = "bredgio:hub:agent:"

# Keep the key if it is ours or gone; report whether it is ours now.
_REFRESH = """
local holder = redis.call('get', KEYS[1])
if holder == false or holder == ARGV[1] then
  redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""

# Delete the key only if it is still ours.
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0
"""


@dataclass(frozen=True)
class HubMessage:
    kind: Kind
    agent_id: str
    sender: str


OnMessage = Callable[[HubMessage], None]


class Presence(Protocol):
    #: This process's id among the hubs.
    instance_id: str

    async def start(self, on_message: OnMessage) -> None:
        """Begin delivering other processes' messages to ``on_message``."""
        ...

    async def stop(self) -> None: ...

    async def claim(self, agent_id: str) -> None:
        """This process now holds the agent's socket (older ones elsewhere must close)."""
        ...

    async def release(self, agent_id: str) -> None:
        """This process's socket of the agent closed."""
        ...

    async def holder(self, agent_id: str) -> str | None:
        """The process holding the agent's socket, if any process does."""
        ...

    async def refresh(self, agent_ids: Sequence[str]) -> list[str]:
        """Keep this process's claims alive; returns the agents another process took."""
        ...

    async def publish(self, kind: Kind, agent_id: str) -> None:
        """Tell every other process's hub."""
        ...


class LocalPresence:
    """One API process: no other hub exists to hold a socket or hear a message."""

    def __init__(self) -> None:
        self.instance_id = uuid.uuid4().hex

    async def start(self, on_message: OnMessage) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def claim(self, agent_id: str) -> None:
        return None

    async def release(self, agent_id: str) -> None:
        return None

    async def holder(self, agent_id: str) -> str | None:
        return None

    async def refresh(self, agent_ids: Sequence[str]) -> list[str]:
        return []

    async def publish(self, kind: Kind, agent_id: str) -> None:
        return None


class RedisPresence:
    """Presence keys and the hubs' channel on Redis. Redis errors are logged, never
    raised: a lost message is repaired by the reconcilers and the key refreshes."""

    def __init__(self, url: str, *, ttl_s: float) -> None:
        self.instance_id = uuid.uuid4().hex
        self.ttl_ms = max(1, round(ttl_s * 1000))
        self.redis: Any = aioredis.Redis.from_url(url)
        self._listener: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()

    async def start(self, on_message: OnMessage) -> None:
        self._listener = asyncio.create_task(self._listen(on_message), name="hub-presence")
        # Messages published before the subscription is active would be lost.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5):
                await self._subscribed.wait()

    async def stop(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        await self.redis.aclose()

    async def claim(self, agent_id: str) -> None:
        try:
            await self.redis.set(KEY_PREFIX + agent_id, self.instance_id, px=self.ttl_ms)
        except RedisError as error:
            log.warning("could not record the socket of agent %s in Redis: %s", agent_id, error)
        await self.publish("claim", agent_id)

    async def release(self, agent_id: str) -> None:
        try:
            await self.redis.eval(_RELEASE, 1, KEY_PREFIX + agent_id, self.instance_id)
        except RedisError as error:
            log.warning("could not release agent %s in Redis: %s", agent_id, error)

    async def holder(self, agent_id: str) -> str | None:
        try:
            value = await self.redis.get(KEY_PREFIX + agent_id)
        except RedisError as error:
            log.warning("could not read the presence of agent %s: %s", agent_id, error)
            return None
        return value.decode() if isinstance(value, bytes) else value

    async def refresh(self, agent_ids: Sequence[str]) -> list[str]:
        if not agent_ids:
            return []
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for agent_id in agent_ids:
                    pipe.eval(_REFRESH, 1, KEY_PREFIX + agent_id, self.instance_id, self.ttl_ms)
                ours = await pipe.execute()
        except RedisError as error:
            log.warning("could not refresh the presence of the hub's agents: %s", error)
            return []
        return [agent_id for agent_id, kept in zip(agent_ids, ours, strict=True) if not kept]

    async def publish(self, kind: Kind, agent_id: str) -> None:
        message = json.dumps({"kind": kind, "agentId": agent_id, "from": self.instance_id})
        try:
            await self.redis.publish(CHANNEL, message)
        except RedisError as error:
            log.warning("could not publish %s for agent %s: %s", kind, agent_id, error)

    async def _listen(self, on_message: OnMessage) -> None:
        while True:
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(CHANNEL)
                self._subscribed.set()
                async for raw in pubsub.listen():
                    message = _decode(raw)
                    if message is not None and message.sender != self.instance_id:
                        on_message(message)
            except (RedisError, OSError) as error:
                log.warning("hub channel lost (%s); resubscribing in 1 s", error)
                await asyncio.sleep(1.0)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()


def _decode(raw: dict[str, Any]) -> HubMessage | None:
    if raw.get("type") != "message":
        return None
    try:
        body = json.loads(raw["data"])
        kind, agent_id, sender = body["kind"], body["agentId"], body["from"]
    except (ValueError, KeyError, TypeError):
        return None
    if kind not in ("wake", "revoke", "claim"):
        return None
    return HubMessage(kind=kind, agent_id=str(agent_id), sender=str(sender))
