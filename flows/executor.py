"""The one interface every executor implements, and the errors it may raise.

Two executors exist: the runner's ``PlaywrightExecutor`` (``runner/``) and the hub's
executor that ships each command to the agent's Chrome extension (``api/``). Flows only
ever see this protocol and these exceptions; nothing Playwright- or WebSocket-specific
crosses it.
"""

from __future__ import annotations

from typing import Any, Protocol

from flows.commands import Command


class CommandError(Exception):
    """A command could not be carried out. ``code`` is the seed error code that a flow
    reports when it has no more precise one."""

    code = "command_failed"

    def __init__(self, message: str, *, command: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.command = command


class CommandTimeout(CommandError):
    """The command did not finish within its timeout (element never appeared, page
    never loaded, 60 s end-to-end limit)."""

    code = "command_timeout"


class ElementNotFound(CommandTimeout):
    """No selector matched an element within the command's timeout."""


class Disconnected(CommandError):
    """The executor lost its browser (extension socket dropped, browser crashed)."""

    code = "disconnected"


class Cancelled(CommandError):
    """The task was cancelled, or the runner lost its lease; stop before the next
    command."""

    code = "cancelled"


class Executor(Protocol):
    """Performs atomic commands on one agent's page."""

    async def run(self, command: Command) -> dict[str, Any]:
        """Carry out ``command`` and return its ``data`` object (see the command's
        docstring). Raises :class:`CommandError` or a subclass on failure."""
        ...
