"""Domain errors. Each carries its HTTP status and optional ``errorCode``; one handler
(see ``api.app``) renders them in the seed envelope
``{"success": false, "error": "...", "errorCode"?: "..."}``."""

from __future__ import annotations

from typing import Any


class BredgioError(Exception):
    status_code = 400
    default_message = "Bad request"

    def __init__(
        self,
        message: str | None = None,
        *,
        error_code: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.message = message or self.default_message
        super().__init__(self.message)
        self.error_code = error_code
        self.extra = extra or {}

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"success": False, "error": self.message}
        if self.error_code:
            body["errorCode"] = self.error_code
        body.update(self.extra)
        return body


class BadRequest(BredgioError):
    status_code = 400
    default_message = "Bad request"


class Unauthorized(BredgioError):
    status_code = 401
    default_message = "Not authenticated"


class Forbidden(BredgioError):
    status_code = 403
    default_message = "Forbidden"


class NotFound(BredgioError):
    status_code = 404
    default_message = "Not found"


class Conflict(BredgioError):
    status_code = 409
    default_message = "Conflict"


class PayloadTooLarge(BredgioError):
    status_code = 413
    default_message = "Payload too large"


class ServiceUnavailable(BredgioError):
    status_code = 503
    default_message = "Service unavailable"
