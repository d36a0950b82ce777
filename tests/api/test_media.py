"""POST /api/media/upload and the /api/media-proxy/<key> route that serves the upload."""

from __future__ import annotations

import base64
import struct
import zlib
from pathlib import Path
from typing import Any

import httpx
from fastapi.testclient import TestClient

from api.config import Settings
from tests.helpers import Account, assert_error

MAX_BYTES = 10 * 1024 * 1024

# 1x1 images, as small as their formats allow.
JPEG = base64.b64decode(
    "/9j/4AAQSkZJRgABAQEASABIAAD/2wBDAP//////////////////////////////////////////////////"
    "////////////////////////////////////wgALCAABAAEBAREA/8QAFBABAAAAAAAAAAAAAAAAAAAAAP/a"
    "AAgBAQABPxA="
)
WEBP = base64.b64decode("UklGRhoAAABXRUJQVlA4TA0AAAAvAAAAEAcQERGIiP4HAA==")
GIF = base64.b64decode("R0lGODlhAQABAIAAAP///wAAACH5BAEAAAAALAAAAAABAAEAAAICRAEAOw==")


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


PNG = (
    b"\x89PNG\r\n\x1a\n"
    + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
    + _png_chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00"))
    + _png_chunk(b"IEND", b"")
)

IMAGES = {
    "image/jpeg": (JPEG, "jpg"),
    "image/png": (PNG, "png"),
    "image/webp": (WEBP, "webp"),
    "image/gif": (GIF, "gif"),
}


def upload(
    client: TestClient,
    account: Account,
    data: bytes,
    declared: str = "image/jpeg",
    filename: str = "post-image.jpg",
) -> dict[str, object]:
    response = client.post(
        "/api/media/upload",
        headers=account.headers,
        files={"file": (filename, data, declared)},
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def stored_files(settings: Settings) -> list[Path]:
    root = settings.media_dir
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def test_upload_each_image_type_then_fetch_the_same_bytes(
    client: TestClient, alice: Account
) -> None:
    for kind, (data, extension) in IMAGES.items():
        body = upload(client, alice, data, declared=kind, filename=f"a.{extension}")
        assert set(body) == {"success", "url", "directUrl", "key", "type", "size"}
        assert body["success"] is True
        assert body["type"] == kind
        assert body["size"] == len(data)
        key = str(body["key"])
        assert key.startswith("bredgio/") and key.endswith(f".{extension}")
        assert body["url"] == f"/api/media-proxy/{key}"
        assert body["directUrl"] == f"http://127.0.0.1/api/media-proxy/{key}"

        # No credentials needed: the extension and the runners fetch it directly.
        served = client.get(str(body["url"]))
        assert served.status_code == 200, kind
        assert served.content == data
        assert served.headers["content-type"] == kind


def test_type_is_read_from_the_bytes_not_the_declaration(
    client: TestClient, alice: Account
) -> None:
    body = upload(client, alice, JPEG, declared="image/png", filename="lies.png")
    assert body["type"] == "image/jpeg"
    assert str(body["key"]).endswith(".jpg")
    assert client.get(str(body["url"])).headers["content-type"] == "image/jpeg"
    untyped = upload(client, alice, GIF, declared="application/octet-stream", filename="x")
    assert untyped["type"] == "image/gif"
    # Two uploads of the same bytes get two keys.
    again = upload(client, alice, JPEG)
    assert again["key"] != body["key"]


def test_rejected_uploads_say_why_and_store_nothing(
    client: TestClient, alice: Account, settings: Settings
) -> None:
    def post(content_type: str | None = None, **kwargs: Any) -> httpx.Response:
        headers = dict(alice.headers)
        if content_type:
            headers["Content-Type"] = content_type
        return client.post("/api/media/upload", headers=headers, **kwargs)

    text = post(files={"file": ("notes.jpg", b"just some text, honest", "image/jpeg")})
    assert assert_error(text, 400)["error"].startswith("Unsupported type: ")
    svg = post(files={"file": ("a.svg", b"<svg xmlns='http://www.w3.org/2000/svg'/>", "image/svg")})
    assert assert_error(svg, 400)["error"].startswith("Unsupported type: ")
    assert assert_error(post(files={"file": ("a.jpg", b"", "image/jpeg")}), 400)["error"] == (
        "Empty file"
    )
    for no_file in (
        post(files={"other": ("a.jpg", JPEG, "image/jpeg")}),
        post(data={"file": "not a file"}),
        post(json={"file": base64.b64encode(JPEG).decode()}),
        post(),
    ):
        assert assert_error(no_file, 400)["error"] == "file is required"
    garbled = post(
        content=b"--nope\r\nthis is not multipart",
        content_type="multipart/form-data; boundary=xyz",
    )
    assert_error(garbled, 400)

    anonymous = client.post("/api/media/upload", files={"file": ("a.jpg", JPEG, "image/jpeg")})
    assert_error(anonymous, 401)
    forged = client.post(
        "/api/media/upload",
        headers={"Authorization": "Bearer bk_pat_0000"},
        files={"file": ("a.jpg", JPEG, "image/jpeg")},
    )
    assert_error(forged, 401)
    assert stored_files(settings) == []


def test_ten_megabytes_is_the_limit(client: TestClient, alice: Account, settings: Settings) -> None:
    exactly = JPEG + b"\0" * (MAX_BYTES - len(JPEG))
    body = upload(client, alice, exactly)
    assert body["size"] == MAX_BYTES
    assert len(client.get(str(body["url"])).content) == MAX_BYTES

    for size in (MAX_BYTES + 1, MAX_BYTES + 512 * 1024):
        too_big = JPEG + b"\0" * (size - len(JPEG))
        response = client.post(
            "/api/media/upload",
            headers=alice.headers,
            files={"file": ("big.jpg", too_big, "image/jpeg")},
        )
        assert assert_error(response, 413)["error"] == "File too large (max 10MB)"
    assert stored_files(settings) == [settings.media_dir / str(body["key"])]


def test_proxy_answers_404_for_unknown_and_escaping_keys(
    client: TestClient, alice: Account, settings: Settings
) -> None:
    secret = settings.resolved_data_dir / "secret_key"
    secret.parent.mkdir(parents=True, exist_ok=True)
    secret.write_text("do not leak")
    key = str(upload(client, alice, PNG, declared="image/png")["key"])
    user_dir = key.rsplit("/", 1)[0]

    for path in (
        "/api/media-proxy/bredgio/nobody/1748000000000-a1b2.jpg",
        "/api/media-proxy/" + key + ".part",
        "/api/media-proxy/" + user_dir,
        "/api/media-proxy/../../secret_key",
        "/api/media-proxy/..%2F..%2Fsecret_key",
        "/api/media-proxy/%2e%2e/%2e%2e/secret_key",
        f"/api/media-proxy/{user_dir}/..%2F..%2F..%2Fsecret_key",
    ):
        response = client.get(path)
        assert response.status_code == 404, (path, response.text)
        assert_error(response, 404)
        assert "do not leak" not in response.text
