"""The seed's WebSocket frames, the close codes the hub uses, and how an extension's
error string maps to the flows' command errors.

Server → client: ``{"type": "command", "id", "cmd", "args"}`` and ``{"type": "ping"}``
(and ``{"type": "pong"}`` answering a client's ``ping``). Client → server: ``hello``,
``pong``, ``result`` (and ``ping``, answered with ``pong``: an MV3 service worker may
keep itself alive that way). Frames of unknown types are ignored.
"""

from __future__ import annotations

import json
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from flows.executor import CommandError, CommandTimeout, ElementNotFound

#: Normal closure, used when the server shuts down (clients reconnect).
CLOSE_GOING_AWAY = 1001
#: The agent's token was rotated or the agent deleted: do not reconnect with this token.
CLOSE_REVOKED = 1008
#: No frame arrived within the idle timeout.
CLOSE_IDLE = 4000
#: A newer connection for the same agent took over: do not reconnect at once.
CLOSE_REPLACED = 4001

PING = {"type": "ping"}
PONG = {"type": "pong"}


class ClientFrame(BaseModel):
    """Any frame an extension sends: the fields of every seed type, all optional but
    ``type``."""

    model_config = ConfigDict(extra="ignore")

    type: str
    id: str | None = None
    ok: bool | None = None
    data: Any = None
    error: str | None = None
    version: str | None = None


class ResultFrame(BaseModel):
    """``{"type": "result", "id", "ok", "data"?, "error"?}``."""

    type: Literal["result"] = "result"
    id: str
    ok: bool
    data: Any = None
    error: str | None = None


class CommandFrame(BaseModel):
    """``{"type": "command", "id", "cmd", "args"}``."""

    type: Literal["command"] = "command"
    id: str = Field(default_factory=lambda: str(uuid.uuid4()))
    cmd: str
    args: dict[str, Any]


def parse_client_frame(text: str) -> ClientFrame | None:
    """The frame in ``text``, or None if it is not a JSON object with a string ``type``."""
    try:
        raw = json.loads(text)
    except ValueError:
        return None
    if not isinstance(raw, dict):
        return None
    try:
        return ClientFrame.model_validate(raw)
    except ValidationError:
        return None


def as_result(frame: ClientFrame) -> ResultFrame | None:
    """A ``result`` frame, or None when it lacks an ``id`` or ``ok``."""
    if frame.id is None or frame.ok is None:
        return None
    return ResultFrame(id=frame.id, ok=frame.ok, data=frame.data, error=frame.error)


def encode(frame: BaseModel | dict[str, Any]) -> str:
    body = frame.model_dump(exclude_none=True) if isinstance(frame, BaseModel) else frame
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)


def command_error(cmd: str, error: str | None) -> CommandError:
    """The flows' error for ``{"ok": false, "error": error}``: an error starting with
    ``timeout`` is a :class:`CommandTimeout`, one starting with ``not found`` an
    :class:`ElementNotFound` (so flows map codes as they do with the runner), anything
    else a :class:`CommandError`."""
    message = (error or "").strip() or f"{cmd} failed"
    lowered = message.lower()
    if lowered.startswith("not found"):
        return ElementNotFound(message, command=cmd)
    if lowered.startswith("timeout"):
        return CommandTimeout(message, command=cmd)
    return CommandError(message, command=cmd)
