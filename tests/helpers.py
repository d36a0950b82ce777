"""Helpers shared by tests: accounts with a PAT, the error-envelope assertion."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from api.context import AppContext
from api.services import auth as auth_service
from api.services import users as user_service


@dataclass
class Account:
    id: str
    email: str
    password: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def make_account(
    context: AppContext, email: str, *, plan: str = "pro", password: str = "correct horse"
) -> Account:
    with context.db.unit() as session:
        user = user_service.create_user(
            session, email=email, password=password, name=email.split("@")[0].title(), plan=plan
        )
        _, token = auth_service.mint_pat(session, context, user, name="tests", enforce=False)
        return Account(id=user.id, email=user.email, password=password, token=token)


def assert_error(
    response: httpx.Response, status: int, *, code: str | None = None
) -> dict[str, Any]:
    """The seed envelope: ``{"success": false, "error": "..."}`` (+ ``errorCode``)."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is False
    assert isinstance(body["error"], str) and body["error"]
    if code is not None:
        assert body.get("errorCode") == code, body
    return dict(body)


def png_bytes(width: int = 4, height: int = 3, rgb: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    """A valid PNG image of one colour (no imaging library needed)."""
    import struct
    import zlib

    def chunk(kind: bytes, payload: bytes) -> bytes:
        body = kind + payload
        return struct.pack(">I", len(payload)) + body + struct.pack(">I", zlib.crc32(body))

    row = b"\x00" + bytes(rgb) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * height))
        + chunk(b"IEND", b"")
    )


async def eventually(
    check: Callable[[], Any], timeout_s: float = 5.0, interval_s: float = 0.02
) -> Any:
    """Poll ``check`` (sync or async) until it returns something truthy; that value."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s} s")
        await asyncio.sleep(interval_s)
