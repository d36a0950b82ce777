"""The background components a server process runs next to the HTTP API."""

from __future__ import annotations

from api.app import Lifespan
from api.context import AppContext
from api.hub import hub_component
from api.queue import queue_component
from api.scheduler import scheduler_component


def components_for(
    context: AppContext, *, redis_url: str | None, scheduler: bool = False
) -> list[Lifespan]:
    """What runs inside an API process: the task queue when Redis is configured, the
    WebSocket hub (through Redis, when configured, to reach sockets other API processes
    hold), and the scheduler when asked (started after the queue and the hub, so its
    first fires already wake runners and extensions)."""
    components: list[Lifespan] = []
    if redis_url:
        components.append(queue_component(redis_url))
    components.append(hub_component(redis_url))
    if scheduler:
        components.append(scheduler_component())
    return components
