"""What executors (runner workers, the WebSocket hub) do to tasks: claim the next one of
an agent, start it, append to its log, mark its point of no return, finish it.

Every status change goes through :func:`api.db.state.transition`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, update
from sqlmodel import Session, col, select

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


def _runnable(agent_id: str, now: datetime) -> Any:
    return select(Task).where(
        Task.agent_id == agent_id,
        Task.status == TaskStatus.pending.value,
        (col(Task.scheduled_for).is_(None)) | (col(Task.scheduled_for) <= now),
    )


def claim_next(session: Session, agent_id: str, *, start: bool = False) -> TaskRun | None:
    """Claim the agent's oldest runnable task (``pending → dispatched``, and on to
    ``running`` with ``start``), unless the agent is paused, deleted, or already has a
    task in flight. Call in a write unit: on SQLite the unit holds the write lock, on
    PostgreSQL the agent row is locked."""
    now = utcnow()
    agent_query = select(Agent).where(Agent.id == agent_id)
    if session.get_bind().dialect.name == "postgresql":
        agent_query = agent_query.with_for_update()
    agent = session.exec(agent_query).first()
    if agent is None or agent.deleted_at is not None or agent.status == AgentStatus.paused:
        return None
    in_flight = session.exec(
        select(func.count())
        .select_from(Task)
        .where(
            Task.agent_id == agent_id,
            col(Task.status).in_([TaskStatus.dispatched.value, TaskStatus.running.value]),
        )
    ).one()
    if in_flight:
        return None
    task = session.exec(
        _runnable(agent_id, now).order_by(col(Task.dispatched_at), col(Task.id)).limit(1)
    ).first()
    if task is None:
        return None
    transition(task, TaskStatus.dispatched)
    if start:
        transition(task, TaskStatus.running)
    session.add(task)
    return TaskRun(
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
    )


def agents_with_runnable_tasks(session: Session, executor: str = "runner") -> list[str]:
    """Agents (of ``executor``) that have a runnable pending task and nothing in flight:
    the reconciler wakes these when Redis lost their wake-up."""
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
) -> bool:
    """End a task; False if it already ended (for example cancelled meanwhile)."""
    task = session.get(Task, task_id)
    if task is None or is_terminal(task.status):
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


def set_current_step(session: Session, task_id: str, step: str | None) -> None:
    session.execute(
        update(Task)
        .where(col(Task.id) == task_id, col(Task.status) == TaskStatus.running.value)
        .values(current_step=step, updated_at=utcnow())
    )


def mark_point_of_no_return(session: Session, task_id: str) -> None:
    session.execute(
        update(Task).where(col(Task.id) == task_id).values(point_of_no_return_at=utcnow())
    )


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


def status_of(session: Session, task_id: str) -> str | None:
    task = session.get(Task, task_id)
    return task.status if task is not None else None
