"""The task state machine. Every status change goes through :func:`transition`.

pending → dispatched → running → completed | failed | cancelled
pending → cancelled | failed;  dispatched → pending (handed back) | failed | cancelled
running → pending (retried before the point of no return)
"""

from __future__ import annotations

from typing import Any

from api.db.models import TERMINAL_TASK_STATUSES, Task, TaskStatus, utcnow

_ALLOWED: dict[TaskStatus, frozenset[TaskStatus]] = {
    TaskStatus.pending: frozenset({TaskStatus.dispatched, TaskStatus.cancelled, TaskStatus.failed}),
    TaskStatus.dispatched: frozenset(
        {TaskStatus.running, TaskStatus.pending, TaskStatus.failed, TaskStatus.cancelled}
    ),
    TaskStatus.running: frozenset(
        {TaskStatus.completed, TaskStatus.failed, TaskStatus.cancelled, TaskStatus.pending}
    ),
    TaskStatus.completed: frozenset(),
    TaskStatus.failed: frozenset(),
    TaskStatus.cancelled: frozenset(),
}


class IllegalTransition(Exception):
    def __init__(self, task_id: str, current: str, target: str) -> None:
        super().__init__(f"task {task_id}: {current} → {target} is not allowed")
        self.current = current
        self.target = target


def can_transition(current: str, target: str) -> bool:
    return TaskStatus(target) in _ALLOWED[TaskStatus(current)]


def transition(task: Task, target: TaskStatus, **fields: Any) -> Task:
    """Move ``task`` to ``target``, stamping the matching timestamps; raise
    :class:`IllegalTransition` for moves the machine does not allow."""
    if not can_transition(task.status, target):
        raise IllegalTransition(task.id, task.status, target)
    now = utcnow()
    task.status = target.value
    if target == TaskStatus.running and task.started_at is None:
        task.started_at = now
    if target in TERMINAL_TASK_STATUSES:
        task.completed_at = now
        task.current_step = None
    if target == TaskStatus.pending:
        task.started_at = None
        task.current_step = None
    for name, value in fields.items():
        setattr(task, name, value)
    task.updated_at = now
    return task


def is_terminal(status: str) -> bool:
    return TaskStatus(status) in TERMINAL_TASK_STATUSES
