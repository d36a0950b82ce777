"""The background components a server process runs next to the HTTP API."""

from __future__ import annotations

from api.app import Lifespan
from api.context import AppContext


def components_for(context: AppContext, *, embedded: bool) -> list[Lifespan]:
    """What runs inside the API process: in ``bredgio up`` (``embedded``) everything,
    in ``bredgio api`` only what must live next to the HTTP server."""
    return []
