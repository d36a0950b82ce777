"""The background components a server process runs next to the HTTP API."""

from __future__ import annotations

from api.app import Lifespan
from api.context import AppContext
from api.queue import queue_component


def components_for(context: AppContext, *, redis_url: str | None) -> list[Lifespan]:
    """What runs inside an API process: the task queue when Redis is configured."""
    components: list[Lifespan] = []
    if redis_url:
        components.append(queue_component(redis_url))
    return components
