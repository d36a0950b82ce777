"""FastAPI dependencies: the app context, the request's unit of work, the caller."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Connection
from sqlmodel import Session

from api.context import AppContext
from api.db.models import User
from api.errors import Forbidden, Unauthorized
from api.services import auth as auth_service


async def get_context(request: Request) -> AppContext:
    context: AppContext = request.app.state.context
    return context


ContextDep = Annotated[AppContext, Depends(get_context)]


def get_session(request: Request, context: ContextDep) -> Iterator[Session]:
    """One unit of work per request, committed once before the response is sent.
    Reads (GET/HEAD) begin deferred; everything else takes the write lock up front."""
    write = request.method not in ("GET", "HEAD", "OPTIONS")
    with context.db.unit(write=write) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session, scope="function")]


@dataclass(frozen=True)
class Credentials:
    """What the request presents (read without touching the database)."""

    authorization: str | None
    session_cookie: str | None


async def get_credentials(request: Request) -> Credentials:
    """The presented credentials; a request with none is refused here, before its body
    is looked at. Checking them needs the database and happens in the route's unit."""
    credentials = Credentials(
        authorization=request.headers.get("authorization"),
        session_cookie=request.cookies.get(auth_service.SESSION_COOKIE),
    )
    if not credentials.authorization and not credentials.session_cookie:
        raise Unauthorized("Not authenticated")
    return credentials


CredentialsDep = Annotated[Credentials, Depends(get_credentials)]


@dataclass(frozen=True)
class HotCall:
    """The credentials and the app context in one dependency, for the hottest routes
    (FastAPI resolves each dependency separately, and that shows at thousands of calls
    a second)."""

    credentials: Credentials
    context: AppContext


async def get_hot_call(request: Request) -> HotCall:
    return HotCall(credentials=await get_credentials(request), context=request.app.state.context)


HotCallDep = Annotated[HotCall, Depends(get_hot_call)]


@dataclass(frozen=True)
class Caller:
    user: User
    via: str  # "pat" or "session"


def get_caller(credentials: CredentialsDep, context: ContextDep) -> Caller:
    """Authenticate in a short read transaction of its own, so that the request's unit
    of work takes the write lock only when (and if) it writes."""
    with context.db.unit(write=False) as session:
        user, via = authenticate(session, context, credentials)
    return Caller(user=user, via=via)


def authenticate(
    session: Session, context: AppContext, credentials: Credentials
) -> tuple[User, str]:
    return auth_service.authenticate_request(
        session,
        context,
        authorization=credentials.authorization,
        session_cookie=credentials.session_cookie,
    )


def authenticate_ref(
    connection: Connection, context: AppContext, credentials: Credentials
) -> auth_service.CallerRef:
    """For hot routes that authenticate inside their own unit of work (one thread hop
    and one transaction per request instead of several)."""
    return auth_service.authenticate_ref(
        connection,
        context,
        authorization=credentials.authorization,
        session_cookie=credentials.session_cookie,
    )


CallerDep = Annotated[Caller, Depends(get_caller)]


async def get_current_user(caller: CallerDep) -> User:
    return caller.user


CurrentUser = Annotated[User, Depends(get_current_user)]


async def get_session_user(caller: CallerDep) -> User:
    if caller.via != "session":
        raise Forbidden("This action is only available from the dashboard (session login)")
    return caller.user


SessionUser = Annotated[User, Depends(get_session_user)]
