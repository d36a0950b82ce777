"""``HubExecutor``: the flows' atomic commands carried out by the agent's Chrome
extension, one ``command`` frame and one ``result`` frame each."""

from __future__ import annotations

from typing import Any

from api.hub.connection import AgentConnection
from api.hub.protocol import command_error
from flows.commands import Command
from flows.executor import CommandError


class HubExecutor:
    """Implements :class:`flows.executor.Executor` over an extension's socket.

    ``args`` go out exactly as :meth:`flows.commands._Command.args` gives them; media URLs
    of an ``upload`` stay as the task has them (``/api/media-proxy/...`` is resolved by
    the extension against its server URL)."""

    def __init__(self, connection: AgentConnection) -> None:
        self.connection = connection

    async def run(self, command: Command) -> dict[str, Any]:
        result = await self.connection.request(command.cmd, command.args())
        if not result.ok:
            raise command_error(command.cmd, result.error)
        if result.data is None:
            return {}
        if not isinstance(result.data, dict):
            raise CommandError(
                f"{command.cmd} returned {type(result.data).__name__}, not an object",
                command=command.cmd,
            )
        return result.data
