"""What executors (runner workers, the WebSocket hub) do to tasks: claim the next one of
an agent, start it, append to its log, mark its point of no return, finish it.

Every status change goes through :func:`api.db.state.transition`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, func, update
from sqlalchemy import insert as sa_insert
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from api.db.direct import DirectStatement
from api.db.models import (
    Agent,
    AgentStatus,
    OutreachLog,
    Task,
    TaskLogEntry,
    TaskStatus,
    utcnow,
)
from api.db.state import is_terminal, transition
from api.schemas.agents import DEFAULT_CONFIG


@dataclass(frozen=True)
class TaskRun:
    """A claimed task, detached from its session: what an executor needs to run it."""

    task_id: str
    agent_id: str
    user_id: str
    action: str
    platform: str
    params: dict[str, Any]
    attempt: int
    timeout_sec: int
    browser: dict[str, Any]
    passed_point_of_no_return: bool
    lease_token: int = 0
    config: dict[str, Any] | None = None


def _runnable(agent_id: str, now: datetime) -> Any:
    return select(Task).where(
        Task.agent_id == agent_id,
        Task.status == TaskStatus.pending.value,
        (col(Task.scheduled_for).is_(None)) | (col(Task.scheduled_for) <= now),
    )


POST_ACTIONS = frozenset({"post", "post-to-groups", "smart-post"})
MESSAGE_ACTIONS = frozenset({"friend-msg", "send-msg", "group-outreach", "auto-outreach"})
OUTREACH_ACTIONS = frozenset({"post-to-groups", *MESSAGE_ACTIONS})


@dataclass(frozen=True)
class Claim:
    """What a claim attempt found: a task to run, or the time the agent's next task may
    start (pacing, a scheduled time), or nothing to do."""

    run: TaskRun | None = None
    not_before: datetime | None = None


def _last_completed(actions: frozenset[str]) -> Any:
    return sa_select(func.max(col(Task.completed_at))).where(
        col(Task.agent_id) == bindparam("agent_id"),
        col(Task.action).in_(sorted(actions)),
        col(Task.status) == TaskStatus.completed.value,
    )


_LAST_POST = _last_completed(POST_ACTIONS)
_LAST_MESSAGE = _last_completed(MESSAGE_ACTIONS)
_OUTREACH_STAMPS = (
    sa_select(col(OutreachLog.timestamp))
    .where(
        col(OutreachLog.agent_id) == bindparam("agent_id"),
        col(OutreachLog.timestamp) >= bindparam("since"),
        col(OutreachLog.result) != "skipped",
    )
    .order_by(col(OutreachLog.timestamp))
)


def pacing_for(
    connection: Connection,
    agent_id: str,
    config: dict[str, Any] | None,
    action: str,
    now: datetime,
) -> datetime | None:
    """When a task of ``action`` may start under the agent's pacing rules (None: now).
    Core statements on ``connection``: the task detail computes this on every poll."""
    rules = {**DEFAULT_CONFIG, **(config or {})}
    waits: list[datetime] = []
    for actions, key, statement in (
        (POST_ACTIONS, "postDelaySec", _LAST_POST),
        (MESSAGE_ACTIONS, "messageDelaySec", _LAST_MESSAGE),
    ):
        if action not in actions or not rules.get(key):
            continue
        last = connection.execute(statement, {"agent_id": agent_id}).scalar()
        if last is not None:
            waits.append(last + timedelta(seconds=int(rules[key])))
    if action in OUTREACH_ACTIONS:
        limit = int(rules.get("dailyOutreachLimit") or 0)
        stamps = connection.execute(
            _OUTREACH_STAMPS, {"agent_id": agent_id, "since": now - timedelta(hours=24)}
        ).scalars()
        recent = list(stamps)
        if limit and len(recent) >= limit:
            waits.append(recent[len(recent) - limit] + timedelta(hours=24))
    later = [moment for moment in waits if moment > now]
    return max(later) if later else None


def outreach_budget(session: Session, agent_id: str, config: dict[str, Any]) -> int | None:
    """Outreach attempts the agent may still make in the current 24 h window."""
    limit = int((config or {}).get("dailyOutreachLimit") or 0)
    if not limit:
        return None
    used = session.exec(
        select(func.count())
        .select_from(OutreachLog)
        .where(
            OutreachLog.agent_id == agent_id,
            OutreachLog.timestamp >= utcnow() - timedelta(hours=24),
            OutreachLog.result != "skipped",
        )
    ).one()
    return max(limit - int(used), 0)


def claim_next(
    session: Session, agent_id: str, *, start: bool = False, runner_id: str | None = None
) -> TaskRun | None:
    """The task :func:`claim` claims, if any."""
    return claim(session, agent_id, start=start, runner_id=runner_id).run


def claim(
    session: Session, agent_id: str, *, start: bool = False, runner_id: str | None = None
) -> Claim:
    """Claim the agent's oldest runnable task (``pending → dispatched``, and on to
    ``running`` with ``start``), unless the agent is paused, deleted, already has a task
    in flight, or must wait (pacing, ``scheduledFor``). A claim takes a new fencing
    token (``lease_token``): a runner whose token is no longer the task's has lost it.
    Call in a write unit: on SQLite the unit holds the write lock, on PostgreSQL the
    agent row is locked."""
    now = utcnow()
    agent_query = select(Agent).where(Agent.id == agent_id)
    if session.get_bind().dialect.name == "postgresql":
        agent_query = agent_query.with_for_update()
    agent = session.exec(agent_query).first()
    if agent is None or agent.deleted_at is not None or agent.status == AgentStatus.paused:
        return Claim()
    in_flight = session.exec(
        select(func.count())
        .select_from(Task)
        .where(
            Task.agent_id == agent_id,
            col(Task.status).in_([TaskStatus.dispatched.value, TaskStatus.running.value]),
        )
    ).one()
    if in_flight:
        return Claim()
    task = session.exec(
        select(Task)
        .where(Task.agent_id == agent_id, Task.status == TaskStatus.pending.value)
        .order_by(col(Task.dispatched_at), col(Task.id))
        .limit(1)
    ).first()
    if task is None:
        return Claim()
    if task.scheduled_for is not None and task.scheduled_for > now:
        # Tasks run in order: a later task does not overtake a scheduled one... unless
        # it is due itself, so look for the oldest due task instead.
        due = session.exec(
            select(Task)
            .where(
                Task.agent_id == agent_id,
                Task.status == TaskStatus.pending.value,
                (col(Task.scheduled_for).is_(None)) | (col(Task.scheduled_for) <= now),
            )
            .order_by(col(Task.dispatched_at), col(Task.id))
            .limit(1)
        ).first()
        if due is None:
            return Claim(not_before=task.scheduled_for)
        task = due
    wait_until = pacing_for(session.connection(), agent.id, agent.config, task.action, now)
    if wait_until is not None:
        return Claim(not_before=wait_until)
    transition(task, TaskStatus.dispatched)
    if start:
        transition(task, TaskStatus.running)
    task.lease_token += 1
    task.runner_id = runner_id
    task.heartbeat_at = now
    session.add(task)
    return Claim(
        TaskRun(
            task_id=task.id,
            agent_id=agent.id,
            user_id=task.user_id,
            action=task.action,
            platform=task.platform,
            params=dict(task.params),
            attempt=task.attempt,
            timeout_sec=task.timeout_sec,
            browser=dict(agent.browser),
            passed_point_of_no_return=task.point_of_no_return_at is not None,
            lease_token=task.lease_token,
            config=dict(agent.config or {}),
        )
    )


def heartbeat(session: Session, task_id: str, lease_token: int) -> bool:
    """Refresh a running task's heartbeat; False if the runner no longer holds it."""
    result = session.execute(
        update(Task)
        .where(
            col(Task.id) == task_id,
            col(Task.lease_token) == lease_token,
            col(Task.status).in_([TaskStatus.dispatched.value, TaskStatus.running.value]),
        )
        .values(heartbeat_at=utcnow())
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


MAX_ATTEMPTS = 3


def _stale(stale_after_s: float, executor: str) -> tuple[Any, ...]:
    """The conditions of a task in flight whose executor stopped heartbeating."""
    cutoff = utcnow() - timedelta(seconds=stale_after_s)
    return (
        col(Task.status).in_([TaskStatus.dispatched.value, TaskStatus.running.value]),
        Agent.executor == executor,
        (col(Task.heartbeat_at) < cutoff)
        | (col(Task.heartbeat_at).is_(None) & (col(Task.updated_at) < cutoff)),
    )


def any_stale(session: Session, *, stale_after_s: float, executor: str = "runner") -> bool:
    """Whether :func:`recover_stale` has anything to do: a read, so that the usual
    answer (no) takes no write lock."""
    found = session.exec(
        select(Task.id)
        .join(Agent, col(Agent.id) == col(Task.agent_id))
        .where(*_stale(stale_after_s, executor))
        .limit(1)
    ).first()
    return found is not None


def recover_stale(
    session: Session, *, stale_after_s: float, executor: str = "runner"
) -> list[tuple[str, str]]:
    """Tasks whose runner stopped heartbeating: before the point of no return they go
    back to ``pending`` (``attempt`` + 1, at most :data:`MAX_ATTEMPTS`); after it they go
    back too, flagged, and the next claim verifies instead of publishing again.
    Returns ``(agent_id, task_id)`` of the tasks to wake."""
    stale = session.exec(
        select(Task)
        .join(Agent, col(Agent.id) == col(Task.agent_id))
        .where(*_stale(stale_after_s, executor))
    ).all()
    woken: list[tuple[str, str]] = []
    for task in stale:
        published = task.point_of_no_return_at is not None
        if not published and task.attempt >= MAX_ATTEMPTS:
            message = f"The runner died {task.attempt} times; giving up"
            transition(task, TaskStatus.failed, error_code="runner_lost", error_message=message)
            _log(session, task.id, "recover", "error", message, "runner_lost")
            continue
        transition(task, TaskStatus.pending, runner_id=None, heartbeat_at=None)
        task.lease_token += 1
        task.attempt += 1
        if published:
            message = "The runner died after publishing began; the post will be verified"
        else:
            message = f"The runner died; retrying (attempt {task.attempt} of {MAX_ATTEMPTS})"
        _log(session, task.id, "recover", "warn", message, None)
        session.add(task)
        woken.append((task.agent_id, task.id))
    return woken


def hand_back_claimed(session: Session, task_id: str, lease_token: int) -> bool:
    """A runner shutting down returns a task it holds (same attempt). Past the point of
    no return the task keeps its mark, so the next claim verifies it."""
    task = session.get(Task, task_id)
    if task is None or task.lease_token != lease_token or is_terminal(task.status):
        return False
    transition(task, TaskStatus.pending, runner_id=None, heartbeat_at=None)
    task.lease_token += 1
    _log(
        session, task.id, "shutdown", "warn", "The runner shut down; the task was handed back", None
    )
    session.add(task)
    return True


def _log(
    session: Session, task_id: str, step: str, status: str, message: str, code: str | None
) -> None:
    session.add(
        TaskLogEntry(task_id=task_id, step=step, status=status, message=message, error_code=code)
    )


def agents_with_runnable_tasks(
    session: Session, executor: str = "runner", *, waiting_longer_than_s: float | None = None
) -> list[str]:
    """Agents (of ``executor``) that have a runnable pending task and nothing in flight:
    the reconciler wakes these when Redis lost their wake-up. With
    ``waiting_longer_than_s``, only agents whose runnable task has waited that long."""
    now = utcnow()
    busy = select(Task.agent_id).where(
        col(Task.status).in_([TaskStatus.dispatched.value, TaskStatus.running.value])
    )
    rows = session.exec(
        select(Task.agent_id)
        .join(Agent, col(Agent.id) == col(Task.agent_id))
        .where(
            Task.status == TaskStatus.pending.value,
            (col(Task.scheduled_for).is_(None)) | (col(Task.scheduled_for) <= now),
            Agent.executor == executor,
            col(Agent.deleted_at).is_(None),
            Agent.status != AgentStatus.paused.value,
            col(Task.agent_id).not_in(busy),
            *(
                [col(Task.updated_at) < now - timedelta(seconds=waiting_longer_than_s)]
                if waiting_longer_than_s is not None
                else []
            ),
        )
        .distinct()
    ).all()
    return list(rows)


def agents_claimed_elsewhere(session: Session, agent_ids: list[str], runner_id: str) -> list[str]:
    """Those of ``agent_ids`` whose task in flight was claimed by another runner than
    ``runner_id``: that runner needs the agent's profile."""
    if not agent_ids:
        return []
    rows = session.exec(
        select(Task.agent_id)
        .where(
            col(Task.agent_id).in_(agent_ids),
            col(Task.status).in_([TaskStatus.dispatched.value, TaskStatus.running.value]),
            col(Task.runner_id).is_(None) | (col(Task.runner_id) != runner_id),
        )
        .distinct()
    ).all()
    return list(rows)


def start(session: Session, task_id: str) -> bool:
    """``dispatched → running``; False if the task was cancelled meanwhile."""
    task = session.get(Task, task_id)
    if task is None or task.status != TaskStatus.dispatched:
        return False
    transition(task, TaskStatus.running)
    session.add(task)
    return True


def finish(
    session: Session,
    task_id: str,
    status: TaskStatus,
    *,
    result: dict[str, Any] | None = None,
    error_code: str | None = None,
    error_message: str | None = None,
    lease_token: int | None = None,
) -> bool:
    """End a task; False if it already ended (for example cancelled meanwhile) or, with
    ``lease_token``, if the caller no longer holds it."""
    task = session.get(Task, task_id)
    if task is None or is_terminal(task.status):
        return False
    if lease_token is not None and task.lease_token != lease_token:
        return False
    transition(task, status, result=result, error_code=error_code, error_message=error_message)
    session.add(task)
    return True


def hand_back(session: Session, task_id: str) -> bool:
    """Return a claimed task that never started (``dispatched → pending``)."""
    task = session.get(Task, task_id)
    if task is None or task.status != TaskStatus.dispatched:
        return False
    transition(task, TaskStatus.pending)
    session.add(task)
    return True


def append_log(
    session: Session,
    task_id: str,
    *,
    ts: datetime,
    step: str,
    status: str,
    message: str = "",
    data: dict[str, Any] | None = None,
    error_code: str | None = None,
) -> None:
    session.add(
        TaskLogEntry(
            task_id=task_id,
            ts=ts,
            step=step,
            status=status,
            message=message,
            data=data,
            error_code=error_code,
        )
    )


def last_error_index(session: Session, task_id: str) -> int | None:
    """Position (0-based, in ``log``) of the task's last error entry."""
    ids = session.exec(
        select(TaskLogEntry.id, TaskLogEntry.status)
        .where(TaskLogEntry.task_id == task_id)
        .order_by(col(TaskLogEntry.id))
    ).all()
    errors = [index for index, (_, status) in enumerate(ids) if status == "error"]
    return errors[-1] if errors else None


def set_log_data(session: Session, task_id: str, index: int, data: dict[str, Any]) -> None:
    """Merge ``data`` into the ``index``-th entry of the task's log."""
    entry = session.exec(
        select(TaskLogEntry)
        .where(TaskLogEntry.task_id == task_id)
        .order_by(col(TaskLogEntry.id))
        .offset(index)
        .limit(1)
    ).first()
    if entry is not None:
        entry.data = {**(entry.data or {}), **data}
        session.add(entry)


_LOG_TABLE = TaskLogEntry.__table__  # type: ignore[attr-defined]
_TASK_TABLE = Task.__table__  # type: ignore[attr-defined]
LOG_COLUMNS = ("task_id", "ts", "step", "status", "message", "data", "error_code")
_INSERT_LOG = DirectStatement(sa_insert(_LOG_TABLE), column_keys=LOG_COLUMNS)
_SET_STEP = DirectStatement(
    update(_TASK_TABLE)
    .where(
        _TASK_TABLE.c.id == bindparam("task_id"),
        _TASK_TABLE.c.status == TaskStatus.running.value,
    )
    .values(current_step=bindparam("step"), updated_at=bindparam("now"))
)


def append_logs(connection: Connection, rows: list[dict[str, Any]]) -> None:
    """Insert log entries (dicts with the :data:`LOG_COLUMNS`), in order."""
    for row in rows:
        _INSERT_LOG.execute(connection, row)


def set_current_step(connection: Connection, task_id: str, step: str | None) -> None:
    _SET_STEP.execute(connection, {"task_id": task_id, "step": step, "now": utcnow()})


def mark_point_of_no_return(session: Session, task_id: str, lease_token: int | None = None) -> bool:
    """Record that publishing starts now. False (publish nothing) if the task was
    cancelled meanwhile or the caller lost it: the cancel and this mark are both writes,
    so exactly one of them wins."""
    conditions = [col(Task.id) == task_id, col(Task.status) == TaskStatus.running.value]
    if lease_token is not None:
        conditions.append(col(Task.lease_token) == lease_token)
    result = session.execute(update(Task).where(*conditions).values(point_of_no_return_at=utcnow()))
    return bool(result.rowcount)  # type: ignore[attr-defined]


def add_outreach(
    session: Session,
    run: TaskRun,
    *,
    result: str,
    target_url: str | None,
    target_name: str | None,
    message_sent: str | None,
    error_message: str | None,
) -> None:
    session.add(
        OutreachLog(
            user_id=run.user_id,
            agent_id=run.agent_id,
            task_id=run.task_id,
            platform=run.platform,
            result=result,
            target_url=target_url,
            target_name=target_name,
            message_sent=message_sent,
            error_message=error_message,
        )
    )


def cancelled_among(session: Session, task_ids: list[str]) -> list[str]:
    """Those of ``task_ids`` whose status is ``cancelled``."""
    query = select(Task.id).where(
        col(Task.id).in_(task_ids), Task.status == TaskStatus.cancelled.value
    )
    return list(session.exec(query))
