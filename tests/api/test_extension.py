"""POST /api/extension/heartbeat: the extension's install handshake with its agent token."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from tests.helpers import Account, assert_error

HEARTBEAT = "/api/extension/heartbeat"


def create_agent(client: TestClient, account: Account) -> dict[str, Any]:
    response = client.post(
        "/api/agents",
        headers=account.headers,
        json={"name": "Marketing seat #1", "platforms": ["facebook"]},
    )
    assert response.status_code == 200, response.text
    return dict(response.json()["agent"])


def agent_detail(client: TestClient, account: Account, agent_id: str) -> dict[str, Any]:
    response = client.get(f"/api/agents/{agent_id}", headers=account.headers)
    assert response.status_code == 200, response.text
    return dict(response.json()["agent"])


def test_heartbeat_brings_the_agent_online(client: TestClient, alice: Account) -> None:
    agent = create_agent(client, alice)
    assert agent_detail(client, alice, agent["agentId"])["status"] == "offline"

    response = client.post(HEARTBEAT, json={"token": agent["token"], "version": "0.2.1"})
    assert response.status_code == 200, response.text
    assert response.json() == {
        "success": True,
        "agent": {
            "agentId": agent["agentId"],
            "name": "Marketing seat #1",
            "userEmail": alice.email,
            "status": "online",
            "platforms": ["facebook"],
        },
    }
    detail = agent_detail(client, alice, agent["agentId"])
    assert detail["status"] == "online"
    assert detail["extensionVersion"] == "0.2.1"
    seen = datetime.fromisoformat(detail["lastSeenAt"].replace("Z", "+00:00"))
    assert abs(datetime.now(UTC) - seen) < timedelta(minutes=1)

    # version is optional; without it the stored one stays.
    again = client.post(HEARTBEAT, json={"token": agent["token"]})
    assert again.status_code == 200, again.text
    assert agent_detail(client, alice, agent["agentId"])["extensionVersion"] == "0.2.1"


def test_heartbeat_refuses_missing_wrong_and_revoked_tokens(
    client: TestClient, alice: Account
) -> None:
    agent = create_agent(client, alice)
    for body in ({}, {"token": ""}, {"token": None}, {"version": "0.2.1"}):
        assert_error(client.post(HEARTBEAT, json=body), 400)
    assert_error(client.post(HEARTBEAT), 400)

    for wrong in ("f" * 64, "not-a-token", agent["token"][:-1], alice.token):
        response = client.post(HEARTBEAT, json={"token": wrong})
        assert assert_error(response, 401)["error"] == "Invalid token"

    old = agent["token"]
    rotated = client.post(
        f"/api/agents/{agent['agentId']}/token",
        headers=alice.headers,
        json={"password": alice.password},
    )
    assert rotated.status_code == 200, rotated.text
    assert_error(client.post(HEARTBEAT, json={"token": old}), 401)
    new = rotated.json()["token"]
    assert client.post(HEARTBEAT, json={"token": new}).status_code == 200

    deleted = client.delete(f"/api/agents/{agent['agentId']}", headers=alice.headers)
    assert deleted.status_code == 200, deleted.text
    assert_error(client.post(HEARTBEAT, json={"token": new}), 401)


def test_garbage_bodies_are_400_never_500(client: TestClient, alice: Account) -> None:
    agent = create_agent(client, alice)
    token = agent["token"]
    json_headers = {"Content-Type": "application/json"}
    for raw in (
        b"[]",
        b'["token"]',
        f'["{token}"]'.encode(),
        b"42",
        b'"a string"',
        b"true",
        b'{"token": ',
        b"{token: 1}",
        b"\xff\xfe",
        b'{"token": 123}',
        b'{"token": ["a"]}',
        b'{"token": {"$ne": null}}',
        json.dumps({"token": token, "version": "9" * 500}).encode(),
    ):
        response = client.post(HEARTBEAT, content=raw, headers=json_headers)
        assert response.status_code == 400, (raw, response.text)
        assert_error(response, 400)
    assert agent_detail(client, alice, agent["agentId"])["status"] == "offline"
