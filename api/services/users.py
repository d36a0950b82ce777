"""Users: creation, lookup, password checks."""

from __future__ import annotations

import re

from sqlmodel import Session, select

from api.db.models import Plan, User
from api.errors import BadRequest, Conflict
from api.security import hash_password

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
MIN_PASSWORD_LENGTH = 8


def normalise_email(email: str) -> str:
    return email.strip().lower()


def get_by_email(session: Session, email: str) -> User | None:
    return session.exec(select(User).where(User.email == normalise_email(email))).first()


def create_user(
    session: Session, *, email: str, password: str, name: str = "", plan: str = "free"
) -> User:
    email = normalise_email(email)
    if not _EMAIL.match(email):
        raise BadRequest(f"Invalid email address: {email!r}")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise BadRequest(f"Password must be at least {MIN_PASSWORD_LENGTH} characters")
    if plan not in Plan.__members__:
        raise BadRequest(f"plan must be one of: {', '.join(Plan.__members__)}")
    if get_by_email(session, email) is not None:
        raise Conflict(f"A user with email {email} already exists")
    user = User(
        email=email,
        name=name.strip() or email.split("@")[0],
        password_hash=hash_password(password),
        plan=plan,
    )
    session.add(user)
    session.flush()
    return user
