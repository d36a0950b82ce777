from __future__ import annotations

from pydantic import BaseModel, Field

from api.db.models import PersonalAccessToken, User
from api.schemas.common import Request, iso


class LoginRequest(Request):
    email: str = Field(min_length=1, max_length=320)
    password: str = Field(min_length=1, max_length=1024)


class ProfileUpdate(Request):
    name: str | None = Field(None, max_length=200)


class UserPublic(BaseModel):
    id: str
    email: str
    name: str
    plan: str


class UserResponse(BaseModel):
    success: bool = True
    user: UserPublic


def user_public(user: User) -> UserPublic:
    return UserPublic(id=user.id, email=user.email, name=user.name, plan=user.plan)


class PatCreate(Request):
    name: str = Field("", max_length=200)


class PatPublic(BaseModel):
    id: str
    name: str
    prefix: str
    createdAt: str | None
    lastUsedAt: str | None
    revokedAt: str | None


class PatListResponse(BaseModel):
    success: bool = True
    keys: list[PatPublic]


class PatCreateResponse(BaseModel):
    success: bool = True
    key: PatPublic
    token: str


def pat_public(pat: PersonalAccessToken) -> PatPublic:
    return PatPublic(
        id=pat.id,
        name=pat.name,
        prefix=pat.prefix,
        createdAt=iso(pat.created_at),
        lastUsedAt=iso(pat.last_used_at),
        revokedAt=iso(pat.revoked_at),
    )


class LocaleRequest(Request):
    locale: str = Field(pattern="^(en|zh-TW)$", description="en or zh-TW")


class LocaleResponse(BaseModel):
    success: bool = True
    locale: str
