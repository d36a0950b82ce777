"""Helpers shared by tests: accounts with a PAT, the error-envelope assertion."""

from __future__ import annotations

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
