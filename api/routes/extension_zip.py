"""``GET /bredgio-extension.zip``: the Chrome extension, ready to load unpacked, with its
server URL preconfigured to this server."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from api.deps import ContextDep
from api.errors import NotFound

router = APIRouter(tags=["extension"])

#: Where the extension's sources are looked for: ``extension/`` next to the ``api``
#: package (a checkout or an editable install), then in the working directory (an image
#: that installs the package and copies ``extension/`` to its workdir).
EXTENSION_DIRS = (Path(__file__).resolve().parents[2] / "extension", Path("extension"))
#: The folder the archive unpacks into (the one to pick in "Load unpacked").
ARCHIVE_ROOT = "bredgio-extension"
CONFIG_FILE = "config.js"
# A fixed timestamp keeps the archive's bytes the same for the same sources and URL.
_FIXED_TIME = (2024, 1, 1, 0, 0, 0)


@router.get(
    "/bredgio-extension.zip",
    response_class=Response,
    responses={200: {"content": {"application/zip": {}}, "description": "The extension."}},
)
def extension_zip(
    request: Request,
    context: ContextDep,
    v: str | None = Query(
        None, description="The version the dashboard links to; only busts caches."
    ),
) -> Response:
    """Download the Chrome extension (Manifest V3) to sideload: unzip, open
    chrome://extensions, enable Developer mode, Load unpacked, pick the
    ``bredgio-extension`` folder. Its server URL is this server's (``public_url`` or the
    URL of this request); paste the agent's token in its popup. No authentication."""
    server_url = (context.settings.public_url or str(request.base_url)).rstrip("/")
    data = build_archive(extension_dir(), server_url)
    return Response(
        data,
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="{ARCHIVE_ROOT}.zip"',
            "Cache-Control": "no-cache",
        },
    )


def extension_dir() -> Path:
    """The first of :data:`EXTENSION_DIRS` holding a manifest (else the first)."""
    for candidate in EXTENSION_DIRS:
        if (candidate / "manifest.json").is_file():
            return candidate
    return EXTENSION_DIRS[0]


def build_archive(source: Path, server_url: str) -> bytes:
    """The extension's files zipped under ``bredgio-extension/``, with ``config.js``
    pointing at ``server_url``."""
    if not (source / "manifest.json").is_file():
        raise NotFound("The extension's files are not installed on this server")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(source.rglob("*")):
            relative = path.relative_to(source)
            if not path.is_file() or any(part.startswith((".", "__")) for part in relative.parts):
                continue
            if relative.as_posix() == CONFIG_FILE:
                continue
            _add(archive, relative.as_posix(), path.read_bytes())
        _add(archive, CONFIG_FILE, config_source(server_url).encode())
    return buffer.getvalue()


def config_source(server_url: str) -> str:
    return (
        "// The Bredgio server this copy talks to (written by GET /bredgio-extension.zip);\n"
        "// the popup can change it.\n"
        f"export const SERVER_URL = {json.dumps(server_url)};\n"
    )


def _add(archive: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(f"{ARCHIVE_ROOT}/{name}", date_time=_FIXED_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    archive.writestr(info, data)
