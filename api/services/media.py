"""Media: uploaded images, checked by their bytes, stored under the data dir."""

from __future__ import annotations

import hashlib
import os
import secrets
import time
from pathlib import Path
from typing import BinaryIO

from sqlmodel import Session, select

from api.db.models import Media, User
from api.errors import BadRequest, NotFound, PayloadTooLarge

PROXY_PREFIX = "/api/media-proxy/"
_EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp", "image/gif": "gif"}
_CHUNK = 256 * 1024


def sniff_type(head: bytes) -> str | None:
    """The image type the bytes really are (never the declared one)."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


def too_large_message(max_bytes: int) -> str:
    return f"File too large (max {max_bytes // (1024 * 1024)}MB)"


def store_upload(
    session: Session,
    user: User,
    source: BinaryIO,
    *,
    declared_type: str | None,
    media_dir: Path,
    max_bytes: int,
) -> Media:
    """Copy the upload to disk while checking size and type; record it."""
    head = source.read(16)
    if not head:
        raise BadRequest("Empty file")
    content_type = sniff_type(head)
    if content_type is None:
        raise BadRequest(
            f"Unsupported type: {declared_type or 'unknown'} "
            "(the bytes are not a JPEG, PNG, WebP or GIF image)"
        )
    key = f"bredgio/{user.id}/{int(time.time() * 1000)}-{secrets.token_hex(8)}"
    key += f".{_EXTENSIONS[content_type]}"
    target = media_dir / key
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(target.suffix + ".part")
    digest = hashlib.sha256()
    size = 0
    try:
        with partial.open("wb") as out:
            chunk = head
            while chunk:
                size += len(chunk)
                if size > max_bytes:
                    raise PayloadTooLarge(too_large_message(max_bytes))
                digest.update(chunk)
                out.write(chunk)
                chunk = source.read(_CHUNK)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    media = Media(key=key, user_id=user.id, type=content_type, size=size, sha256=digest.hexdigest())
    session.add(media)
    session.flush()
    return media


def find(session: Session, key: str) -> Media:
    media = session.exec(select(Media).where(Media.key == key)).first()
    if media is None:
        raise NotFound("Media not found")
    return media


def path_of(media_dir: Path, media: Media) -> Path:
    path = (media_dir / media.key).resolve()
    if not path.is_relative_to(media_dir.resolve()) or not path.is_file():
        raise NotFound("Media not found")
    return path


def key_from_url(url: str) -> str | None:
    """The media key a ``/api/media-proxy/<key>`` URL (relative or absolute) points at."""
    index = url.find(PROXY_PREFIX)
    return url[index + len(PROXY_PREFIX) :] if index >= 0 else None
