"""POST /api/agents/:id/command: the work-creating endpoint and its validation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from fastapi.testclient import TestClient

from api.context import AppContext, TaskWakeup
from flows.catalog import ACTIONS, PLATFORMS, twitter_length
from tests.helpers import Account, assert_error

VALID_PARAMS = {
    "post": {"content": "Hello, world!\nFrom Bredgio."},
    "post-to-groups": {"topic": "python", "content": "hi", "maxGroups": 5, "intervalSec": 300},
    "comment": {"postUrl": "https://www.facebook.com/x/posts/1", "content": "nice"},
    "comment-feed": {"feedUrl": "https://www.facebook.com/", "content": "nice"},
    "fetch-posts": {"feedUrl": "https://www.facebook.com/", "limit": 10},
    "search": {"query": "bredgio"},
    "smart-post": {"topic": "sushi", "tone": "warm"},
    "smart-comment": {"postUrl": "https://x.com/a/status/1", "stance": "agree"},
    "friend-msg": {"userId": "123", "content": "hey"},
    "send-msg": {"threadId": "t1", "content": "hey"},
    "group-outreach": {"groupUrl": "https://www.facebook.com/groups/1/", "template": "hi {name}"},
    "auto-outreach": {"policyId": "p1"},
}


def command(client: TestClient, account: Account, agent_id: str, body: object):  # type: ignore[no-untyped-def]
    return client.post(f"/api/agents/{agent_id}/command", headers=account.headers, json=body)


def test_dispatch_stores_pending_task_with_documented_fields(
    client: TestClient, alice: Account, agent_id: str
) -> None:
    response = command(
        client,
        alice,
        agent_id,
        {"action": "post", "platform": "facebook", "params": {"content": "Hello 🍣\n中文"}},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"] is True
    task = body["task"]
    assert task["action"] == "post" and task["status"] == "pending"
    assert task["scheduledFor"] is None
    assert task["dispatchedAt"].endswith("Z")
    detail = client.get(f"/api/tasks/{task['taskId']}", headers=alice.headers).json()["task"]
    assert detail["params"] == {"content": "Hello 🍣\n中文"}
    assert detail["agentId"] == agent_id
    assert detail["platform"] == "facebook"
    for key in ("startedAt", "completedAt", "currentStep", "errorCode", "result"):
        assert detail[key] is None
    assert detail["log"] == []


@pytest.mark.parametrize("action", ACTIONS)
def test_every_action_is_accepted_with_its_params(
    client: TestClient, alice: Account, agent_id: str, action: str
) -> None:
    response = command(
        client,
        alice,
        agent_id,
        {"action": action, "platform": "facebook", "params": VALID_PARAMS[action]},
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("platform", PLATFORMS)
def test_every_platform_is_accepted(
    client: TestClient, alice: Account, agent_id: str, platform: str
) -> None:
    response = command(
        client,
        alice,
        agent_id,
        {"action": "post", "platform": platform, "params": {"content": "hi"}},
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "body",
    [
        {"platform": "facebook", "params": {"content": "x"}},
        {"action": "post", "params": {"content": "x"}},
        {"action": "post", "platform": "facebook"},
        {"action": "dance", "platform": "facebook", "params": {"content": "x"}},
        {"action": "post", "platform": "myspace", "params": {"content": "x"}},
        {"action": "post", "platform": "facebook", "params": "content"},
        {"action": "post", "platform": "facebook", "params": {}},
        {"action": "post", "platform": "facebook", "params": {"content": 5}},
        {"action": "post", "platform": "facebook", "params": {"content": "x", "extra": 1}},
        {
            "action": "post",
            "platform": "facebook",
            "params": {"content": "x", "media": [{"url": "x"}]},
        },
        {
            "action": "post",
            "platform": "facebook",
            "params": {
                "content": "x",
                "media": [{"url": "/api/media-proxy/k.bmp", "type": "image/bmp"}],
            },
        },
        {"action": "post-to-groups", "platform": "facebook", "params": {"content": "x"}},
        {
            "action": "post-to-groups",
            "platform": "facebook",
            "params": {"topic": "t", "content": "x", "maxGroups": 0},
        },
        {"action": "comment", "platform": "facebook", "params": {"content": "x"}},
        {
            "action": "fetch-posts",
            "platform": "facebook",
            "params": {"feedUrl": "u", "limit": "ten"},
        },
        {"action": "search", "platform": "facebook", "params": {"query": ""}},
        {
            "action": "post",
            "platform": "facebook",
            "params": {"content": "x"},
            "scheduledFor": "tomorrow",
        },
        {"action": "post", "platform": "facebook", "params": {"content": "x"}, "timeoutSec": 5000},
        ["post"],
        "post",
    ],
)
def test_invalid_dispatches_are_400_and_store_nothing(
    client: TestClient, alice: Account, agent_id: str, body: object
) -> None:
    assert_error(command(client, alice, agent_id, body), 400)
    assert client.get("/api/tasks", headers=alice.headers).json()["tasks"] == []


def test_unauthenticated_comes_before_validation(client: TestClient, agent_id: str) -> None:
    assert_error(client.post(f"/api/agents/{agent_id}/command", json={"action": "x"}), 401)
    assert_error(client.get(f"/api/tasks/{agent_id}"), 401)


def test_malformed_json_is_400(client: TestClient, alice: Account, agent_id: str) -> None:
    response = client.post(
        f"/api/agents/{agent_id}/command",
        headers={**alice.headers, "content-type": "application/json"},
        content=b'{"action": "post",',
    )
    assert assert_error(response, 400)["error"] == "Malformed JSON body"


def test_json_without_content_type_is_accepted(
    client: TestClient, alice: Account, agent_id: str
) -> None:
    response = client.post(
        f"/api/agents/{agent_id}/command",
        headers={**alice.headers, "content-type": "application/x-www-form-urlencoded"},
        content=b'{"action": "post", "platform": "facebook", "params": {"content": "x"}}',
    )
    assert response.status_code == 200, response.text


def test_error_names_the_field(client: TestClient, alice: Account, agent_id: str) -> None:
    body = assert_error(
        command(
            client,
            alice,
            agent_id,
            {"action": "comment", "platform": "facebook", "params": {"content": "x"}},
        ),
        400,
    )
    assert "postUrl" in body["error"]


def test_scheduled_for(client: TestClient, alice: Account, agent_id: str) -> None:
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    body = assert_error(
        command(
            client,
            alice,
            agent_id,
            {
                "action": "post",
                "platform": "facebook",
                "params": {"content": "x"},
                "scheduledFor": past,
            },
        ),
        400,
    )
    assert "scheduledFor" in body["error"]
    future = datetime.now(UTC) + timedelta(hours=2)
    task = command(
        client,
        alice,
        agent_id,
        {
            "action": "post",
            "platform": "facebook",
            "params": {"content": "x"},
            "scheduledFor": future.astimezone(timezone(timedelta(hours=8))).isoformat(),
        },
    ).json()["task"]
    assert (
        task["scheduledFor"]
        == future.strftime("%Y-%m-%dT%H:%M:%S.") + f"{future.microsecond // 1000:03d}Z"
    )


def test_content_limits_per_platform(client: TestClient, alice: Account, agent_id: str) -> None:
    def dispatch(platform: str, content: str) -> int:
        return command(
            client,
            alice,
            agent_id,
            {"action": "post", "platform": platform, "params": {"content": content}},
        ).status_code

    assert dispatch("twitter", "a" * 280) == 200
    assert dispatch("twitter", "a" * 281) == 400
    # X counts CJK and emoji double, and any URL as 23.
    assert dispatch("twitter", "中" * 140) == 200
    assert dispatch("twitter", "中" * 141) == 400
    assert twitter_length("see https://example.com/" + "x" * 100) == 4 + 23
    assert dispatch("facebook", "a" * 63_206) == 200
    body = assert_error(
        command(
            client,
            alice,
            agent_id,
            {"action": "post", "platform": "facebook", "params": {"content": "a" * 63_207}},
        ),
        400,
    )
    assert "63206" in body["error"].replace(",", "")


def test_twitter_allows_at_most_four_images(
    client: TestClient, alice: Account, agent_id: str
) -> None:
    media = [{"url": f"/api/media-proxy/bredgio/u/{i}.png", "type": "image/png"} for i in range(5)]
    assert_error(
        command(
            client,
            alice,
            agent_id,
            {"action": "post", "platform": "twitter", "params": {"content": "x", "media": media}},
        ),
        400,
    )
    ok = command(
        client,
        alice,
        agent_id,
        {"action": "post", "platform": "twitter", "params": {"content": "x", "media": media[:4]}},
    )
    assert ok.status_code == 200


def test_dispatch_to_someone_elses_agent(
    client: TestClient, alice: Account, bob: Account, agent_id: str
) -> None:
    assert_error(
        command(
            client,
            bob,
            agent_id,
            {"action": "post", "platform": "facebook", "params": {"content": "x"}},
        ),
        403,
    )
    assert_error(
        command(
            client,
            bob,
            "nope",
            {"action": "post", "platform": "facebook", "params": {"content": "x"}},
        ),
        404,
    )


def test_dispatch_wakes_a_worker_only_after_commit(
    client: TestClient, alice: Account, agent_id: str, context: AppContext
) -> None:
    from api.db.models import Task

    seen: list[tuple[str, bool]] = []

    def wake(wakeup: TaskWakeup) -> None:
        assert wakeup.agent_id == agent_id and wakeup.executor == "runner"
        with context.db.unit(write=False) as session:
            seen.append((wakeup.task_id, session.get(Task, wakeup.task_id) is not None))

    context.task_wakeups.append(wake)
    task_id = command(
        client,
        alice,
        agent_id,
        {"action": "post", "platform": "facebook", "params": {"content": "x"}},
    ).json()["task"]["taskId"]
    assert seen == [(task_id, True)]
    command(client, alice, agent_id, {"action": "post", "platform": "nope", "params": {}})
    assert len(seen) == 1


def test_concurrent_dispatches_each_get_their_own_answer(
    client: TestClient, context: AppContext, alice: Account, bob: Account, agent_id: str
) -> None:
    """Dispatches in flight together share a commit on SQLite (a group commit): every
    valid one is stored exactly once and answered with its own task, every invalid one
    gets its own error, and neither disturbs the other."""
    from concurrent.futures import ThreadPoolExecutor

    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    requests: list[tuple[Account, str, object, int]] = []
    for n in range(60):
        kind = n % 4
        if kind == 0:
            requests.append(
                (
                    alice,
                    "nope",
                    {"action": "post", "platform": "facebook", "params": {"content": "x"}},
                    404,
                )
            )
        elif kind == 1:
            requests.append(
                (
                    alice,
                    agent_id,
                    {
                        "action": "post",
                        "platform": "facebook",
                        "params": {"content": f"c{n}"},
                        "scheduledFor": past,
                    },
                    400,
                )
            )
        elif kind == 2:
            requests.append(
                (
                    bob,
                    agent_id,
                    {"action": "post", "platform": "facebook", "params": {"content": f"c{n}"}},
                    403,
                )
            )
        else:
            requests.append(
                (
                    alice,
                    agent_id,
                    {"action": "post", "platform": "facebook", "params": {"content": f"c{n}"}},
                    200,
                )
            )

    def send(request: tuple[Account, str, object, int]) -> tuple[int, dict]:  # type: ignore[type-arg]
        account, target, body, _ = request
        response = command(client, account, target, body)
        return response.status_code, response.json()

    with ThreadPoolExecutor(max_workers=30) as pool:
        answers = list(pool.map(send, requests))

    created: dict[str, str] = {}
    for (_, _, body, expected), (status, payload) in zip(requests, answers, strict=True):
        assert status == expected, payload
        if expected == 200:
            created[payload["task"]["taskId"]] = body["params"]["content"]  # type: ignore[index]
        else:
            assert payload["success"] is False and payload["error"]
    assert len(created) == 15
    for task_id, content in created.items():
        task = client.get(f"/api/tasks/{task_id}", headers=alice.headers).json()["task"]
        assert task["params"]["content"] == content
    listed = client.get(f"/api/tasks?agentId={agent_id}&limit=200", headers=alice.headers)
    assert sorted(t["taskId"] for t in listed.json()["tasks"]) == sorted(created)
    if context.settings.resolved_database_url.startswith("sqlite"):
        assert context.db.largest_write_batch() > 1
