from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import Response
from pydantic import BaseModel, ConfigDict


def iso(value: datetime | None) -> str | None:
    """``2026-05-18T03:14:15.000Z``, the document's timestamp format."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


class Request(BaseModel):
    """Base of every request body: unknown fields are rejected with a clear 400."""

    model_config = ConfigDict(extra="forbid")


class OkResponse(BaseModel):
    success: bool = True


class ErrorResponse(BaseModel):
    model_config = ConfigDict(extra="allow")

    success: bool = False
    error: str
    errorCode: str | None = None


def model_response(model: BaseModel) -> Response:
    """A JSON response from an already-validated model (the route keeps its
    ``response_model`` for OpenAPI; this skips validating the same data twice)."""
    return Response(model.model_dump_json(), media_type="application/json")


def ok(**fields: Any) -> dict[str, Any]:
    return {"success": True, **fields}
