"""The atomic command vocabulary shared by flows, the runner and the WebSocket hub.

Each model is exactly the ``args`` object of a seed ``command`` frame
(``{"type": "command", "id": ..., "cmd": <name>, "args": {...}}``); ``cmd`` is the
discriminator. Field names are camelCase on the wire, as in the API document's
"Atomic commands" table.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

CLICK_TIMEOUT_MS = 10_000
TYPE_TIMEOUT_MS = 10_000
NAVIGATE_TIMEOUT_MS = 30_000
WAIT_TIMEOUT_MS = 10_000
COMMAND_END_TO_END_TIMEOUT_S = 60.0


class _Command(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    def args(self) -> dict[str, Any]:
        """The ``args`` object of the wire frame (everything but ``cmd``)."""
        return self.model_dump(by_alias=True, exclude={"cmd"}, exclude_none=True)


class Navigate(_Command):
    """Open ``url`` in the agent's tab. Returns ``{}``."""

    cmd: Literal["navigate"] = "navigate"
    url: str
    wait_for_load: bool = Field(True, alias="waitForLoad")
    timeout_ms: int = Field(NAVIGATE_TIMEOUT_MS, alias="timeoutMs", gt=0)


class Click(_Command):
    """Click the first selector of the ordered fallback list that matches a visible
    element. Returns ``{"matched": <selector>}``. Trusted (real mouse) input."""

    cmd: Literal["click"] = "click"
    selectors: list[str] = Field(min_length=1)
    timeout_ms: int = Field(CLICK_TIMEOUT_MS, alias="timeoutMs", gt=0)


class Type(_Command):
    """Focus ``selector`` and type ``text`` as real keyboard input; ``\\n`` is typed as
    an Enter key press (Draft.js and Lexical drop inserted newlines). Returns ``{}``."""

    cmd: Literal["type"] = "type"
    selector: str
    text: str
    timeout_ms: int = Field(TYPE_TIMEOUT_MS, alias="timeoutMs", gt=0)


class Wait(_Command):
    """Sleep ``seconds``, or wait until ``selector`` reaches ``state``. Returns ``{}``."""

    cmd: Literal["wait"] = "wait"
    seconds: float | None = Field(None, ge=0)
    selector: str | None = None
    state: Literal["visible", "attached", "hidden", "detached"] = "visible"
    timeout_ms: int = Field(WAIT_TIMEOUT_MS, alias="timeoutMs", gt=0)


class Evaluate(_Command):
    """Evaluate a JavaScript expression in the page. Returns ``{"result": ...}``."""

    cmd: Literal["evaluate"] = "evaluate"
    expression: str
    await_promise: bool = Field(False, alias="awaitPromise")


class Screenshot(_Command):
    """Capture the visible page. Returns ``{"dataUri": "data:image/png;base64,..."}``."""

    cmd: Literal["screenshot"] = "screenshot"
    format: Literal["png", "jpeg"] = "png"
    quality: int | None = Field(None, ge=0, le=100)


class Cookies(_Command):
    """Read the browser's cookies (for ``urls`` if given). Returns ``{"cookies": [...]}``."""

    cmd: Literal["cookies"] = "cookies"
    urls: list[str] | None = None


class UploadFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str
    type: str
    name: str | None = None


class Upload(_Command):
    """Attach ``files`` (fetched from their URLs, in order) to the file input matched by
    ``selector``. Returns ``{"count": n}``."""

    cmd: Literal["upload"] = "upload"
    selector: str
    files: list[UploadFile] = Field(min_length=1)
    timeout_ms: int = Field(CLICK_TIMEOUT_MS, alias="timeoutMs", gt=0)


class Press(_Command):
    """Press a key (Playwright key names: ``Enter``, ``Escape``, ``Control+a``), in
    ``selector`` if given, else in the focused element. Returns ``{}``."""

    cmd: Literal["press"] = "press"
    key: str
    selector: str | None = None
    timeout_ms: int = Field(TYPE_TIMEOUT_MS, alias="timeoutMs", gt=0)


Command = Annotated[
    Navigate | Click | Type | Wait | Evaluate | Screenshot | Cookies | Upload | Press,
    Field(discriminator="cmd"),
]

COMMAND_NAMES: tuple[str, ...] = (
    "navigate",
    "click",
    "type",
    "wait",
    "evaluate",
    "screenshot",
    "cookies",
    "upload",
    "press",
)

_command_adapter: TypeAdapter[Command] = TypeAdapter(Command)


def parse_command(cmd: str, args: dict[str, Any]) -> Command:
    """Build a command from a wire frame's ``cmd`` and ``args``."""
    return _command_adapter.validate_python({"cmd": cmd, **args})
