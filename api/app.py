"""The FastAPI application: routers, and the one place errors become the seed envelope."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from api.config import Settings, get_settings
from api.context import AppContext
from api.db.state import IllegalTransition
from api.errors import BredgioError
from api.hub.endpoint import router as hub_router
from api.routes import (
    agents,
    auth,
    extension,
    extension_zip,
    logs,
    media,
    profiles,
    schedules,
    tasks,
)

log = logging.getLogger(__name__)

Lifespan = Callable[[FastAPI, AppContext], AbstractAsyncContextManager[None]]

_STATUS_MESSAGES = {
    400: "Bad request",
    401: "Not authenticated",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    413: "Payload too large",
}


def _envelope(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"success": False, "error": message, **extra}, status_code=status)


def _describe_validation(errors: list[Any]) -> str:
    parts: list[str] = []
    for error in errors:
        kind = error.get("type", "")
        if kind == "json_invalid":
            return "Malformed JSON body"
        loc = [str(p) for p in error.get("loc", ()) if p not in ("body", "query", "path")]
        where = ".".join(loc)
        if kind == "missing" and not where:
            return "Request body is required"
        if kind == "model_attributes_type" or (kind == "dict_type" and not where):
            return "Request body must be a JSON object"
        if kind == "missing":
            parts.append(f"{where} is required")
        elif kind == "extra_forbidden":
            parts.append(f"{where}: unknown field")
        else:
            parts.append(f"{where}: {error.get('msg', 'invalid')}" if where else error["msg"])
    return "; ".join(parts) or "Invalid request"


class FormAsJson:
    """``curl -d '{...}'`` sends JSON labelled ``application/x-www-form-urlencoded``. No
    Bredgio endpoint takes a form, so such bodies are read as the JSON they are."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in ("POST", "PATCH", "PUT"):
            headers = scope["headers"]
            for index, (name, value) in enumerate(headers):
                if name == b"content-type" and value.startswith(
                    b"application/x-www-form-urlencoded"
                ):
                    scope = dict(scope)
                    scope["headers"] = [
                        *headers[:index],
                        (b"content-type", b"application/json"),
                        *headers[index + 1 :],
                    ]
                    break
        await self.app(scope, receive, send)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(BredgioError)
    async def _domain(_: Request, error: BredgioError) -> JSONResponse:
        return JSONResponse(error.body(), status_code=error.status_code)

    @app.exception_handler(RequestValidationError)
    async def _request_validation(_: Request, error: RequestValidationError) -> JSONResponse:
        return _envelope(400, _describe_validation(list(error.errors())))

    @app.exception_handler(ValidationError)
    async def _validation(_: Request, error: ValidationError) -> JSONResponse:
        return _envelope(400, _describe_validation(list(error.errors())))

    @app.exception_handler(DataError)
    async def _data(_: Request, error: DataError) -> JSONResponse:
        # PostgreSQL refuses some values SQLite stores (a NUL character, say); they come
        # from the request, so they are the caller's to fix, not a server error.
        log.info("database refused a value: %s", error.orig)
        return _envelope(400, "Invalid value in request (unsupported characters?)")

    @app.exception_handler(IllegalTransition)
    async def _transition(_: Request, error: IllegalTransition) -> JSONResponse:
        return _envelope(409, f"Task is already {error.current}")

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, error: StarletteHTTPException) -> JSONResponse:
        message = error.detail if isinstance(error.detail, str) else None
        if not message or message == _default_phrase(error.status_code):
            message = _STATUS_MESSAGES.get(error.status_code, message or "Error")
        return JSONResponse(
            {"success": False, "error": message},
            status_code=error.status_code,
            headers=getattr(error, "headers", None),
        )

    @app.exception_handler(Exception)
    async def _unhandled(_: Request, error: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=error)
        return _envelope(500, "Internal server error")


def _default_phrase(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def create_app(
    context: AppContext | None = None,
    *,
    lifespans: list[Lifespan] | None = None,
) -> FastAPI:
    """Build the app. ``lifespans`` are extra components (hub, scheduler, sweeps) started
    and stopped with it."""
    context = context or AppContext.create(get_settings())
    extra = list(lifespans or [])

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from contextlib import AsyncExitStack

        async with AsyncExitStack() as stack:
            for component in extra:
                await stack.enter_async_context(component(app, context))
            yield

    app = FastAPI(
        title="Bredgio API",
        version="0.1.0",
        description="Programmatic control plane for Bredgio agents: create agents, dispatch "
        "posts, schedule recurring runs, observe execution.",
        lifespan=lifespan,
        # Parse JSON bodies even when a client (curl -d, say) sends no JSON content type.
        strict_content_type=False,
    )
    app.state.context = context
    app.add_middleware(FormAsJson)
    install_error_handlers(app)
    app.include_router(agents.hot_router)
    app.include_router(tasks.hot_router)
    for module in (auth, agents, profiles, tasks, schedules, media, logs, extension, extension_zip):
        app.include_router(module.router)
    app.include_router(hub_router)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, bool]:
        return {"success": True}

    return app


def settings_app() -> FastAPI:
    """Uvicorn factory entry point (``api.app:settings_app``)."""
    return create_app(AppContext.create(Settings()))
