"""What a flow sees while it runs: its params, the site origins, the executor behind
``ctx.do`` and the sink behind the step log.

Lives apart from :mod:`flows.engine` so platform modules can import it while the engine
imports the registry that imports them.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from types import TracebackType
from typing import Any, NoReturn, TypeVar

from pydantic import BaseModel

from flows.catalog import ParamsError, validate_params
from flows.commands import Command
from flows.executor import (
    Cancelled,
    CommandError,
    CommandTimeout,
    Disconnected,
    ElementNotFound,
    Executor,
)
from flows.sink import LogEntry, TaskSink

#: How often a long pause wakes up to ask the sink whether the task should stop.
PAUSE_POLL_S = 1.0


@dataclass(frozen=True)
class Origins:
    """Where each site lives. Every URL a flow opens or recognises is built from these,
    so tests point flows at local look-alike pages."""

    facebook: str = "https://www.facebook.com"
    twitter: str = "https://x.com"

    def __post_init__(self) -> None:
        object.__setattr__(self, "facebook", self.facebook.rstrip("/"))
        object.__setattr__(self, "twitter", self.twitter.rstrip("/"))


@dataclass(frozen=True)
class FlowTimeouts:
    """How long flows wait for the page, in milliseconds. The defaults suit the real
    sites; tests shorten them to reach timeout paths quickly."""

    element_ms: int = 10_000
    page_ready_ms: int = 15_000
    outcome_ms: int = 30_000
    find_post_ms: int = 5_000
    upload_per_file_ms: int = 10_000


class FlowFailure(Exception):
    """A flow gave up with a seed error code (``fb_login_required``, ``x_duplicate``…)."""

    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(f"{code}: {message}" if message else code)
        self.code = code
        self.message = message or code


def unknown_code(platform: str) -> str:
    """The catch-all error code of a platform."""
    return "x_unknown" if platform == "twitter" else "fb_unknown"


def error_code_of(exc: BaseException, platform: str) -> str:
    """The seed error code an exception stands for."""
    if isinstance(exc, FlowFailure):
        return exc.code
    if isinstance(exc, Cancelled):
        return "cancelled"
    if isinstance(exc, Disconnected):
        return "disconnected"
    if isinstance(exc, CommandTimeout | TimeoutError):
        return "command_timeout"
    return unknown_code(platform)


def error_message_of(exc: BaseException) -> str:
    if isinstance(exc, FlowFailure | CommandError):
        return exc.message
    return str(exc) or type(exc).__name__


class Step:
    """One step of a flow: ``async with ctx.step("submit") as step:``.

    On entry it records the current step; on success it appends an ``ok`` entry with
    ``{"durationMs": …, **step.data}``; on failure an ``error`` entry carrying the error
    code (``warn`` for a cancellation) and lets the exception propagate.
    """

    __slots__ = ("_ctx", "_started", "data", "message", "name")

    def __init__(self, ctx: FlowContext, name: str, data: dict[str, Any]) -> None:
        self._ctx = ctx
        self.name = name
        self.data = data
        self.message = ""
        self._started = 0.0

    async def __aenter__(self) -> Step:
        self._ctx.current_step = self.name
        await self._ctx.sink.current_step(self.name)
        self._started = time.perf_counter()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        duration_ms = round((time.perf_counter() - self._started) * 1000)
        data = {"durationMs": duration_ms, **self.data}
        if exc is None:
            await self._ctx.sink.log(LogEntry(self.name, "ok", self.message, data))
            return
        if not isinstance(exc, Exception):
            # Task cancellation or the flow's deadline: the engine writes that entry.
            return
        self._ctx.logged_error = exc
        if isinstance(exc, Cancelled):
            await self._ctx.sink.log(LogEntry(self.name, "warn", exc.message, data))
            return
        await self._ctx.sink.log(
            LogEntry(
                self.name,
                "error",
                error_message_of(exc),
                data,
                error_code_of(exc, self._ctx.platform),
            )
        )
        self._ctx.failed_step = self.name


class FlowContext:
    """Everything one run of a flow needs. Flows call :meth:`step`, :meth:`do`,
    :meth:`point_of_no_return`, :meth:`pause` and :meth:`fail`; they may keep a partial
    result in :attr:`result` so a failed or cancelled run still reports what it did."""

    def __init__(
        self,
        *,
        platform: str,
        action: str,
        params: dict[str, Any],
        origins: Origins,
        executor: Executor,
        sink: TaskSink,
        timeout_s: float | None = None,
        timeouts: FlowTimeouts | None = None,
    ) -> None:
        self.platform = platform
        self.action = action
        self.params = params
        self.origins = origins
        self.executor = executor
        self.sink = sink
        self.timeout_s = timeout_s
        self.timeouts = timeouts or FlowTimeouts()
        self.current_step: str | None = None
        self.failed_step: str | None = None
        self.logged_error: BaseException | None = None
        self.passed_point_of_no_return = False
        self.result: dict[str, Any] | None = None
        self._deadline: asyncio.Timeout | None = None

    def step(self, name: str, **data: Any) -> Step:
        """A timed, logged step; ``data`` goes into its log entry."""
        return Step(self, name, data)

    async def do(self, command: Command, *, not_found: str | None = None) -> dict[str, Any]:
        """Run one atomic command. Raises :class:`Cancelled` first if the task should stop
        and the flow has not passed its point of no return. ``not_found`` turns an
        :class:`ElementNotFound` into a :class:`FlowFailure` with that code."""
        if not self.passed_point_of_no_return and await self.sink.should_stop():
            raise Cancelled("Task cancelled", command=command.cmd)
        if not_found is None:
            return await self.executor.run(command)
        try:
            return await self.executor.run(command)
        except ElementNotFound as exc:
            raise FlowFailure(not_found, exc.message) from exc

    async def point_of_no_return(self) -> None:
        """Record, durably, that the next click publishes. From here on the task is
        verified after a crash, never retried, and cancellation no longer interrupts."""
        if self.passed_point_of_no_return:
            return
        if await self.sink.should_stop():
            raise Cancelled("Task cancelled before publishing")
        await self.sink.point_of_no_return()
        self.passed_point_of_no_return = True

    async def pause(self, seconds: float) -> None:
        """Wait ``seconds`` between units of work (e.g. groups) without spending the
        flow's time budget. A safe point: raises :class:`Cancelled` if the task should
        stop, even past the point of no return."""
        if self._deadline is not None and self._deadline.when() is not None:
            self._deadline.reschedule(self._deadline.when() + seconds)  # type: ignore[operator]
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        while True:
            if await self.sink.should_stop():
                raise Cancelled("Task cancelled")
            remaining = end - loop.time()
            if remaining <= 0:
                return
            await asyncio.sleep(min(remaining, PAUSE_POLL_S))

    def renew_deadline(self) -> None:
        """Give the flow a fresh ``timeout_s`` budget from now (one per target when a
        flow works through several)."""
        if self._deadline is not None and self.timeout_s is not None:
            self._deadline.reschedule(asyncio.get_running_loop().time() + self.timeout_s)

    def fail(self, code: str, message: str = "") -> NoReturn:
        """Stop the flow with a seed error code."""
        raise FlowFailure(code, message)


P = TypeVar("P", bound=BaseModel)


def read_params(ctx: FlowContext, model: type[P]) -> P:
    """The task's params checked as the API checks them at dispatch, as ``model``; a bad
    shape fails the flow with ``invalid_params`` before anything is opened."""
    try:
        clean = validate_params(ctx.action, ctx.platform, ctx.params)
    except ParamsError as exc:
        raise FlowFailure("invalid_params", str(exc)) from exc
    return model.model_validate(clean)
