"""The scheduler: turns due schedules into tasks, each fire exactly once.

A fire goes through :func:`api.services.tasks.dispatch`, the path of
``POST /api/agents/:id/command``. Its task and a :class:`ScheduleRun` row keyed
``(schedule_id, fire_at)`` are written in one transaction, so however many schedulers run
(inside ``bredgio api`` processes, ``bredgio scheduler`` processes, on several hosts) a fire
is recorded, and its task created, once. The key is the guarantee; the locks only keep
schedulers from tripping over it: on PostgreSQL each scheduler locks the due schedule it
handles with ``SELECT … FOR UPDATE SKIP LOCKED`` (others move on to other schedules), on
SQLite every write transaction begins ``IMMEDIATE`` and so runs alone.

What happens to a due schedule (``nextRunAt <= now``):

- The newest fire time that is due and late by at most ``misfireGraceSec`` (at least
  :data:`MIN_GRACE`) is fired, once. Older due fire times are not caught up: the first of
  them is recorded ``skipped`` with the reason, the rest are passed over.
- If every due fire time is late by more than the grace, none fires; the first is
  recorded ``skipped``.
- Then ``lastRunAt`` becomes the fired time and ``nextRunAt`` the first fire time after
  now; a oneoff that has no next fire becomes ``completed``.
- If the schedule's agent was deleted, the fire is recorded ``skipped`` and the schedule
  ``cancelled``: it can never fire again. If the agent is paused, the fire is recorded
  ``skipped`` and the schedule stays active, so posts do not pile up while it is paused.
  If dispatch refuses the content (a platform limit changed since it was saved, say), the
  fire is recorded ``skipped`` with the error and the schedule goes on.
- Paused, completed and cancelled schedules have no ``nextRunAt`` and never fire.

The loop sleeps until the earliest ``nextRunAt``, at most ``scheduler_max_sleep_s``, so a
schedule created or edited by another process is seen within that long.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager, suppress
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from pydantic import ValidationError
from sqlalchemy import func
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlmodel import Session, col, select

from api import scheduling
from api.config import Settings
from api.context import AppContext
from api.db.models import Agent, AgentStatus, Schedule, ScheduleRun, ScheduleStatus, utcnow
from api.errors import BadRequest
from api.schemas.common import iso
from api.schemas.tasks import DispatchRequest
from api.services import schedules as schedule_service
from api.services import tasks as task_service

if TYPE_CHECKING:
    from fastapi import FastAPI

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]

DISPATCHED = "dispatched"
SKIPPED = "skipped"

# A fire this late still counts as on time whatever misfireGraceSec says (0 included):
# the scheduler itself promises to fire within a second of nextRunAt.
MIN_GRACE = timedelta(seconds=1)
_TICK = timedelta(microseconds=1)
# How soon to look again at a due schedule another scheduler is handling.
RETRY_S = 0.05


@dataclass(frozen=True)
class Plan:
    """What to do with a due schedule, decided from its timing and the clock alone."""

    fire_at: datetime | None  # the one fire time to dispatch now, if any
    skipped_at: datetime | None  # a missed fire time to record as skipped, if any
    reason: str | None  # why skipped_at was skipped
    next_run_at: datetime | None  # the first fire time after now


@dataclass(frozen=True)
class Outcome:
    """What the scheduler did with one fire time."""

    schedule_id: str
    fire_at: datetime
    outcome: str  # dispatched | skipped
    task_id: str | None = None
    reason: str | None = None


def plan(
    timing: scheduling.Timing,
    due: datetime,
    now: datetime,
    grace: timedelta,
    *,
    anchor: datetime | None = None,
) -> Plan:
    """Decide what a schedule whose ``nextRunAt`` is ``due`` (<= ``now``) does now: fire
    the newest fire time within ``grace`` once, skip the rest, never catch up in a burst."""
    grace = max(grace, MIN_GRACE)
    cutoff = now - grace
    newest = _newest_fire(timing, max(due, cutoff), now, anchor)
    if newest is None and due >= cutoff:
        newest = due  # nextRunAt is the promise, even where the timing would not land on it
    next_run_at = scheduling.next_run(timing, now, anchor=anchor)
    if newest == due:
        return Plan(fire_at=due, skipped_at=None, reason=None, next_run_at=next_run_at)
    missed = f"missed by {_span(now - due)}, more than the misfire grace of {_span(grace)}"
    if newest is not None:
        reason = missed if due < cutoff else "several fire times were due at once"
        reason += f"; only {iso(newest)} fires, no catch-up"
    else:
        reason = missed
        following = scheduling.next_run(timing, due, anchor=anchor)
        if following is not None and following <= now:
            reason += f"; later fire times up to {iso(now)} were missed too"
    return Plan(fire_at=newest, skipped_at=due, reason=reason, next_run_at=next_run_at)


def _newest_fire(
    timing: scheduling.Timing, earliest: datetime, now: datetime, anchor: datetime | None
) -> datetime | None:
    """The last fire time in [earliest, now], if any. Looks back from ``now`` over doubling
    spans first, so a long grace over a dense schedule costs a few steps, not one per
    missed minute."""
    span = timedelta(seconds=1)
    while True:
        start = max(earliest, now - span)
        found = scheduling.next_run(timing, start - _TICK, anchor=anchor)
        if found is not None and found <= now:
            break
        if start == earliest:
            return None
        span *= 2
    while True:
        following = scheduling.next_run(timing, found, anchor=anchor)
        if following is None or following > now:
            return found
        found = following


def _span(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 2 * 3600:
        return f"{seconds // 60} min"
    if seconds < 2 * 86_400:
        return f"{seconds // 3600} h"
    return f"{seconds // 86_400} days"


class Scheduler:
    """Fires due schedules. ``now`` is the clock (injectable, so tests can run days in
    moments); ``tick`` does one pass, ``run`` loops until stopped."""

    def __init__(
        self,
        context: AppContext,
        *,
        now: Clock = utcnow,
        max_sleep_s: float | None = None,
    ) -> None:
        self.context = context
        self.now = now
        self.max_sleep_s = (
            context.settings.scheduler_max_sleep_s if max_sleep_s is None else max_sleep_s
        )
        self.failed = False  # whether the last tick met a schedule it could not handle

    def next_due_at(self) -> datetime | None:
        """The earliest ``nextRunAt`` of an active schedule."""
        with self.context.db.unit(write=False) as session:
            earliest: datetime | None = session.exec(
                select(func.min(Schedule.next_run_at)).where(
                    Schedule.status == ScheduleStatus.active.value
                )
            ).one()
        return earliest

    def tick(self) -> list[Outcome]:
        """Handle every schedule that is due now, one transaction each."""
        outcomes: list[Outcome] = []
        passed_over: set[str] = set()
        self.failed = False
        while True:
            schedule_id: str | None = None
            try:
                with self.context.db.unit() as session:
                    now = self.now()
                    schedule = _lock_next_due(session, now, passed_over)
                    if schedule is None:
                        return outcomes
                    schedule_id = schedule.id
                    done = _handle(session, self.context, schedule, now)
            except IntegrityError:
                # Another scheduler recorded this fire between our check and our insert;
                # its task stands and ours was rolled back. The next pass sees its row.
                log.debug("schedule %s: fire already recorded by another scheduler", schedule_id)
                passed_over.add(str(schedule_id))
                continue
            except DBAPIError:
                raise  # the database is unwell: the loop backs off and retries
            except Exception:
                # A schedule this code cannot handle must not hold up the others.
                log.exception("schedule %s could not be fired; retrying later", schedule_id)
                passed_over.add(str(schedule_id))
                self.failed = True
                continue
            for outcome in done:
                _log_outcome(outcome)
            outcomes.extend(done)

    def step(self) -> float:
        """Fire what is due; return how long to sleep before the next step (seconds)."""
        now = self.now()
        earliest = self.next_due_at()
        if earliest is not None and earliest <= now:
            self.tick()
            earliest = self.next_due_at()
            if earliest is not None and earliest <= now:
                # Still due: another scheduler holds it (PostgreSQL row lock), or it failed
                # and was logged. Look again soon, without spinning.
                return self.max_sleep_s if self.failed else min(self.max_sleep_s, RETRY_S)
            now = self.now()
        if earliest is None:
            return self.max_sleep_s
        wait = (earliest - now).total_seconds()
        return min(self.max_sleep_s, max(wait, 0.0))

    async def run(self, stop: asyncio.Event) -> None:
        """Step until ``stop`` is set. Database work runs on a worker thread."""
        log.info("scheduler started")
        while not stop.is_set():
            try:
                delay = await asyncio.to_thread(self.step)
            except DBAPIError as error:
                log.warning("scheduler: database error, retrying: %s", error.orig)
                delay = self.max_sleep_s
            except Exception:
                log.exception("scheduler step failed; retrying")
                delay = self.max_sleep_s
            if delay > 0:
                with suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=delay)
        log.info("scheduler stopped")


def _lock_next_due(session: Session, now: datetime, passed_over: set[str]) -> Schedule | None:
    query = (
        select(Schedule)
        .where(
            Schedule.status == ScheduleStatus.active.value,
            col(Schedule.next_run_at).is_not(None),
            col(Schedule.next_run_at) <= now,
        )
        .order_by(col(Schedule.next_run_at), col(Schedule.id))
        .limit(1)
    )
    if passed_over:
        query = query.where(col(Schedule.id).not_in(passed_over))
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return session.exec(query).first()


def recorded_fire_times(session: Session, schedule_id: str, times: list[datetime]) -> set[datetime]:
    """Which of ``times`` already have a run row for the schedule."""
    rows = session.exec(
        select(ScheduleRun.fire_at).where(
            ScheduleRun.schedule_id == schedule_id, col(ScheduleRun.fire_at).in_(times)
        )
    ).all()
    return set(rows)


def _handle(
    session: Session, context: AppContext, schedule: Schedule, now: datetime
) -> list[Outcome]:
    """Fire (or skip) the locked, due ``schedule`` and move it on; return what happened."""
    assert schedule.next_run_at is not None
    due = schedule.next_run_at
    agent = session.get(Agent, schedule.agent_id)
    if agent is None or agent.deleted_at is not None:
        schedule.status = ScheduleStatus.cancelled.value
        schedule.next_run_at = None
        session.add(schedule)
        if recorded_fire_times(session, schedule.id, [due]):
            return []
        return [_record(session, schedule.id, due, reason="the agent was deleted; cancelled")]

    decision = plan(
        schedule_service.timing_of(schedule),
        due,
        now,
        timedelta(seconds=schedule.misfire_grace_sec),
        anchor=schedule.created_at,
    )
    schedule.next_run_at = decision.next_run_at
    if decision.next_run_at is None:
        schedule.status = ScheduleStatus.completed.value
    session.add(schedule)

    times = [t for t in (decision.skipped_at, decision.fire_at) if t is not None]
    recorded = recorded_fire_times(session, schedule.id, times)
    outcomes: list[Outcome] = []
    if decision.skipped_at is not None and decision.skipped_at not in recorded:
        outcomes.append(_record(session, schedule.id, decision.skipped_at, decision.reason))
    fire_at = decision.fire_at
    if fire_at is None or fire_at in recorded:
        return outcomes
    if agent.status == AgentStatus.paused:
        outcomes.append(_record(session, schedule.id, fire_at, reason="the agent is paused"))
        return outcomes
    params: dict[str, object] = {"content": schedule.content}
    if schedule.media:
        params["media"] = schedule.media
    try:
        body = DispatchRequest.model_validate(
            {"action": schedule.action, "platform": schedule.platform, "params": params}
        )
        task = task_service.dispatch(session, context, agent, body, schedule_id=schedule.id)
    except (BadRequest, ValidationError) as error:
        # The content no longer passes the checks it passed when the schedule was saved
        # (a platform limit changed, say): record why, and try again at the next fire.
        outcomes.append(_record(session, schedule.id, fire_at, f"not dispatched: {error}"))
        return outcomes
    schedule.last_run_at = fire_at
    outcomes.append(_record(session, schedule.id, fire_at, task_id=task.taskId))
    return outcomes


def _record(
    session: Session,
    schedule_id: str,
    fire_at: datetime,
    reason: str | None = None,
    *,
    task_id: str | None = None,
) -> Outcome:
    outcome = DISPATCHED if task_id else SKIPPED
    session.add(
        ScheduleRun(
            schedule_id=schedule_id,
            fire_at=fire_at,
            outcome=outcome,
            task_id=task_id,
            reason=reason,
        )
    )
    return Outcome(schedule_id, fire_at, outcome, task_id, reason)


def _log_outcome(outcome: Outcome) -> None:
    if outcome.outcome == DISPATCHED:
        log.info(
            "schedule %s fired for %s: task %s",
            outcome.schedule_id,
            iso(outcome.fire_at),
            outcome.task_id,
        )
    else:
        log.info(
            "schedule %s skipped %s: %s", outcome.schedule_id, iso(outcome.fire_at), outcome.reason
        )


@asynccontextmanager
async def running(scheduler: Scheduler) -> AsyncIterator[None]:
    """Run ``scheduler`` in the background for the duration of the block."""
    stop = asyncio.Event()
    task = asyncio.create_task(scheduler.run(stop), name="scheduler")
    try:
        yield
    finally:
        stop.set()
        await task


def scheduler_component(
    *, now: Clock = utcnow
) -> Callable[[FastAPI, AppContext], AbstractAsyncContextManager[None]]:
    """A lifespan component running the scheduler inside an API process."""

    @asynccontextmanager
    async def component(app: FastAPI, context: AppContext) -> AsyncIterator[None]:
        async with running(Scheduler(context, now=now)):
            yield

    return component


@asynccontextmanager
async def _runner_wakeups(context: AppContext) -> AsyncIterator[None]:
    """In a standalone scheduler, wake runners through Redis when one is configured (without
    it, the runners' reconciler finds the new pending tasks within seconds)."""
    from redis.exceptions import RedisError

    from api.queue import TaskQueue, connect

    url = context.settings.resolved_redis_url()
    if not url:
        yield
        return
    try:
        redis = await connect(url)
    except (OSError, RedisError) as error:
        log.warning("Redis unreachable (%s); runners will find new tasks by polling", error)
        yield
        return
    queue = TaskQueue(context, redis)
    context.task_wakeups.append(queue.wake_task)
    try:
        yield
    finally:
        context.task_wakeups.remove(queue.wake_task)
        await redis.aclose()


def run_standalone(settings: Settings, *, now: Clock = utcnow) -> None:
    """``bredgio scheduler``: run the scheduler until SIGINT or SIGTERM."""
    context = AppContext.create(settings)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        async with _runner_wakeups(context):
            await Scheduler(context, now=now).run(stop)

    try:
        asyncio.run(main())
    finally:
        context.db.dispose()
