"""Who is calling: PATs, the dashboard session cookie, login, and PAT management."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, bindparam, update
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from api.context import AppContext
from api.db.direct import DirectStatement
from api.db.engine import WRITE_OPTION
from api.db.models import Agent, PersonalAccessToken, Plan, User, utcnow
from api.db.session import is_write
from api.errors import BadRequest, Forbidden, NotFound, Unauthorized
from api.security import (
    SESSION_COOKIE,
    looks_like_pat,
    new_pat,
    sha256_hex,
    verify_password,
)
from api.services.users import get_by_email

if TYPE_CHECKING:
    from api.services.agents import AgentRef

__all__ = ["SESSION_COOKIE"]

# Built once: this runs on every API call.
_PAT_OWNER = (
    select(User, PersonalAccessToken.id, PersonalAccessToken.last_used_at)
    .join(PersonalAccessToken, col(PersonalAccessToken.user_id) == col(User.id))
    .where(
        PersonalAccessToken.token_hash == bindparam("token_hash"),
        col(PersonalAccessToken.revoked_at).is_(None),
    )
)

# last_used_at is informational; writing it on every call would turn reads into writes.
_LAST_USED_RESOLUTION = timedelta(minutes=1)


def authenticate_request(
    session: Session,
    context: AppContext,
    *,
    authorization: str | None,
    session_cookie: str | None,
) -> tuple[User, str]:
    """The calling user and how they authenticated (``"pat"`` or ``"session"``)."""
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("Invalid Authorization header", error_code="invalid_key")
        return _user_for_pat(session, context, token.strip()), "pat"
    if session_cookie:
        claims = context.signer.read(session_cookie)
        if claims is not None:
            user = session.get(User, claims["userId"])
            if user is not None:
                return user, "session"
        raise Unauthorized("Session expired or invalid; log in again")
    raise Unauthorized("Not authenticated")


@dataclass(frozen=True)
class CallerRef:
    """The caller as hot routes need it: who, without loading the ORM entity."""

    id: str
    email: str
    plan: str


_PAT_OWNER_ROW: Any = (
    sa_select(
        col(User.id),
        col(User.email),
        col(User.plan),
        col(PersonalAccessToken.id).label("pat_id"),
        col(PersonalAccessToken.last_used_at),
    )
    .join(PersonalAccessToken, col(PersonalAccessToken.user_id) == col(User.id))
    .where(
        col(PersonalAccessToken.token_hash) == bindparam("token_hash"),
        col(PersonalAccessToken.revoked_at).is_(None),
    )
)


# The same, with the agent the request names (NULL columns when there is no such agent).
_PAT_OWNER_AND_AGENT: Any = _PAT_OWNER_ROW.add_columns(
    col(Agent.id).label("agent_id"),
    col(Agent.user_id).label("agent_user_id"),
    col(Agent.executor).label("agent_executor"),
    col(Agent.deleted_at).label("agent_deleted_at"),
).outerjoin(Agent, col(Agent.id) == bindparam("agent_id"))


_PAT_OWNER_AND_AGENT_DIRECT = DirectStatement(_PAT_OWNER_AND_AGENT)
_PAT_OWNER_ROW_DIRECT = DirectStatement(_PAT_OWNER_ROW)


def authenticate_for_agent(
    connection: Connection,
    context: AppContext,
    *,
    authorization: str | None,
    session_cookie: str | None,
    agent_id: str,
) -> tuple[CallerRef, AgentRef]:
    """The caller and their live agent ``agent_id`` (404 / 403 as ``get_owned``), in one
    statement for PATs: what the dispatch route needs on every call."""
    from api.services.agents import AgentRef, owned_ref

    token = _bearer_pat(authorization) if authorization else None
    if token is None:
        caller = authenticate_ref(
            connection, context, authorization=authorization, session_cookie=session_cookie
        )
        return caller, owned_ref(connection, caller.id, agent_id)
    row = _PAT_OWNER_AND_AGENT_DIRECT.first(
        connection, {"token_hash": sha256_hex(token), "agent_id": agent_id}
    )
    if row is None:
        raise Unauthorized("Invalid API key", error_code="invalid_key")
    _check_plan(context, row.plan)
    _note_use_core(connection, context, row.pat_id, row.last_used_at)
    if row.agent_id is None or row.agent_deleted_at is not None:
        raise NotFound("Agent not found")
    if row.agent_user_id != row.id:
        raise Forbidden()
    caller = CallerRef(id=row.id, email=row.email, plan=row.plan)
    return caller, AgentRef(id=row.agent_id, user_id=row.agent_user_id, executor=row.agent_executor)


def _bearer_pat(authorization: str) -> str:
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not looks_like_pat(token):
        raise Unauthorized("Invalid API key", error_code="invalid_key")
    return token


def _note_use_core(
    connection: Connection, context: AppContext, pat_id: str, last_used_at: datetime | None
) -> None:
    if not _stale(last_used_at):
        return
    if connection.get_execution_options().get(WRITE_OPTION, True):
        connection.execute(_TOUCH_PAT, {"pat_id": pat_id, "now": utcnow()})
    else:
        _touch_pat(context, pat_id)


_USER_ROW = sa_select(col(User.id), col(User.email), col(User.plan)).where(
    col(User.id) == bindparam("user_id")
)


def authenticate_ref(
    connection: Connection,
    context: AppContext,
    *,
    authorization: str | None,
    session_cookie: str | None,
) -> CallerRef:
    """Like :func:`authenticate_request`, in Core on one connection (the hot path of
    scripts that dispatch and poll)."""
    if not authorization:
        claims = context.signer.read(session_cookie) if session_cookie else None
        if session_cookie and claims is None:
            raise Unauthorized("Session expired or invalid; log in again")
        if claims is None:
            raise Unauthorized("Not authenticated")
        user = connection.execute(_USER_ROW, {"user_id": claims["userId"]}).first()
        if user is None:
            raise Unauthorized("Session expired or invalid; log in again")
        return CallerRef(id=user.id, email=user.email, plan=user.plan)
    token = _bearer_pat(authorization)
    row = _PAT_OWNER_ROW_DIRECT.first(connection, {"token_hash": sha256_hex(token)})
    if row is None:
        raise Unauthorized("Invalid API key", error_code="invalid_key")
    _check_plan(context, row.plan)
    _note_use_core(connection, context, row.pat_id, row.last_used_at)
    return CallerRef(id=row.id, email=row.email, plan=row.plan)


_TOUCH_PAT = (
    update(PersonalAccessToken)
    .where(col(PersonalAccessToken.id) == bindparam("pat_id"))
    .values(last_used_at=bindparam("now"))
)


def _stale(last_used_at: datetime | None) -> bool:
    return last_used_at is None or utcnow() - last_used_at > _LAST_USED_RESOLUTION


def _check_plan(context: AppContext, plan: str) -> None:
    if context.settings.enforce_plans and plan == Plan.free:
        raise Unauthorized(
            "This API key was revoked when the account moved to the Free plan",
            error_code="plan_downgraded",
        )


def _note_use(
    session: Session, context: AppContext, pat_id: str, last_used_at: datetime | None
) -> None:
    now = utcnow()
    if not _stale(last_used_at):
        return
    if is_write(session):
        session.execute(
            update(PersonalAccessToken)
            .where(col(PersonalAccessToken.id) == pat_id)
            .values(last_used_at=now)
        )
    else:
        _touch_pat(context, pat_id)


def _user_for_pat(session: Session, context: AppContext, token: str) -> User:
    if not looks_like_pat(token):
        raise Unauthorized("Invalid API key", error_code="invalid_key")
    # One round trip: the token's row and its owner together (this runs on every call).
    row = session.exec(_PAT_OWNER, params={"token_hash": sha256_hex(token)}).first()
    if row is None:
        raise Unauthorized("Invalid API key", error_code="invalid_key")
    user, pat_id, last_used_at = row
    _check_plan(context, user.plan)
    _note_use(session, context, pat_id, last_used_at)
    return user


def _touch_pat(context: AppContext, pat_id: str) -> None:
    """Record use in its own short write, so read requests stay read-only."""
    with context.db.unit(write=True) as session:
        pat = session.get(PersonalAccessToken, pat_id)
        if pat is not None:
            pat.last_used_at = utcnow()


def login(session: Session, *, email: str, password: str) -> User:
    user = get_by_email(session, email)
    if user is None or not verify_password(user.password_hash, password):
        raise Unauthorized("Invalid email or password")
    return user


def check_password(user: User, password: str | None) -> None:
    if not password:
        raise BadRequest("Password is required", extra={"passwordRequired": True})
    if not verify_password(user.password_hash, password):
        raise Unauthorized("Incorrect password")


def mint_pat(
    session: Session, context: AppContext, user: User, *, name: str = "", enforce: bool = True
) -> tuple[PersonalAccessToken, str]:
    """Create a PAT; the plain token is returned once and only its SHA-256 is stored."""
    if enforce and context.settings.enforce_plans and user.plan == Plan.free:
        raise Forbidden(
            "Upgrade to Pro to enable API access",
            error_code="plan_upgrade_required",
            extra={"upgradeUrl": context.settings.upgrade_url},
        )
    token = new_pat()
    pat = PersonalAccessToken(
        user_id=user.id,
        name=name.strip(),
        token_hash=sha256_hex(token),
        prefix=token[: len("bk_pat_") + 4],
    )
    session.add(pat)
    session.flush()
    return pat, token


def list_pats(session: Session, user: User) -> list[PersonalAccessToken]:
    return list(
        session.exec(
            select(PersonalAccessToken)
            .where(PersonalAccessToken.user_id == user.id)
            .order_by(col(PersonalAccessToken.created_at).desc())
        )
    )


def revoke_pat(session: Session, user: User, pat_id: str) -> PersonalAccessToken:
    pat = session.get(PersonalAccessToken, pat_id)
    if pat is None:
        raise NotFound("API key not found")
    if pat.user_id != user.id:
        raise Forbidden()
    if pat.revoked_at is None:
        pat.revoked_at = utcnow()
    return pat
