"""Where a running flow reports what happens: the step log, the current step, the point
of no return and outreach attempts. The runner and the hub bind it to the database;
tests bind it to a list."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

StepStatus = Literal["info", "ok", "warn", "error"]
OutreachResult = Literal["sent", "failed", "skipped"]


@dataclass(frozen=True)
class LogEntry:
    """One task log entry, as in the API document's "Task log entries" table."""

    step: str
    status: StepStatus
    message: str = ""
    data: dict[str, Any] | None = None
    error_code: str | None = None
    ts: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass(frozen=True)
class OutreachAttempt:
    """One message-sending attempt for the OutreachLog stream."""

    result: OutreachResult
    target_url: str | None = None
    target_name: str | None = None
    message_sent: str | None = None
    error_message: str | None = None


class TaskSink(Protocol):
    async def log(self, entry: LogEntry) -> None:
        """Append an entry to the task's step log."""
        ...

    async def current_step(self, step: str | None) -> None:
        """Record the step the flow is on now (``None`` when it ends)."""
        ...

    async def point_of_no_return(self) -> None:
        """Durably record that the flow is about to perform its publishing click.
        Must be persisted before it returns: a task that dies after this is verified,
        never retried."""
        ...

    async def outreach(self, attempt: OutreachAttempt) -> None:
        """Append one attempt to the OutreachLog stream."""
        ...

    async def should_stop(self) -> bool:
        """True when the task was cancelled or the lease was lost; the engine checks it
        before every command that is not past the point of no return."""
        ...


class MemorySink:
    """A sink that keeps everything in lists (tests, benchmarks)."""

    def __init__(self) -> None:
        self.entries: list[LogEntry] = []
        self.steps: list[str | None] = []
        self.attempts: list[OutreachAttempt] = []
        self.passed_point_of_no_return = False
        self.stop_requested = False

    async def log(self, entry: LogEntry) -> None:
        self.entries.append(entry)

    async def current_step(self, step: str | None) -> None:
        self.steps.append(step)

    async def point_of_no_return(self) -> None:
        self.passed_point_of_no_return = True

    async def outreach(self, attempt: OutreachAttempt) -> None:
        self.attempts.append(attempt)

    async def should_stop(self) -> bool:
        return self.stop_requested
