"""Agents: list, create, detail, patch, soft delete, token reveal and rotation."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from api.context import AppContext
from tests.helpers import Account, assert_error

AGENT_KEYS = {
    "agentId",
    "name",
    "userId",
    "userEmail",
    "status",
    "platforms",
    "config",
    "lastSeenAt",
    "extensionVersion",
    "todayCount",
}


def create(client: TestClient, account: Account, **body: object) -> dict:  # type: ignore[type-arg]
    response = client.post("/api/agents", headers=account.headers, json=body)
    assert response.status_code == 200, response.text
    return dict(response.json()["agent"])


def test_create_returns_token_once_and_list_shows_seed_shape(
    client: TestClient, alice: Account
) -> None:
    agent = create(client, alice, name="Marketing seat #1", platforms=["facebook"])
    assert re.fullmatch(r"[0-9a-f]{64}", agent["token"])
    assert agent["name"] == "Marketing seat #1"
    assert agent["platforms"] == ["facebook"]
    assert agent["status"] == "offline"
    assert agent["executor"] == "runner"
    assert agent["config"] == {"dailyOutreachLimit": 5, "messageDelaySec": 30, "postDelaySec": 60}

    listed = client.get("/api/agents", headers=alice.headers).json()
    assert listed["success"] is True
    (row,) = listed["agents"]
    assert set(row) >= AGENT_KEYS
    assert "token" not in row
    assert row["userId"] == alice.id and row["userEmail"] == alice.email
    assert row["todayCount"] == 0


def test_platforms_default_and_validation(client: TestClient, alice: Account) -> None:
    assert create(client, alice, name="x")["platforms"] == []
    assert_error(
        client.post(
            "/api/agents", headers=alice.headers, json={"name": "x", "platforms": ["myspace"]}
        ),
        400,
    )
    assert_error(client.post("/api/agents", headers=alice.headers, json={"platforms": []}), 400)
    assert_error(client.post("/api/agents", headers=alice.headers, json={"name": ""}), 400)
    assert_error(client.post("/api/agents", headers=alice.headers, json=["name"]), 400)
    assert_error(client.post("/api/agents", headers=alice.headers, content=b"{"), 400)
    assert len(client.get("/api/agents", headers=alice.headers).json()["agents"]) == 1


def test_today_count_counts_tasks_of_the_last_24h(
    client: TestClient, alice: Account, agent_id: str
) -> None:
    for _ in range(3):
        client.post(
            f"/api/agents/{agent_id}/command",
            headers=alice.headers,
            json={"action": "post", "platform": "facebook", "params": {"content": "hi"}},
        )
    (row,) = client.get("/api/agents", headers=alice.headers).json()["agents"]
    assert row["todayCount"] == 3
    detail = client.get(f"/api/agents/{agent_id}", headers=alice.headers).json()
    assert detail["todayCount"] == 3
    assert len(detail["recentTasks"]) == 3
    assert detail["recentLogs"] == []
    assert detail["agent"]["agentId"] == agent_id


def test_patch_fields_and_config(client: TestClient, alice: Account, agent_id: str) -> None:
    response = client.patch(
        f"/api/agents/{agent_id}",
        headers=alice.headers,
        json={"name": "Renamed", "status": "paused", "config": {"postDelaySec": 5}},
    )
    assert response.status_code == 200, response.text
    agent = response.json()["agent"]
    assert agent["name"] == "Renamed" and agent["status"] == "paused"
    assert agent["config"] == {"dailyOutreachLimit": 5, "messageDelaySec": 30, "postDelaySec": 5}
    # The document's dotted names work too.
    agent = client.patch(
        f"/api/agents/{agent_id}",
        headers=alice.headers,
        json={"config.dailyOutreachLimit": 9, "platforms": ["twitter"], "executor": "extension"},
    ).json()["agent"]
    assert agent["config"]["dailyOutreachLimit"] == 9
    assert agent["config"]["postDelaySec"] == 5
    assert agent["platforms"] == ["twitter"]
    assert agent["executor"] == "extension"


def test_patch_browser_settings(client: TestClient, alice: Account, agent_id: str) -> None:
    browser = {
        "locale": "zh-TW",
        "timezone": "Asia/Taipei",
        "userAgent": "Mozilla/5.0 Bredgio",
        "viewport": {"width": 1280, "height": 800},
        "proxy": {"server": "http://127.0.0.1:3128"},
    }
    agent = client.patch(
        f"/api/agents/{agent_id}", headers=alice.headers, json={"browser": browser}
    ).json()["agent"]
    assert agent["browser"]["timezone"] == "Asia/Taipei"
    assert agent["browser"]["viewport"] == {"width": 1280, "height": 800}
    assert_error(
        client.patch(
            f"/api/agents/{agent_id}",
            headers=alice.headers,
            json={"browser": {"timezone": "Mars/Base"}},
        ),
        400,
    )
    again = client.get(f"/api/agents/{agent_id}", headers=alice.headers).json()["agent"]
    assert again["browser"]["timezone"] == "Asia/Taipei"


def test_patch_validation_loses_nothing(client: TestClient, alice: Account, agent_id: str) -> None:
    for body in (
        {"status": "sleeping"},
        {"config": {"postDelaySec": -1}},
        {"config": {"postDelaySec": "soon"}},
        {"config": {"unknown": 1}},
        {"platforms": "facebook"},
        {"name": ""},
        {"surprise": True},
    ):
        assert_error(client.patch(f"/api/agents/{agent_id}", headers=alice.headers, json=body), 400)
    agent = client.get(f"/api/agents/{agent_id}", headers=alice.headers).json()["agent"]
    assert agent["name"] == "Seat 1" and agent["status"] == "offline"
    assert agent["config"]["postDelaySec"] == 60


def test_ownership_and_existence(
    client: TestClient, alice: Account, bob: Account, agent_id: str
) -> None:
    for method, path in (
        ("GET", f"/api/agents/{agent_id}"),
        ("PATCH", f"/api/agents/{agent_id}"),
        ("DELETE", f"/api/agents/{agent_id}"),
        ("GET", f"/api/agents/{agent_id}/token"),
    ):
        body = {} if method == "PATCH" else None
        assert_error(client.request(method, path, headers=bob.headers, json=body), 403)
    assert_error(
        client.post(
            f"/api/agents/{agent_id}/token", headers=bob.headers, json={"password": bob.password}
        ),
        403,
    )
    assert_error(client.get("/api/agents/000000000000000000000000", headers=alice.headers), 404)
    assert client.get("/api/agents", headers=bob.headers).json()["agents"] == []


def test_soft_delete(
    client: TestClient, alice: Account, agent_id: str, context: AppContext
) -> None:
    assert client.delete(f"/api/agents/{agent_id}", headers=alice.headers).json() == {
        "success": True
    }
    assert_error(client.get(f"/api/agents/{agent_id}", headers=alice.headers), 404)
    assert client.get("/api/agents", headers=alice.headers).json()["agents"] == []
    assert_error(
        client.post(
            f"/api/agents/{agent_id}/command",
            headers=alice.headers,
            json={"action": "post", "platform": "facebook", "params": {"content": "x"}},
        ),
        404,
    )
    from api.db.models import Agent

    with context.db.unit() as session:
        row = session.get(Agent, agent_id)
        assert row is not None and row.deleted_at is not None


def test_token_reveal_and_rotate(client: TestClient, alice: Account) -> None:
    agent = create(client, alice, name="seat")
    agent_id, first = agent["agentId"], agent["token"]
    assert client.get(f"/api/agents/{agent_id}/token", headers=alice.headers).json() == {
        "success": True,
        "token": first,
    }
    missing = assert_error(
        client.post(f"/api/agents/{agent_id}/token", headers=alice.headers, json={}), 400
    )
    assert missing["passwordRequired"] is True
    assert_error(client.post(f"/api/agents/{agent_id}/token", headers=alice.headers), 400)
    assert_error(
        client.post(
            f"/api/agents/{agent_id}/token", headers=alice.headers, json={"password": "nope"}
        ),
        401,
    )
    rotated = client.post(
        f"/api/agents/{agent_id}/token", headers=alice.headers, json={"password": alice.password}
    ).json()
    assert rotated["success"] is True and rotated["token"] != first
    assert re.fullmatch(r"[0-9a-f]{64}", rotated["token"])
    assert (
        client.get(f"/api/agents/{agent_id}/token", headers=alice.headers).json()["token"]
        == rotated["token"]
    )
    assert_error(client.post("/api/extension/heartbeat", json={"token": first}), 401)
    assert (
        client.post("/api/extension/heartbeat", json={"token": rotated["token"]}).status_code == 200
    )


def test_agent_token_encrypted_at_rest(
    client: TestClient, alice: Account, context: AppContext
) -> None:
    token = create(client, alice, name="seat")["token"]
    from sqlmodel import select

    from api.db.models import Agent
    from api.security import sha256_hex

    with context.db.unit() as session:
        row = session.exec(select(Agent)).one()
    assert token not in row.token_encrypted
    assert row.token_hash == sha256_hex(token)
