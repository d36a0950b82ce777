"""The OpenAPI document and the interactive docs list every documented endpoint."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

# Every endpoint of the Bredgio API document (path parameters renamed to {id}).
DOCUMENTED = {
    ("post", "/api/auth/login"),
    ("post", "/api/auth/logout"),
    ("patch", "/api/auth/profile"),
    ("get", "/api/agents"),
    ("post", "/api/agents"),
    ("get", "/api/agents/{id}"),
    ("patch", "/api/agents/{id}"),
    ("delete", "/api/agents/{id}"),
    ("get", "/api/agents/{id}/token"),
    ("post", "/api/agents/{id}/token"),
    ("post", "/api/agents/{id}/command"),
    ("post", "/api/media/upload"),
    ("get", "/api/media-proxy/{id}"),
    ("get", "/api/tasks"),
    ("get", "/api/tasks/{id}"),
    ("get", "/api/schedules"),
    ("post", "/api/schedules"),
    ("patch", "/api/schedules/{id}"),
    ("delete", "/api/schedules/{id}"),
    ("get", "/api/logs"),
    ("post", "/api/extension/heartbeat"),
    ("post", "/api/locale"),
}


def test_openapi_lists_every_documented_endpoint(client: TestClient) -> None:
    response = client.get("/openapi.json")
    assert response.status_code == 200, response.text
    spec = response.json()
    assert spec["openapi"].startswith("3.")
    assert spec["info"]["title"]
    served = {
        (method, re.sub(r"\{[^}]+\}", "{id}", path))
        for path, operations in spec["paths"].items()
        for method in operations
    }
    assert served >= DOCUMENTED, sorted(DOCUMENTED - served)
    upload = spec["paths"]["/api/media/upload"]["post"]
    assert "multipart/form-data" in upload["requestBody"]["content"]
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            assert operation.get("description") or operation.get("summary"), (method, path)

    docs = client.get("/docs")
    assert docs.status_code == 200
    assert "text/html" in docs.headers["content-type"]
    assert "/openapi.json" in docs.text
