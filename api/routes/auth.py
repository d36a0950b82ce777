"""Dashboard auth (session cookie), PAT management, locale."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from api.context import AppContext
from api.db.models import User
from api.deps import ContextDep, CurrentUser, SessionDep, SessionUser
from api.schemas.auth import (
    LocaleRequest,
    LocaleResponse,
    LoginRequest,
    PatCreate,
    PatCreateResponse,
    PatListResponse,
    ProfileUpdate,
    UserResponse,
    pat_public,
    user_public,
)
from api.schemas.common import OkResponse
from api.security import SESSION_COOKIE
from api.services import auth as auth_service

router = APIRouter(tags=["auth"])

LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1", "[::1]"}


def _secure(request: Request, context: AppContext) -> bool:
    if context.settings.cookie_secure is not None:
        return context.settings.cookie_secure
    host = (request.url.hostname or "").lower()
    return request.url.scheme == "https" or host in LOOPBACK_HOSTS or host.endswith(".localhost")


def _set_session(response: Response, request: Request, context: AppContext, user: User) -> None:
    token = context.signer.issue(user_id=user.id, email=user.email, name=user.name, plan=user.plan)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=context.settings.session_ttl_s,
        httponly=True,
        secure=_secure(request, context),
        samesite="lax",
        path="/",
    )


@router.post("/api/auth/login", response_model=UserResponse)
def login(
    body: LoginRequest,
    request: Request,
    response: Response,
    session: SessionDep,
    context: ContextDep,
) -> UserResponse:
    """Exchange email + password for the dashboard session cookie."""
    user = auth_service.login(session, email=body.email, password=body.password)
    _set_session(response, request, context, user)
    return UserResponse(user=user_public(user))


@router.post("/api/auth/logout", response_model=OkResponse)
def logout(request: Request, response: Response, context: ContextDep) -> OkResponse:
    """Clear the session cookie. Always succeeds."""
    response.delete_cookie(
        SESSION_COOKIE, path="/", httponly=True, secure=_secure(request, context), samesite="lax"
    )
    return OkResponse()


@router.get("/api/auth/me", response_model=UserResponse)
def me(user: CurrentUser) -> UserResponse:
    """The authenticated user."""
    return UserResponse(user=user_public(user))


@router.patch("/api/auth/profile", response_model=UserResponse)
def update_profile(
    body: ProfileUpdate,
    request: Request,
    response: Response,
    user: SessionUser,
    session: SessionDep,
    context: ContextDep,
) -> UserResponse:
    """Update the logged-in user's name; re-issues the session cookie."""
    if body.name is not None:
        user.name = body.name.strip()
        session.add(user)
    _set_session(response, request, context, user)
    return UserResponse(user=user_public(user))


@router.get("/api/keys", response_model=PatListResponse)
def list_keys(user: CurrentUser, session: SessionDep) -> PatListResponse:
    """The caller's Personal Access Tokens (never the tokens themselves)."""
    return PatListResponse(keys=[pat_public(p) for p in auth_service.list_pats(session, user)])


@router.post("/api/keys", response_model=PatCreateResponse)
def create_key(
    body: PatCreate, user: SessionUser, session: SessionDep, context: ContextDep
) -> PatCreateResponse:
    """Mint a PAT (dashboard session only). The token is in this response and nowhere
    else; only its SHA-256 is stored."""
    pat, token = auth_service.mint_pat(session, context, user, name=body.name)
    return PatCreateResponse(key=pat_public(pat), token=token)


@router.delete("/api/keys/{key_id}", response_model=OkResponse)
def revoke_key(key_id: str, user: SessionUser, session: SessionDep) -> OkResponse:
    """Revoke a PAT (dashboard session only); its next use answers 401 invalid_key."""
    auth_service.revoke_pat(session, user, key_id)
    return OkResponse()


@router.post("/api/locale", response_model=LocaleResponse)
def set_locale(
    body: LocaleRequest,
    request: Request,
    response: Response,
    session: SessionDep,
    context: ContextDep,
) -> LocaleResponse:
    """Persist the dashboard language (cookie, and on the user when logged in)."""
    response.set_cookie(
        "locale",
        body.locale,
        max_age=365 * 86400,
        samesite="lax",
        path="/",
        secure=_secure(request, context),
    )
    cookie = request.cookies.get(SESSION_COOKIE)
    claims = context.signer.read(cookie) if cookie else None
    if claims is not None:
        user = session.get(User, claims["userId"])
        if user is not None:
            user.locale = body.locale
            session.add(user)
    return LocaleResponse(locale=body.locale)
