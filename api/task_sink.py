"""The database-backed TaskSink of a running task.

Log entries, step changes and outreach attempts go to the database in order through one
background writer, so a command never waits for a write: ``GET /api/tasks/:id`` shows
them within milliseconds. The point of no return is the exception: it returns only once
it (and everything before it) is committed. Cancellation is noticed by a poller that
reads the task's status every ``STOP_POLL_S``, so ``should_stop`` costs nothing per
command.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from sqlmodel import Session

from api.context import AppContext
from api.db.models import TaskStatus
from api.services import execution
from api.services.execution import TaskRun
from flows.executor import Cancelled
from flows.sink import LogEntry, OutreachAttempt

log = logging.getLogger(__name__)

STOP_POLL_S = 0.25

Write = Callable[[Session], Any]


class DbSink:
    def __init__(self, context: AppContext, run: TaskRun) -> None:
        self.context = context
        self.run = run
        self.stop_reason: str | None = None
        self._queue: asyncio.Queue[tuple[Write | None, asyncio.Future[None] | None]] = (
            asyncio.Queue()
        )
        self._writer: asyncio.Task[None] | None = None
        self._poller: asyncio.Task[None] | None = None

    async def __aenter__(self) -> DbSink:
        self._writer = asyncio.create_task(self._write_loop(), name=f"sink-{self.run.task_id}")
        self._poller = asyncio.create_task(self._poll_loop(), name=f"stop-{self.run.task_id}")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
        await self.flush()
        self._queue.put_nowait((None, None))
        if self._writer is not None:
            await self._writer

    def _submit(self, write: Write) -> None:
        self._queue.put_nowait((write, None))

    async def flush(self) -> None:
        """Return once everything submitted so far is committed."""
        if self._writer is None or self._writer.done():
            return
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((None, done))
        await done

    async def _write_loop(self) -> None:
        while True:
            write, done = await self._queue.get()
            batch: list[Write] = []
            waiters: list[asyncio.Future[None]] = []
            stop = False
            while True:
                if write is not None:
                    batch.append(write)
                elif done is not None:
                    waiters.append(done)
                else:
                    stop = True
                if self._queue.empty() or stop:
                    break
                write, done = self._queue.get_nowait()
            if batch:
                try:
                    await asyncio.to_thread(self._commit, batch)
                except Exception:
                    log.exception("could not write the log of task %s", self.run.task_id)
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)
            if stop:
                return

    def _commit(self, batch: list[Write]) -> None:
        with self.context.db.unit() as session:
            for write in batch:
                write(session)

    async def _poll_loop(self) -> None:
        def status(session: Session) -> str | None:
            return execution.status_of(session, self.run.task_id)

        def read() -> str | None:
            with self.context.db.unit(write=False) as session:
                return status(session)

        while self.stop_reason is None:
            await asyncio.sleep(STOP_POLL_S)
            try:
                if await asyncio.to_thread(read) == TaskStatus.cancelled:
                    self.stop_reason = "cancelled"
            except Exception as error:
                log.warning("could not read the status of %s: %s", self.run.task_id, error)

    # -- TaskSink --------------------------------------------------------------------

    async def log(self, entry: LogEntry) -> None:
        task_id = self.run.task_id
        self._submit(
            lambda s: execution.append_log(
                s,
                task_id,
                ts=entry.ts,
                step=entry.step,
                status=entry.status,
                message=entry.message,
                data=entry.data,
                error_code=entry.error_code,
            )
        )

    async def current_step(self, step: str | None) -> None:
        task_id = self.run.task_id
        self._submit(lambda s: execution.set_current_step(s, task_id, step))

    async def point_of_no_return(self) -> None:
        """Durable before the publishing click; refuses (raises ``Cancelled``) if the
        task was cancelled or this runner lost it in the meantime."""
        await self.flush()
        task_id, token = self.run.task_id, self.run.lease_token

        def mark() -> bool:
            with self.context.db.unit() as session:
                return execution.mark_point_of_no_return(session, task_id, token)

        if not await asyncio.to_thread(mark):
            self.stop_reason = self.stop_reason or "cancelled"
            raise Cancelled("The task was cancelled (or taken over) before publishing")

    async def outreach(self, attempt: OutreachAttempt) -> None:
        run = self.run
        self._submit(
            lambda s: execution.add_outreach(
                s,
                run,
                result=attempt.result,
                target_url=attempt.target_url,
                target_name=attempt.target_name,
                message_sent=attempt.message_sent,
                error_message=attempt.error_message,
            )
        )

    async def should_stop(self) -> bool:
        return self.stop_reason is not None
