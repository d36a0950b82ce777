"""Agents: ownership, CRUD, tokens, today's counts, the extension heartbeat."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from api.context import AppContext, TaskWakeup
from api.db.models import Agent, AgentStatus, Task, User, utcnow
from api.db.session import after_commit
from api.errors import BadRequest, Forbidden, NotFound, Unauthorized
from api.schemas.agents import (
    DEFAULT_CONFIG,
    AgentConfig,
    AgentConfigPublic,
    AgentCreate,
    AgentPublic,
    AgentUpdate,
    AgentWithToken,
)
from api.schemas.common import iso
from api.security import new_agent_token, sha256_hex
from api.services import auth as auth_service
from api.services.browser import validate_browser


def get_owned(session: Session, user: User, agent_id: str) -> Agent:
    """The caller's live agent: 404 if it does not exist (or was deleted), 403 if it
    belongs to someone else."""
    agent = session.get(Agent, agent_id)
    if agent is None or agent.deleted_at is not None:
        raise NotFound("Agent not found")
    if agent.user_id != user.id:
        raise Forbidden()
    return agent


@dataclass(frozen=True)
class AgentRef:
    id: str
    user_id: str
    executor: str


_AGENT_OWNER = sa_select(
    col(Agent.id), col(Agent.user_id), col(Agent.executor), col(Agent.deleted_at)
).where(col(Agent.id) == bindparam("agent_id"))


def owned_ref(connection: Connection, user_id: str, agent_id: str) -> AgentRef:
    """:func:`get_owned` for hot paths: the same checks, one Core query, no entity."""
    row = connection.execute(_AGENT_OWNER, {"agent_id": agent_id}).first()
    if row is None or row.deleted_at is not None:
        raise NotFound("Agent not found")
    if row.user_id != user_id:
        raise Forbidden()
    return AgentRef(id=row.id, user_id=row.user_id, executor=row.executor)


def today_counts(session: Session, agent_ids: Sequence[str]) -> dict[str, int]:
    """Tasks dispatched in the last 24 h, per agent."""
    if not agent_ids:
        return {}
    since = utcnow() - timedelta(hours=24)
    rows = session.exec(
        select(Task.agent_id, func.count())
        .where(col(Task.agent_id).in_(agent_ids), Task.dispatched_at >= since)
        .group_by(Task.agent_id)
    ).all()
    return {agent_id: count for agent_id, count in rows}


def shown_status(agent: Agent, runners_online: bool | None) -> str:
    """Runner agents are online while a live runner can serve them (paused stays
    paused); extension agents follow their socket and heartbeat."""
    served_by_runners = agent.executor == "runner" and runners_online is not None
    if served_by_runners and agent.status != AgentStatus.paused:
        return AgentStatus.online.value if runners_online else AgentStatus.offline.value
    return agent.status


def to_public(
    agent: Agent, user_email: str, today_count: int, runners_online: bool | None = None
) -> AgentPublic:
    config = {**DEFAULT_CONFIG, **agent.config}
    return AgentPublic(
        agentId=agent.id,
        name=agent.name,
        userId=agent.user_id,
        userEmail=user_email,
        status=shown_status(agent, runners_online),
        platforms=list(agent.platforms),
        config=AgentConfigPublic(**config),
        executor=agent.executor,
        browser=dict(agent.browser),
        lastSeenAt=iso(agent.last_seen_at),
        extensionVersion=agent.extension_version,
        createdAt=iso(agent.created_at),
        todayCount=today_count,
    )


def list_agents(
    session: Session, user: User, runners_online: bool | None = None
) -> list[AgentPublic]:
    agents = session.exec(
        select(Agent)
        .where(Agent.user_id == user.id, col(Agent.deleted_at).is_(None))
        .order_by(col(Agent.created_at))
    ).all()
    counts = today_counts(session, [a.id for a in agents])
    return [to_public(a, user.email, counts.get(a.id, 0), runners_online) for a in agents]


def public(
    session: Session, user: User, agent: Agent, runners_online: bool | None = None
) -> AgentPublic:
    count = today_counts(session, [agent.id]).get(agent.id, 0)
    return to_public(agent, user.email, count, runners_online)


def _merge_config(current: dict[str, Any], patch: AgentConfig | None) -> dict[str, Any]:
    merged = {**DEFAULT_CONFIG, **current}
    if patch is not None:
        merged.update(patch.model_dump(exclude_none=True))
    return merged


def create_agent(
    session: Session, context: AppContext, user: User, body: AgentCreate
) -> AgentWithToken:
    token = new_agent_token()
    agent = Agent(
        user_id=user.id,
        name=body.name.strip(),
        platforms=_unique(body.platforms),
        executor=body.executor,
        config=_merge_config({}, body.config),
        browser=validate_browser(body.browser or {}),
        token_encrypted=context.token_box.encrypt(token),
        token_hash=sha256_hex(token),
    )
    if not agent.name:
        raise BadRequest("name must not be blank")
    session.add(agent)
    session.flush()
    return AgentWithToken(**to_public(agent, user.email, 0).model_dump(), token=token)


def update_agent(
    session: Session,
    user: User,
    agent_id: str,
    body: AgentUpdate,
    context: AppContext | None = None,
) -> Agent:
    agent = get_owned(session, user, agent_id)
    was_paused = agent.status == AgentStatus.paused
    if body.name is not None:
        if not body.name.strip():
            raise BadRequest("name must not be blank")
        agent.name = body.name.strip()
    if body.platforms is not None:
        agent.platforms = _unique(body.platforms)
    if body.status is not None:
        agent.status = body.status
    if body.executor is not None:
        agent.executor = body.executor
    if body.config is not None:
        agent.config = _merge_config(agent.config, body.config)
    if body.browser is not None:
        agent.browser = validate_browser({**agent.browser, **body.browser})
    session.add(agent)
    session.flush()
    if context is not None and was_paused and agent.status != AgentStatus.paused:
        # Its held tasks may run now.
        wakeup = TaskWakeup(task_id="", agent_id=agent.id, executor=agent.executor)
        after_commit(session, lambda: context.wake_task(wakeup))
    return agent


def delete_agent(session: Session, context: AppContext, user: User, agent_id: str) -> None:
    agent = get_owned(session, user, agent_id)
    agent.deleted_at = utcnow()
    agent.status = AgentStatus.offline.value
    session.add(agent)
    after_commit(session, lambda: context.revoke_agent(agent_id))


def reveal_token(session: Session, context: AppContext, user: User, agent_id: str) -> str:
    agent = get_owned(session, user, agent_id)
    token = context.token_box.decrypt(agent.token_encrypted)
    if token is None:
        raise BadRequest(
            "The agent token cannot be decrypted with this server's secret key; rotate it"
        )
    return token


def rotate_token(
    session: Session, context: AppContext, user: User, agent_id: str, password: str | None
) -> str:
    agent = get_owned(session, user, agent_id)
    auth_service.check_password(user, password)
    token = new_agent_token()
    agent.token_encrypted = context.token_box.encrypt(token)
    agent.token_hash = sha256_hex(token)
    session.add(agent)
    after_commit(session, lambda: context.revoke_agent(agent_id))
    return token


def agent_for_token(session: Session, token: str | None) -> Agent | None:
    if not token or len(token) != 64:
        return None
    agent = session.exec(select(Agent).where(Agent.token_hash == sha256_hex(token))).first()
    if agent is None or agent.deleted_at is not None:
        return None
    return agent


def heartbeat(session: Session, token: str | None, version: str | None) -> tuple[Agent, User]:
    if not token:
        raise BadRequest("token is required")
    agent = agent_for_token(session, token)
    if agent is None:
        raise Unauthorized("Invalid token")
    mark_seen(agent, version)
    session.add(agent)
    user = session.get(User, agent.user_id)
    assert user is not None
    return agent, user


def mark_seen(agent: Agent, version: str | None) -> None:
    agent.last_seen_at = utcnow()
    if version:
        agent.extension_version = version
    if agent.status != AgentStatus.paused:
        agent.status = AgentStatus.online.value


def _unique(values: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(values))
