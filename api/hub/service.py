"""What the hub does to the database: admit an extension by its token, keep the agent's
presence (status, lastSeenAt, extensionVersion), sweep stale agents offline, claim the
tasks of extension agents, and fail them ``agent_offline`` when no socket can run them.

Functions take a session and never commit; the hub runs each in one unit of work.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import update
from sqlmodel import Session, col, select

from api.db.models import Agent, AgentStatus, ExecutorKind, TaskStatus, utcnow
from api.services import agents as agent_service
from api.services import execution
from api.services.execution import Claim

AGENT_OFFLINE = "agent_offline"
AGENT_OFFLINE_MESSAGE = "No extension was connected when the task was claimed"

MAX_VERSION_LENGTH = 64

#: Most tasks one pass fails ``agent_offline`` (the rest wait for the next pass).
MAX_OFFLINE_FAILS = 100


@dataclass(frozen=True)
class Admitted:
    agent_id: str
    executor: str


def admit(session: Session, token: str, version: str | None) -> Admitted | None:
    """The live agent behind ``token``, marked online (unless paused) with ``version``
    stored as its extensionVersion; None for an unknown or revoked token."""
    agent = agent_service.agent_for_token(session, token)
    if agent is None:
        return None
    agent_service.mark_seen(agent, clean_version(version))
    session.add(agent)
    return Admitted(agent_id=agent.id, executor=agent.executor)


def touch(session: Session, agent_ids: Sequence[str]) -> None:
    """The agents' extensions were heard from: refresh lastSeenAt, and bring back online
    any that a sweep (on another process, say) set offline meanwhile."""
    if not agent_ids:
        return
    now = utcnow()
    session.execute(
        update(Agent)
        .where(col(Agent.id).in_(agent_ids), col(Agent.deleted_at).is_(None))
        .values(last_seen_at=now)
    )
    session.execute(
        update(Agent)
        .where(
            col(Agent.id).in_(agent_ids),
            col(Agent.deleted_at).is_(None),
            col(Agent.status) == AgentStatus.offline.value,
        )
        .values(status=AgentStatus.online.value)
    )


def clean_version(version: str | None) -> str | None:
    """An extension version as stored (the column holds 64 characters)."""
    version = (version or "").strip()
    return version[:MAX_VERSION_LENGTH] or None


def store_version(session: Session, agent_id: str, version: str) -> None:
    session.execute(
        update(Agent)
        .where(col(Agent.id) == agent_id)
        .values(extension_version=clean_version(version))
    )


def mark_offline(session: Session, agent_id: str) -> None:
    """The agent's socket closed: ``online → offline`` (a paused agent stays paused)."""
    session.execute(
        update(Agent)
        .where(col(Agent.id) == agent_id, col(Agent.status) == AgentStatus.online.value)
        .values(status=AgentStatus.offline.value)
    )


def sweep_stale(session: Session, *, seen_before: datetime) -> list[str]:
    """Set offline every online extension agent whose lastSeenAt is older than
    ``seen_before`` (or unset); returns their ids."""
    stale = (
        col(Agent.executor) == ExecutorKind.extension.value,
        col(Agent.status) == AgentStatus.online.value,
        col(Agent.deleted_at).is_(None),
        col(Agent.last_seen_at).is_(None) | (col(Agent.last_seen_at) < seen_before),
    )
    ids = list(session.exec(select(Agent.id).where(*stale)).all())
    if ids:
        session.execute(
            update(Agent)
            .where(col(Agent.id).in_(ids), *stale)
            .values(status=AgentStatus.offline.value)
        )
    return ids


def _is_extension_agent(session: Session, agent_id: str) -> bool:
    executor = session.exec(select(Agent.executor).where(Agent.id == agent_id)).first()
    return executor == ExecutorKind.extension.value


def claim(session: Session, agent_id: str, runner_id: str) -> Claim:
    """Claim and start the next runnable task of an extension agent. Nothing if there is
    none, the agent is busy, paused, deleted, or runs its tasks on a runner; a
    ``not_before`` if its next task must wait (pacing, ``scheduledFor``)."""
    if not _is_extension_agent(session, agent_id):
        return Claim()
    return execution.claim(session, agent_id, start=True, runner_id=runner_id)


def fail_offline(session: Session, agent_id: str) -> list[str]:
    """No socket of the agent is connected anywhere: claim each of its runnable tasks and
    fail it ``agent_offline``. Returns the failed tasks' ids."""
    if not _is_extension_agent(session, agent_id):
        return []
    failed: list[str] = []
    while len(failed) < MAX_OFFLINE_FAILS:
        run = execution.claim_next(session, agent_id)
        if run is None:
            break
        execution.append_log(
            session,
            run.task_id,
            ts=utcnow(),
            step="dispatch",
            status="error",
            message=AGENT_OFFLINE_MESSAGE,
            error_code=AGENT_OFFLINE,
        )
        execution.finish(
            session,
            run.task_id,
            TaskStatus.failed,
            error_code=AGENT_OFFLINE,
            error_message=AGENT_OFFLINE_MESSAGE,
        )
        failed.append(run.task_id)
    return failed


def runnable_agents(session: Session) -> list[str]:
    """Extension agents with a runnable task and nothing in flight."""
    return execution.agents_with_runnable_tasks(session, ExecutorKind.extension.value)
