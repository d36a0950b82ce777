"""Sessions: one unit of work per request or job, committed once.

Work that must only happen after the commit (enqueueing a task, waking a worker) is
registered with :func:`after_commit` and runs once the transaction is durable.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any, TypeVar

from anyio import CapacityLimiter, to_thread
from sqlalchemy import Connection, Engine, event
from sqlmodel import Session

from api.db.engine import WRITE_OPTION

log = logging.getLogger(__name__)
T = TypeVar("T")

_AFTER_COMMIT = "bredgio_after_commit"


class Database:
    """Owns the engine and hands out sessions.

    :meth:`run` and :meth:`run_core` move the work to a worker thread. On SQLite the
    number of those threads is capped (one writer, two readers): its writers are
    serialised anyway, its reads take microseconds, and every extra thread only adds
    hand-offs of the GIL (each SQLite call releases and retakes it), which cost more
    than the statements. PostgreSQL waits on the network, so it uses the shared pool."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._write_engine = engine.execution_options(**{WRITE_OPTION: True})
        self._read_engine = engine.execution_options(**{WRITE_OPTION: False})
        self._capped = engine.dialect.name == "sqlite"
        # Per event loop (a limiter belongs to the loop it was first used on).
        self._limiters: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, dict[bool, CapacityLimiter]
        ] = weakref.WeakKeyDictionary()
        self._batchers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _WriteBatcher] = (
            weakref.WeakKeyDictionary()
        )

    async def _in_thread(self, work: Callable[[], T], *, write: bool) -> T:
        limiter = None
        if self._capped:
            limiters = self._limiters.setdefault(asyncio.get_running_loop(), {})
            limiter = limiters.get(write)
            if limiter is None:
                limiter = limiters[write] = CapacityLimiter(1 if write else 2)
        return await to_thread.run_sync(work, limiter=limiter)

    def session(self, *, write: bool = True) -> Session:
        bind = self._write_engine if write else self._read_engine
        session = Session(bind, expire_on_commit=False)
        session.info["write"] = write
        return session

    @contextmanager
    def unit(self, *, write: bool = True) -> Iterator[Session]:
        """A session that commits when the block ends without error."""
        with self.session(write=write) as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    async def run(self, work: Callable[[Session], T], *, write: bool) -> T:
        """Run ``work`` in one unit of work on a worker thread (one hop off the event
        loop for the whole of it)."""

        def in_unit() -> T:
            with self.unit(write=write) as session:
                return work(session)

        return await self._in_thread(in_unit, write=write)

    async def run_core(self, work: Callable[[Connection], T], *, write: bool) -> T:
        """Like :meth:`run` on a bare Core connection (no ORM session): for the hottest
        routes, where the session's bookkeeping is most of the cost."""
        engine = self._write_engine if write else self._read_engine

        def in_transaction() -> T:
            with engine.begin() as connection:
                return work(connection)

        return await self._in_thread(in_transaction, write=write)

    async def run_core_batched(self, work: Callable[[Connection], T]) -> T:
        """Like ``run_core(work, write=True)``; on SQLite, calls made while another is
        in flight share one transaction and one trip to the thread pool (a group
        commit: each caller gets its result once the shared COMMIT is durable). Each
        ``work`` must raise, if it raises, before writing anything that should not be
        committed: the others' writes in the batch are committed all the same."""
        if not self._capped:
            return await self.run_core(work, write=True)
        loop = asyncio.get_running_loop()
        batcher = self._batchers.get(loop)
        if batcher is None:
            batcher = self._batchers[loop] = _WriteBatcher(self)
        return await batcher.submit(work)

    def largest_write_batch(self) -> int:
        """The most calls :meth:`run_core_batched` has shared one transaction among."""
        return max((batcher.largest_batch for batcher in self._batchers.values()), default=0)

    def dispose(self) -> None:
        self.engine.dispose()


class _WriteBatcher:
    """Collects write work while a batch runs, and runs what gathered as the next one."""

    MAX_BATCH = 64

    def __init__(self, db: Database) -> None:
        self.db = db
        self.pending: list[tuple[Callable[[Connection], Any], asyncio.Future[Any]]] = []
        self.running = False
        self.largest_batch = 0
        self._drainer: asyncio.Task[None] | None = None  # kept referenced while it runs

    async def submit(self, work: Callable[[Connection], T]) -> T:
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self.pending.append((work, future))
        if not self.running:
            self.running = True
            self._drainer = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            while self.pending:
                batch = self.pending[: self.MAX_BATCH]
                del self.pending[: self.MAX_BATCH]
                works = [work for work, _ in batch]
                self.largest_batch = max(self.largest_batch, len(works))
                try:
                    outcomes = await self.db._in_thread(partial(self._run, works), write=True)
                except asyncio.CancelledError:  # the loop is closing
                    for _, future in batch + self.pending:
                        future.cancel()
                    raise
                for (_, future), (ok, value) in zip(batch, outcomes, strict=True):
                    if future.done():  # the caller went away
                        continue
                    if ok:
                        future.set_result(value)
                    else:
                        future.set_exception(value)
        finally:
            self.running = False

    def _run(self, works: list[Callable[[Connection], Any]]) -> list[tuple[bool, Any]]:
        outcomes: list[tuple[bool, Any]] = []
        try:
            with self.db._write_engine.begin() as connection:
                for work in works:
                    try:
                        outcomes.append((True, work(connection)))
                    except Exception as error:
                        outcomes.append((False, error))
        except Exception as error:  # nothing was committed
            return [(False, error)] * len(works)
        return outcomes


def is_write(session: Session) -> bool:
    """Whether ``session`` holds (or will take) the write lock."""
    return bool(session.info.get("write", True))


def after_commit(session: Session, callback: Callable[[], None]) -> None:
    """Run ``callback`` after ``session`` commits (dropped on rollback)."""
    session.info.setdefault(_AFTER_COMMIT, []).append(callback)


@event.listens_for(Session, "after_commit")
def _run_after_commit(session: Session) -> None:
    callbacks = session.info.pop(_AFTER_COMMIT, [])
    for callback in callbacks:
        try:
            callback()
        except Exception:  # a wake-up lost here is recovered by the reconciler
            log.exception("after-commit callback failed")


@event.listens_for(Session, "after_rollback")
def _drop_after_commit(session: Session) -> None:
    session.info.pop(_AFTER_COMMIT, None)
