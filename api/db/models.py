"""SQLModel tables. IDs are strings; timestamps are timezone-aware UTC."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, DateTime, Index, TypeDecorator, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

JSONType = JSON().with_variant(JSONB(), "postgresql")


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC, hands back aware datetimes on SQLite and PostgreSQL alike."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


_counter = int.from_bytes(os.urandom(3), "big")


def new_id() -> str:
    """A 24-hex id that sorts by creation time (4 bytes of seconds, 5 random bytes, a
    3-byte counter), the shape the API document's examples show."""
    global _counter
    _counter = (_counter + 1) % 0xFFFFFF
    return f"{int(time.time()):08x}{os.urandom(5).hex()}{_counter:06x}"


def utcnow() -> datetime:
    return datetime.now(UTC)


def _dt(nullable: bool = True, index: bool = False) -> Any:
    return Field(default=None, sa_column=Column(UTCDateTime(), nullable=nullable, index=index))


class Plan(StrEnum):
    free = "free"
    pro = "pro"
    team = "team"


class AgentStatus(StrEnum):
    online = "online"
    offline = "offline"
    paused = "paused"


class ExecutorKind(StrEnum):
    runner = "runner"
    extension = "extension"


class TaskStatus(StrEnum):
    pending = "pending"
    dispatched = "dispatched"
    running = "running"
    completed = "completed"
    failed = "failed"
    cancelled = "cancelled"


TERMINAL_TASK_STATUSES = frozenset({TaskStatus.completed, TaskStatus.failed, TaskStatus.cancelled})


class ScheduleStatus(StrEnum):
    active = "active"
    paused = "paused"
    completed = "completed"
    cancelled = "cancelled"


class Frequency(StrEnum):
    oneoff = "oneoff"
    daily = "daily"
    weekly = "weekly"
    cron = "cron"
    interval = "interval"


class User(SQLModel, table=True):
    __tablename__ = "users"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    email: str = Field(index=True, unique=True, max_length=320)
    name: str = Field(default="", max_length=200)
    password_hash: str = Field(max_length=200)
    plan: str = Field(default=Plan.free.value, max_length=16)
    locale: str | None = Field(default=None, max_length=16)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )


class PersonalAccessToken(SQLModel, table=True):
    __tablename__ = "personal_access_tokens"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    user_id: str = Field(foreign_key="users.id", index=True, max_length=32)
    name: str = Field(default="", max_length=200)
    token_hash: str = Field(unique=True, index=True, max_length=64)
    prefix: str = Field(max_length=32)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    last_used_at: datetime | None = _dt()
    revoked_at: datetime | None = _dt()


class Agent(SQLModel, table=True):
    __tablename__ = "agents"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    user_id: str = Field(foreign_key="users.id", index=True, max_length=32)
    name: str = Field(max_length=200)
    platforms: list[str] = Field(default_factory=list, sa_column=Column(JSONType, nullable=False))
    status: str = Field(default=AgentStatus.offline.value, max_length=16)
    executor: str = Field(default=ExecutorKind.runner.value, max_length=16)
    config: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
    browser: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSONType, nullable=False)
    )
    token_encrypted: str = Field(max_length=400)
    token_hash: str = Field(unique=True, index=True, max_length=64)
    last_seen_at: datetime | None = _dt()
    extension_version: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    deleted_at: datetime | None = _dt()


class Task(SQLModel, table=True):
    __tablename__ = "tasks"
    __table_args__ = (
        Index("ix_tasks_agent_dispatched", "agent_id", "dispatched_at"),
        Index("ix_tasks_user_dispatched", "user_id", "dispatched_at"),
        Index("ix_tasks_status", "status"),
        # The queue of an agent (claims, queuePosition) and its pacing (last completion).
        Index("ix_tasks_agent_status_dispatched", "agent_id", "status", "dispatched_at"),
        Index("ix_tasks_agent_status_completed", "agent_id", "status", "completed_at"),
        UniqueConstraint("user_id", "idempotency_key", name="uq_tasks_user_idempotency"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    agent_id: str = Field(foreign_key="agents.id", max_length=32)
    user_id: str = Field(foreign_key="users.id", max_length=32)
    action: str = Field(max_length=32)
    platform: str = Field(max_length=16)
    params: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
    status: str = Field(default=TaskStatus.pending.value, max_length=16)
    dispatched_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    started_at: datetime | None = _dt()
    completed_at: datetime | None = _dt()
    scheduled_for: datetime | None = _dt()
    current_step: str | None = Field(default=None, max_length=64)
    error_code: str | None = Field(default=None, max_length=64)
    error_message: str | None = Field(default=None)
    result: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONType, nullable=True))
    attempt: int = Field(default=1)
    timeout_sec: int = Field(default=300)
    schedule_id: str | None = Field(default=None, max_length=32, index=True)
    idempotency_key: str | None = Field(default=None, max_length=255)
    point_of_no_return_at: datetime | None = _dt()
    # Crash recovery: which runner holds the task, its last heartbeat, and a fencing
    # token that grows with every claim (a runner whose token is stale must stop).
    runner_id: str | None = Field(default=None, max_length=128)
    heartbeat_at: datetime | None = _dt()
    lease_token: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )


class TaskLogEntry(SQLModel, table=True):
    __tablename__ = "task_log_entries"

    id: int | None = Field(default=None, primary_key=True)
    task_id: str = Field(foreign_key="tasks.id", index=True, max_length=32)
    ts: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    step: str = Field(max_length=64)
    status: str = Field(max_length=8)
    message: str = Field(default="")
    data: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONType, nullable=True))
    error_code: str | None = Field(default=None, max_length=64)


class Schedule(SQLModel, table=True):
    __tablename__ = "schedules"
    __table_args__ = (Index("ix_schedules_due", "status", "next_run_at"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    user_id: str = Field(foreign_key="users.id", index=True, max_length=32)
    agent_id: str = Field(foreign_key="agents.id", index=True, max_length=32)
    platform: str = Field(max_length=16)
    action: str = Field(default="post", max_length=32)
    content: str
    media: list[dict[str, Any]] | None = Field(
        default=None, sa_column=Column(JSONType, nullable=True)
    )
    frequency: str = Field(max_length=16)
    run_at: datetime | None = _dt()
    time_minutes_utc: int | None = None
    day_of_week: int | None = None
    cron_expr: str | None = Field(default=None, max_length=200)
    cron_timezone: str | None = Field(default=None, max_length=64)
    interval_value: int | None = None
    interval_unit: str | None = Field(default=None, max_length=16)
    timezone: str | None = Field(default=None, max_length=64)
    misfire_grace_sec: int = Field(default=300)
    status: str = Field(default=ScheduleStatus.active.value, max_length=16)
    next_run_at: datetime | None = _dt()
    last_run_at: datetime | None = _dt()
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )


class ScheduleRun(SQLModel, table=True):
    """One fire time of a schedule. The unique (schedule, fire time) key makes a fire
    happen once however many schedulers run."""

    __tablename__ = "schedule_runs"
    __table_args__ = (UniqueConstraint("schedule_id", "fire_at", name="uq_schedule_runs_fire"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    schedule_id: str = Field(
        foreign_key="schedules.id", ondelete="CASCADE", index=True, max_length=32
    )
    fire_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    outcome: str = Field(max_length=16)  # dispatched | skipped
    task_id: str | None = Field(default=None, max_length=32)
    reason: str | None = None
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )


class OutreachLog(SQLModel, table=True):
    __tablename__ = "outreach_logs"
    __table_args__ = (Index("ix_outreach_user_ts", "user_id", "timestamp"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    user_id: str = Field(foreign_key="users.id", max_length=32)
    agent_id: str = Field(foreign_key="agents.id", index=True, max_length=32)
    task_id: str | None = Field(default=None, max_length=32, index=True)
    platform: str = Field(max_length=16)
    result: str = Field(max_length=16)
    target_url: str | None = None
    target_name: str | None = None
    message_sent: str | None = None
    error_message: str | None = None
    timestamp: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )


class Media(SQLModel, table=True):
    __tablename__ = "media"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    key: str = Field(unique=True, index=True, max_length=300)
    user_id: str = Field(foreign_key="users.id", index=True, max_length=32)
    type: str = Field(max_length=32)
    size: int
    sha256: str = Field(max_length=64)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
