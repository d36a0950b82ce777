"""The database-backed TaskSink of a running task.

Log entries, step changes and outreach attempts go to the database in order through one
background writer, so a command never waits for a write: ``GET /api/tasks/:id`` shows
them within milliseconds. The point of no return is the exception: it returns only once
it (and everything before it) is committed. Cancellation is noticed by one poller per
process (:class:`CancelWatch`) that reads the status of every running task in one query
every ``STOP_POLL_S``, so ``should_stop`` costs nothing per command, and ten running
tasks cost what one does.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from sqlalchemy import Connection
from sqlmodel import Session

from api.context import AppContext
from api.services import execution
from api.services.execution import TaskRun
from flows.executor import Cancelled
from flows.sink import LogEntry, OutreachAttempt

log = logging.getLogger(__name__)

STOP_POLL_S = 0.25

Write = Callable[[Session], Any]


class CancelWatch:
    """Marks the sinks of cancelled tasks: while any sink is open, one loop reads which
    of their tasks are cancelled every ``STOP_POLL_S``, in one query."""

    def __init__(self, context: AppContext) -> None:
        self.context = context
        self._sinks: dict[str, DbSink] = {}
        self._loop: asyncio.Task[None] | None = None

    @classmethod
    def of(cls, context: AppContext) -> CancelWatch:
        """The context's watch (one per process), made on first use."""
        if context.cancel_watch is None:
            context.cancel_watch = cls(context)
        return context.cancel_watch

    def add(self, sink: DbSink) -> None:
        self._sinks[sink.run.task_id] = sink
        if self._loop is None or self._loop.done() or self._loop.get_loop().is_closed():
            self._loop = asyncio.create_task(self._watch(), name="cancel-watch")

    def discard(self, sink: DbSink) -> None:
        if self._sinks.get(sink.run.task_id) is sink:
            del self._sinks[sink.run.task_id]

    async def _watch(self) -> None:
        while self._sinks:
            await asyncio.sleep(STOP_POLL_S)
            task_ids = list(self._sinks)
            if not task_ids:
                return
            try:
                cancelled = await self.context.db.run(
                    partial(execution.cancelled_among, task_ids=task_ids), write=False
                )
            except Exception as error:
                log.warning("could not read the status of running tasks: %s", error)
                continue
            for task_id in cancelled:
                sink = self._sinks.get(task_id)
                if sink is not None and sink.stop_reason is None:
                    sink.stop_reason = "cancelled"


@dataclass(frozen=True)
class _Step:
    step: str | None


# What a sink writes, in order: a log entry's row, a step change, or any other write.
Item = dict[str, Any] | _Step | Write


class DbSink:
    def __init__(self, context: AppContext, run: TaskRun) -> None:
        self.context = context
        self.run = run
        self.stop_reason: str | None = None
        self._queue: asyncio.Queue[tuple[Item | None, asyncio.Future[None] | None]] = (
            asyncio.Queue()
        )
        self._writer: asyncio.Task[None] | None = None
        self._watch = CancelWatch.of(context)

    async def __aenter__(self) -> DbSink:
        self._writer = asyncio.create_task(self._write_loop(), name=f"sink-{self.run.task_id}")
        self._watch.add(self)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._watch.discard(self)
        await self.flush()
        self._queue.put_nowait((None, None))
        if self._writer is not None:
            await self._writer

    def _submit(self, item: Item) -> None:
        self._queue.put_nowait((item, None))

    async def flush(self) -> None:
        """Return once everything submitted so far is committed."""
        if self._writer is None or self._writer.done():
            return
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((None, done))
        await done

    async def _write_loop(self) -> None:
        while True:
            item, done = await self._queue.get()
            batch: list[Item] = []
            waiters: list[asyncio.Future[None]] = []
            stop = False
            while True:
                if item is not None:
                    batch.append(item)
                elif done is not None:
                    waiters.append(done)
                else:
                    stop = True
                if self._queue.empty() or stop:
                    break
                item, done = self._queue.get_nowait()
            if batch:
                try:
                    await self._commit(batch)
                except Exception:
                    log.exception("could not write the log of task %s", self.run.task_id)
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)
            if stop:
                return

    async def _commit(self, batch: list[Item]) -> None:
        """Write ``batch`` in one transaction: the log rows in order, and only the last
        step change. Log entries and step changes (nearly every batch) are compiled Core
        statements that share a group commit with the other tasks' sinks on SQLite; a
        batch with another write (an outreach attempt) goes through an ORM session."""
        task_id = self.run.task_id
        rows: list[dict[str, Any]] = []
        step: _Step | None = None
        writes: list[Write] = []
        for item in batch:
            if isinstance(item, dict):
                rows.append(item)
            elif isinstance(item, _Step):
                step = item
            else:
                writes.append(item)

        def core(connection: Connection) -> None:
            if rows:
                execution.append_logs(connection, rows)
            if step is not None:
                execution.set_current_step(connection, task_id, step.step)

        if not writes:
            await self.context.db.run_core_batched(core)
            return

        def in_session(session: Session) -> None:
            core(session.connection())
            for write in writes:
                write(session)

        await self.context.db.run(in_session, write=True)

    # -- TaskSink --------------------------------------------------------------------

    async def log(self, entry: LogEntry) -> None:
        self._submit(
            {
                "task_id": self.run.task_id,
                "ts": entry.ts,
                "step": entry.step,
                "status": entry.status,
                "message": entry.message,
                "data": entry.data,
                "error_code": entry.error_code,
            }
        )

    async def current_step(self, step: str | None) -> None:
        self._submit(_Step(step))

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
