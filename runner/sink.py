"""The database-backed TaskSink: every log entry, step change and outreach attempt of a
running flow is written (and committed) as it happens, so ``GET /api/tasks/:id`` shows
the task live."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

from sqlmodel import Session

from api.context import AppContext
from api.db.models import TaskStatus
from api.services import execution
from api.services.execution import TaskRun
from flows.sink import LogEntry, OutreachAttempt

T = TypeVar("T")


class DbSink:
    def __init__(self, context: AppContext, run: TaskRun) -> None:
        self.context = context
        self.run = run
        self.last_error_index: int | None = None
        self.stop_reason: str | None = None

    async def _write(self, work: Callable[[Session], T]) -> T:
        def in_unit() -> T:
            with self.context.db.unit() as session:
                return work(session)

        return await asyncio.to_thread(in_unit)

    async def log(self, entry: LogEntry) -> None:
        index = await self._write(
            lambda s: execution.append_log(
                s,
                self.run.task_id,
                ts=entry.ts,
                step=entry.step,
                status=entry.status,
                message=entry.message,
                data=entry.data,
                error_code=entry.error_code,
            )
        )
        if entry.status == "error":
            self.last_error_index = index

    async def current_step(self, step: str | None) -> None:
        await self._write(lambda s: execution.set_current_step(s, self.run.task_id, step))

    async def point_of_no_return(self) -> None:
        await self._write(lambda s: execution.mark_point_of_no_return(s, self.run.task_id))

    async def outreach(self, attempt: OutreachAttempt) -> None:
        await self._write(
            lambda s: execution.add_outreach(
                s,
                self.run,
                result=attempt.result,
                target_url=attempt.target_url,
                target_name=attempt.target_name,
                message_sent=attempt.message_sent,
                error_message=attempt.error_message,
            )
        )

    async def should_stop(self) -> bool:
        def check(session: Session) -> str | None:
            return execution.status_of(session, self.run.task_id)

        status = await self._write(check)
        if status == TaskStatus.cancelled:
            self.stop_reason = "cancelled"
            return True
        return False
