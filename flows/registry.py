"""Which flow runs a task: ``(platform, action)`` → :class:`Flow`.

Every action and platform of the API document is accepted at dispatch (``ACTIONS``,
``PLATFORMS``); only the pairs in ``FLOWS`` run, the rest fail with
``action_not_implemented``.
"""

from __future__ import annotations

from typing import Any, Protocol

from flows.catalog import ACTIONS, PLATFORMS
from flows.context import FlowContext
from flows.facebook import FacebookPost, FacebookPostToGroups
from flows.twitter import TwitterPost

__all__ = ["ACTIONS", "FLOWS", "PLATFORMS", "Flow", "get_flow", "is_implemented"]


class Flow(Protocol):
    """A platform action. ``run`` publishes and returns the task's result; ``verify``
    (after a crash past the point of no return) looks for what ``run`` published and
    returns the same result shape, or ``None`` when it is not there."""

    async def run(self, ctx: FlowContext) -> dict[str, Any]: ...

    async def verify(self, ctx: FlowContext) -> dict[str, Any] | None: ...


FLOWS: dict[tuple[str, str], Flow] = {
    ("facebook", "post"): FacebookPost(),
    ("facebook", "post-to-groups"): FacebookPostToGroups(),
    ("twitter", "post"): TwitterPost(),
}


def get_flow(platform: str, action: str) -> Flow | None:
    """The flow for ``platform`` + ``action``, or ``None`` if it is not implemented."""
    return FLOWS.get((platform, action))


def is_implemented(platform: str, action: str) -> bool:
    return (platform, action) in FLOWS
