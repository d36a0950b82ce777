"""Tasks: dispatch (the one path every task is created through), listing, detail."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, func, insert, update
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from api.context import AppContext, TaskWakeup
from api.db.direct import DirectStatement
from api.db.models import Agent, Task, TaskLogEntry, TaskStatus, User, new_id, utcnow
from api.db.session import after_commit
from api.db.state import is_terminal, transition
from api.errors import BadRequest, Conflict, Forbidden, NotFound
from api.schemas.common import iso
from api.schemas.tasks import (
    DispatchedTask,
    DispatchRequest,
    LogEntryPublic,
    TaskDetail,
    TaskPublic,
    as_utc,
)
from api.services.agents import AgentRef
from api.services.auth import CallerRef
from flows.catalog import ParamsError, validate_params

_TASK_COLUMNS = (
    "id",
    "agent_id",
    "user_id",
    "action",
    "platform",
    "params",
    "status",
    "dispatched_at",
    "scheduled_for",
    "attempt",
    "timeout_sec",
    "schedule_id",
    "idempotency_key",
    "updated_at",
)
# Every task is inserted through here, on the driver's cursor (the dispatch route's cost).
_INSERT_TASK = DirectStatement(insert(Task.__table__), column_keys=_TASK_COLUMNS)  # type: ignore[attr-defined]

MAX_LIST_LIMIT = 200
DEFAULT_LIST_LIMIT = 50


def dispatch(
    session: Session,
    context: AppContext,
    agent: Agent | AgentRef,
    body: DispatchRequest,
    *,
    schedule_id: str | None = None,
) -> DispatchedTask:
    """Validate and store a ``pending`` task; wake a worker once it is committed. Every
    task is created through here (or :func:`insert_task` on the hottest route)."""
    task, wakeup = insert_task(session.connection(), agent, body, schedule_id=schedule_id)
    if wakeup is not None:
        after_commit(session, lambda: context.wake_task(wakeup))
    return task


IDEMPOTENCY_WINDOW = timedelta(hours=24)
_BY_IDEMPOTENCY_KEY = sa_select(Task.__table__).where(  # type: ignore[attr-defined]
    col(Task.user_id) == bindparam("user_id"),
    col(Task.idempotency_key) == bindparam("key"),
)
_FORGET_KEY = (
    update(Task.__table__)  # type: ignore[attr-defined]
    .where(col(Task.id) == bindparam("task_id"))
    .values(idempotency_key=None)
)


def _replay(
    connection: Connection,
    agent: Agent | AgentRef,
    body: DispatchRequest,
    params: dict[str, Any],
    key: str,
) -> DispatchedTask | None:
    """The task an earlier request with the same ``Idempotency-Key`` created (within
    24 h), or None. The same key with a different request is a 409."""
    row = connection.execute(_BY_IDEMPOTENCY_KEY, {"user_id": agent.user_id, "key": key}).first()
    if row is None:
        return None
    if row.dispatched_at < utcnow() - IDEMPOTENCY_WINDOW:
        connection.execute(_FORGET_KEY, {"task_id": row.id})
        return None
    same = (row.agent_id, row.action, row.platform, row.params) == (
        agent.id,
        body.action,
        body.platform,
        params,
    )
    if not same:
        raise Conflict("This Idempotency-Key was already used for a different request")
    return DispatchedTask(
        taskId=row.id,
        action=row.action,
        platform=row.platform,
        status=row.status,
        dispatchedAt=iso(row.dispatched_at),
        scheduledFor=iso(row.scheduled_for),
    )


def insert_task(
    connection: Connection,
    agent: Agent | AgentRef,
    body: DispatchRequest,
    *,
    schedule_id: str | None = None,
    idempotency_key: str | None = None,
) -> tuple[DispatchedTask, TaskWakeup | None]:
    """The row of :func:`dispatch`, written with one Core INSERT; the caller sends the
    returned wake-up once the transaction is committed (None: nothing new to run)."""
    try:
        params = validate_params(body.action, body.platform, body.params)
    except ParamsError as error:
        raise BadRequest(str(error)) from None
    if idempotency_key is not None:
        if not 1 <= len(idempotency_key) <= 255:
            raise BadRequest("Idempotency-Key must be 1 to 255 characters")
        replayed = _replay(connection, agent, body, params, idempotency_key)
        if replayed is not None:
            return replayed, None
    now = utcnow()
    scheduled_for = as_utc(body.scheduledFor) if body.scheduledFor is not None else None
    if scheduled_for is not None and scheduled_for <= now:
        raise BadRequest("scheduledFor must be in the future")
    task_id = new_id()
    _INSERT_TASK.execute(
        connection,
        {
            "id": task_id,
            "agent_id": agent.id,
            "user_id": agent.user_id,
            "action": body.action,
            "platform": body.platform,
            "params": params,
            "status": TaskStatus.pending.value,
            "dispatched_at": now,
            "scheduled_for": scheduled_for,
            "attempt": 1,
            "timeout_sec": body.timeoutSec,
            "schedule_id": schedule_id,
            "idempotency_key": idempotency_key,
            "updated_at": now,
        },
    )
    task = DispatchedTask(
        taskId=task_id,
        action=body.action,
        platform=body.platform,
        status=TaskStatus.pending.value,
        dispatchedAt=iso(now),
        scheduledFor=iso(scheduled_for),
    )
    return task, TaskWakeup(task_id=task_id, agent_id=agent.id, executor=agent.executor)


_TASK_ROW = DirectStatement(
    sa_select(Task.__table__).where(col(Task.id) == bindparam("task_id"))  # type: ignore[attr-defined]
)
_LOG_ROWS = DirectStatement(
    sa_select(TaskLogEntry.__table__)  # type: ignore[attr-defined]
    .where(col(TaskLogEntry.task_id) == bindparam("task_id"))
    .order_by(col(TaskLogEntry.id))
)


def detail_core(connection: Connection, caller: CallerRef, task_id: str) -> TaskDetail:
    """The task detail in Core queries (clients poll this in loops)."""
    row = _TASK_ROW.first(connection, {"task_id": task_id})
    if row is None:
        raise NotFound("Task not found")
    if row.user_id != caller.id:
        raise Forbidden()
    entries = _LOG_ROWS.all(connection, {"task_id": task_id})
    detail = to_detail(row, entries)
    if row.status == TaskStatus.pending:
        detail.queuePosition, not_before = queue_info(connection, row)
        detail.notBefore = iso(not_before)
    return detail


_UNFINISHED = [TaskStatus.pending.value, TaskStatus.dispatched.value, TaskStatus.running.value]
_TASKS = Task.__table__  # type: ignore[attr-defined]
# The tasks of the agent ahead of a pending one, counted as two ranges on (agent_id,
# dispatched_at) (an OR of the two would scan the agent's whole history), and the
# agent's pacing config, in one statement.
_QUEUE_INFO = sa_select(
    (
        sa_select(func.count())
        .select_from(_TASKS)
        .where(
            col(Task.agent_id) == bindparam("agent_id"),
            col(Task.dispatched_at) < bindparam("dispatched_at"),
            col(Task.status).in_(_UNFINISHED),
        )
        .scalar_subquery()
        + sa_select(func.count())
        .select_from(_TASKS)
        .where(
            col(Task.agent_id) == bindparam("agent_id"),
            col(Task.dispatched_at) == bindparam("dispatched_at"),
            col(Task.id) < bindparam("task_id"),
            col(Task.status).in_(_UNFINISHED),
        )
        .scalar_subquery()
    ).label("ahead"),
    sa_select(col(Agent.config)).where(col(Agent.id) == bindparam("agent_id")).scalar_subquery(),
)


def queue_info(connection: Connection, task: Task) -> tuple[int, datetime | None]:
    """A pending task's place in its agent's queue (1 = next) and the earliest time it
    may start (its ``scheduledFor``, the agent's pacing)."""
    from api.services import execution

    ahead, config = connection.execute(
        _QUEUE_INFO,
        {"agent_id": task.agent_id, "dispatched_at": task.dispatched_at, "task_id": task.id},
    ).one()
    now = utcnow()
    moments = [m for m in (task.scheduled_for,) if m is not None and m > now]
    paced = execution.pacing_for(connection, task.agent_id, config, task.action, now)
    if paced is not None:
        moments.append(paced)
    return int(ahead) + 1, max(moments) if moments else None


def cancel(session: Session, user: User | CallerRef, task_id: str) -> Task:
    """Cancel a pending or running task. A running one stops before its next command;
    one past its point of no return finishes and reports, so it cannot be cancelled."""
    task = get_owned(session, user, task_id)
    if is_terminal(task.status):
        raise Conflict(f"Task is already {task.status}")
    if task.point_of_no_return_at is not None:
        raise Conflict("Task is already publishing; it will finish and report")
    transition(task, TaskStatus.cancelled, error_message="Cancelled by the user")
    session.add(task)
    return task


def retry(
    session: Session, context: AppContext, user: User | CallerRef, task_id: str
) -> DispatchedTask:
    """A new task with the same agent, action, platform, params and timeout."""
    from api.services import agents as agent_service

    original = get_owned(session, user, task_id)
    if not is_terminal(original.status):
        raise Conflict(f"Task is still {original.status}; cancel it first or wait for it")
    agent = agent_service.owned_ref(session.connection(), original.user_id, original.agent_id)
    body = DispatchRequest(
        action=original.action,
        platform=original.platform,
        params=original.params,
        timeoutSec=original.timeout_sec,
    )
    return dispatch(session, context, agent, body)


def get_owned(session: Session, user: User | CallerRef, task_id: str) -> Task:
    task = session.get(Task, task_id)
    if task is None:
        raise NotFound("Task not found")
    if task.user_id != user.id:
        raise Forbidden()
    return task


def list_tasks(
    session: Session,
    user: User,
    *,
    agent_id: str | None,
    status: str | None,
    limit: int,
) -> list[Task]:
    query = select(Task).where(Task.user_id == user.id)
    if agent_id is not None:
        query = query.where(Task.agent_id == agent_id)
    if status is not None:
        query = query.where(Task.status == status)
    query = query.order_by(col(Task.dispatched_at).desc(), col(Task.id).desc()).limit(limit)
    return list(session.exec(query))


def recent_for_agent(session: Session, agent_id: str, limit: int = 20) -> list[Task]:
    return list(
        session.exec(
            select(Task)
            .where(Task.agent_id == agent_id)
            .order_by(col(Task.dispatched_at).desc(), col(Task.id).desc())
            .limit(limit)
        )
    )


def log_entries(session: Session, task_id: str) -> list[TaskLogEntry]:
    return list(
        session.exec(
            select(TaskLogEntry)
            .where(TaskLogEntry.task_id == task_id)
            .order_by(col(TaskLogEntry.id))
        )
    )


def parse_status(value: str | None) -> str | None:
    if value is None:
        return None
    if value not in TaskStatus.__members__:
        raise BadRequest(f"status must be one of: {', '.join(TaskStatus.__members__)}")
    return value


def parse_limit(value: str | None, default: int, maximum: int) -> int:
    if value is None or value == "":
        return default
    try:
        limit = int(value)
    except ValueError:
        raise BadRequest("limit must be a whole number") from None
    if limit < 1:
        raise BadRequest("limit must be at least 1")
    return min(limit, maximum)


def to_dispatched(task: Task) -> DispatchedTask:
    return DispatchedTask(
        taskId=task.id,
        action=task.action,
        platform=task.platform,
        status=task.status,
        dispatchedAt=iso(task.dispatched_at),
        scheduledFor=iso(task.scheduled_for),
    )


def to_public(task: Task) -> TaskPublic:
    return TaskPublic(**_public_fields(task))


def _public_fields(task: Task) -> dict[str, Any]:
    return {
        "taskId": task.id,
        "agentId": task.agent_id,
        "action": task.action,
        "platform": task.platform,
        "status": task.status,
        "dispatchedAt": iso(task.dispatched_at),
        "startedAt": iso(task.started_at),
        "completedAt": iso(task.completed_at),
        "scheduledFor": iso(task.scheduled_for),
        "currentStep": task.current_step,
        "errorCode": task.error_code,
        "errorMessage": task.error_message,
        "result": task.result,
        "attempt": task.attempt,
        "timeoutSec": task.timeout_sec,
        "scheduleId": task.schedule_id,
    }


def log_public(entry: TaskLogEntry) -> LogEntryPublic:
    return LogEntryPublic(
        ts=iso(entry.ts),
        step=entry.step,
        status=entry.status,
        message=entry.message or None,
        data=entry.data,
        errorCode=entry.error_code,
    )


def to_detail(task: Task, entries: list[TaskLogEntry]) -> TaskDetail:
    return TaskDetail(
        **_public_fields(task),
        params=task.params,
        log=[log_public(e) for e in entries],
    )
