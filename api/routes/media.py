"""Media upload and the proxy route that serves it."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse
from starlette.datastructures import UploadFile

from api.deps import ContextDep, CurrentUser, SessionDep
from api.errors import BadRequest, PayloadTooLarge
from api.schemas.media import UploadResponse
from api.services import media as media_service

router = APIRouter(tags=["media"])

_MULTIPART_OVERHEAD = 64 * 1024


@router.post(
    "/api/media/upload",
    response_model=UploadResponse,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["file"],
                        "properties": {"file": {"type": "string", "format": "binary"}},
                    }
                }
            },
        }
    },
)
async def upload(
    request: Request, user: CurrentUser, session: SessionDep, context: ContextDep
) -> UploadResponse:
    """Upload one JPEG, PNG, WebP or GIF (10 MB max), recognised by its bytes. Pass the
    returned ``url`` into ``params.media[].url``."""
    max_bytes = context.settings.media_max_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes + _MULTIPART_OVERHEAD:
        raise PayloadTooLarge(media_service.too_large_message(max_bytes))
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        raise BadRequest("file is required")
    try:
        form = await request.form(max_files=1, max_fields=10)
    except Exception:  # malformed multipart body
        raise BadRequest("Malformed multipart body") from None
    file = form.get("file")
    if not isinstance(file, UploadFile):
        raise BadRequest("file is required")
    media = media_service.store_upload(
        session,
        user,
        file.file,
        declared_type=file.content_type,
        media_dir=context.settings.media_dir,
        max_bytes=max_bytes,
    )
    url = media_service.PROXY_PREFIX + media.key
    base = (context.settings.public_url or str(request.base_url)).rstrip("/")
    return UploadResponse(
        url=url, directUrl=base + url, key=media.key, type=media.type, size=media.size
    )


@router.get("/api/media-proxy/{key:path}", response_class=FileResponse)
def media_proxy(key: str, session: SessionDep, context: ContextDep) -> FileResponse:
    """Serve an uploaded image. Keys are unguessable, so no credentials are needed
    (the extension and the runners fetch these URLs directly)."""
    media = media_service.find(session, key)
    path = media_service.path_of(context.settings.media_dir, media)
    return FileResponse(
        path,
        media_type=media.type,
        headers={
            "Cache-Control": "public, max-age=31536000, immutable",
            "ETag": f'"{media.sha256}"',
        },
    )
