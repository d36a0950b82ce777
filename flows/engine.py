"""The flow engine: runs a registered flow against an executor, times and logs each
step, and turns whatever happened into a :class:`FlowOutcome` with a seed error code.

``run_flow`` and ``verify_flow`` never raise for flow or command errors; only the
cancellation of the calling asyncio task propagates.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from flows import registry
from flows.context import (
    FlowContext,
    FlowFailure,
    FlowTimeouts,
    Origins,
    error_code_of,
    error_message_of,
    unknown_code,
)
from flows.executor import Cancelled, Executor
from flows.sink import LogEntry, TaskSink

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "FlowContext",
    "FlowFailure",
    "FlowOutcome",
    "FlowTimeouts",
    "Origins",
    "run_flow",
    "verify_flow",
]

#: The default budget of one run (renewed per target by multi-target flows; pauses
#: between targets do not count).
DEFAULT_TIMEOUT_S = 60.0

OutcomeStatus = Literal["completed", "failed", "cancelled"]


@dataclass(frozen=True)
class FlowOutcome:
    """How a run ended. ``result`` is the flow's result when completed and its partial
    result (if any) otherwise; ``passed_point_of_no_return`` tells the caller that a
    failed run must be verified, never retried."""

    status: OutcomeStatus
    result: dict[str, Any] | None = None
    error_code: str | None = None
    error_message: str | None = None
    passed_point_of_no_return: bool = False
    step: str | None = None


async def run_flow(
    action: str,
    platform: str,
    params: dict[str, Any],
    executor: Executor,
    sink: TaskSink,
    origins: Origins | None = None,
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    timeouts: FlowTimeouts | None = None,
    timeout_code: str = "command_timeout",
) -> FlowOutcome:
    """Run the flow registered for ``(platform, action)`` with ``params``. Past
    ``timeout_s`` it fails with ``timeout_code`` (a runner passes ``task_timeout`` with
    the task's ``timeoutSec``)."""
    flow = registry.get_flow(platform, action)
    if flow is None:
        return await _not_implemented(action, platform, sink)
    ctx = _context(action, platform, params, executor, sink, origins, timeout_s, timeouts)
    return await _execute(ctx, flow.run, timeout_s, timeout_code)


async def verify_flow(
    action: str,
    platform: str,
    params: dict[str, Any],
    executor: Executor,
    sink: TaskSink,
    origins: Origins | None = None,
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    timeouts: FlowTimeouts | None = None,
    timeout_code: str = "command_timeout",
) -> FlowOutcome:
    """After a run died past its point of no return, look on the account for what it
    was publishing: ``completed`` with the flow's result (``result["post"]["url"]``) if
    found, else ``failed`` with ``outcome_unknown``. Never publishes."""
    flow = registry.get_flow(platform, action)
    if flow is None:
        return await _not_implemented(action, platform, sink)
    ctx = _context(action, platform, params, executor, sink, origins, timeout_s, timeouts)
    outcome = await _execute(ctx, flow.verify, timeout_s, timeout_code)
    if outcome.status == "completed" and outcome.result is not None:
        return FlowOutcome("completed", outcome.result, passed_point_of_no_return=True)
    if outcome.status == "cancelled":
        return outcome
    if outcome.status == "completed":
        message = "The post was not found on the account"
    else:
        message = f"Could not verify ({outcome.error_code}: {outcome.error_message})"
    await sink.log(LogEntry("verify", "error", message, None, "outcome_unknown"))
    return FlowOutcome(
        "failed",
        None,
        "outcome_unknown",
        message,
        passed_point_of_no_return=True,
        step=outcome.step,
    )


def _context(
    action: str,
    platform: str,
    params: dict[str, Any],
    executor: Executor,
    sink: TaskSink,
    origins: Origins | None,
    timeout_s: float,
    timeouts: FlowTimeouts | None,
) -> FlowContext:
    return FlowContext(
        platform=platform,
        action=action,
        params=params,
        origins=origins or Origins(),
        executor=executor,
        sink=sink,
        timeout_s=timeout_s,
        timeouts=timeouts,
    )


async def _not_implemented(action: str, platform: str, sink: TaskSink) -> FlowOutcome:
    message = f"No flow for action {action!r} on platform {platform!r}"
    await sink.log(LogEntry("dispatch", "error", message, None, "action_not_implemented"))
    return FlowOutcome("failed", None, "action_not_implemented", message)


async def _execute(
    ctx: FlowContext,
    body: Callable[[FlowContext], Awaitable[dict[str, Any] | None]],
    timeout_s: float,
    timeout_code: str = "command_timeout",
) -> FlowOutcome:
    result: dict[str, Any] | None = None
    try:
        try:
            async with asyncio.timeout(timeout_s) as deadline:
                ctx._deadline = deadline
                result = await body(ctx)
        except TimeoutError:
            if ctx._deadline is None or not ctx._deadline.expired():
                raise
            message = f"The flow exceeded its {timeout_s:g} s budget"
            await ctx.sink.log(
                LogEntry(ctx.current_step or "flow", "error", message, None, timeout_code)
            )
            return _failed(ctx, timeout_code, message)
    except Cancelled as exc:
        if exc is not ctx.logged_error:
            await ctx.sink.log(LogEntry(ctx.current_step or "flow", "warn", exc.message))
        return FlowOutcome(
            "cancelled",
            ctx.result,
            passed_point_of_no_return=ctx.passed_point_of_no_return,
            step=ctx.current_step,
        )
    except FlowFailure as exc:
        await _log_unlogged(ctx, exc)
        return _failed(ctx, exc.code, exc.message)
    except Exception as exc:
        await _log_unlogged(ctx, exc)
        return _failed(ctx, error_code_of(exc, ctx.platform), error_message_of(exc))
    finally:
        await ctx.sink.current_step(None)
    return FlowOutcome("completed", result, passed_point_of_no_return=ctx.passed_point_of_no_return)


async def _log_unlogged(ctx: FlowContext, exc: Exception) -> None:
    """Steps log their own failures; an error raised between steps is logged here."""
    if exc is ctx.logged_error:
        return
    code = error_code_of(exc, ctx.platform)
    if code == unknown_code(ctx.platform) and not isinstance(exc, FlowFailure):
        message = f"{type(exc).__name__}: {error_message_of(exc)}"
    else:
        message = error_message_of(exc)
    await ctx.sink.log(LogEntry(ctx.current_step or "flow", "error", message, None, code))


def _failed(ctx: FlowContext, code: str, message: str) -> FlowOutcome:
    return FlowOutcome(
        "failed",
        ctx.result,
        code,
        message,
        passed_point_of_no_return=ctx.passed_point_of_no_return,
        step=ctx.failed_step or ctx.current_step,
    )
