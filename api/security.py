"""Passwords, tokens, the session cookie and agent-token encryption."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.fernet import Fernet, InvalidToken

PAT_PREFIX = "bk_pat_"
SESSION_COOKIE = "bredgio_session"
_JWT_ALGORITHM = "HS256"

_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def new_pat() -> str:
    """``bk_pat_`` + 32 hex characters."""
    return PAT_PREFIX + secrets.token_hex(16)


_PAT_SHAPE = re.compile(r"bk_pat_[0-9a-f]{32}")


def looks_like_pat(token: str) -> bool:
    return _PAT_SHAPE.fullmatch(token) is not None


def new_agent_token() -> str:
    """64 hex characters, like ``randomBytes(32).toString('hex')``."""
    return secrets.token_hex(32)


class TokenBox:
    """Encrypts agent tokens at rest with a key derived from the server secret."""

    def __init__(self, secret_key: str) -> None:
        derived = hmac.new(secret_key.encode(), b"bredgio-agent-token", hashlib.sha256).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(derived))

    def encrypt(self, token: str) -> str:
        return self._fernet.encrypt(token.encode()).decode()

    def decrypt(self, blob: str) -> str | None:
        try:
            return self._fernet.decrypt(blob.encode()).decode()
        except InvalidToken:
            return None


class SessionSigner:
    """The dashboard session cookie: a signed JWT with ``{userId, email, name, plan}``."""

    def __init__(self, secret_key: str, ttl_s: int) -> None:
        self._key = hmac.new(secret_key.encode(), b"bredgio-session", hashlib.sha256).hexdigest()
        self.ttl_s = ttl_s

    def issue(self, *, user_id: str, email: str, name: str, plan: str) -> str:
        now = datetime.now(UTC)
        claims = {
            "userId": user_id,
            "email": email,
            "name": name,
            "plan": plan,
            "iat": now,
            "exp": now + timedelta(seconds=self.ttl_s),
        }
        return jwt.encode(claims, self._key, algorithm=_JWT_ALGORITHM)

    def read(self, token: str) -> dict[str, Any] | None:
        try:
            claims: dict[str, Any] = jwt.decode(token, self._key, algorithms=[_JWT_ALGORITHM])
        except jwt.PyJWTError:
            return None
        return claims if isinstance(claims.get("userId"), str) else None
