"""GET /api/tasks and /api/tasks/:id: filters, limits, ownership, the step log."""

from __future__ import annotations

from fastapi.testclient import TestClient

from api.context import AppContext
from api.db.models import Task, TaskLogEntry
from tests.helpers import Account, assert_error


def dispatch(client: TestClient, account: Account, agent_id: str, content: str = "x") -> str:
    response = client.post(
        f"/api/agents/{agent_id}/command",
        headers=account.headers,
        json={"action": "post", "platform": "facebook", "params": {"content": content}},
    )
    return str(response.json()["task"]["taskId"])


def test_list_newest_first_with_filters(
    client: TestClient, alice: Account, agent_id: str, context: AppContext
) -> None:
    other = client.post("/api/agents", headers=alice.headers, json={"name": "two"}).json()["agent"]
    first = dispatch(client, alice, agent_id, "one")
    second = dispatch(client, alice, agent_id, "two")
    third = dispatch(client, alice, other["agentId"], "three")
    with context.db.unit() as session:
        row = session.get(Task, first)
        assert row is not None
        row.status = "completed"
        row.result = {"post": {"url": "https://www.facebook.com/x/posts/1"}}

    tasks = client.get("/api/tasks", headers=alice.headers).json()["tasks"]
    assert [t["taskId"] for t in tasks] == [third, second, first]
    by_agent = client.get(f"/api/tasks?agentId={agent_id}", headers=alice.headers).json()["tasks"]
    assert [t["taskId"] for t in by_agent] == [second, first]
    done = client.get("/api/tasks?status=completed", headers=alice.headers).json()["tasks"]
    assert [t["taskId"] for t in done] == [first]
    assert done[0]["result"] == {"post": {"url": "https://www.facebook.com/x/posts/1"}}
    limited = client.get("/api/tasks?limit=2", headers=alice.headers).json()["tasks"]
    assert len(limited) == 2
    assert "params" not in limited[0] and "log" not in limited[0]


def test_limit_is_capped_and_validated(client: TestClient, alice: Account, agent_id: str) -> None:
    for _ in range(3):
        dispatch(client, alice, agent_id)
    assert len(client.get("/api/tasks?limit=5000", headers=alice.headers).json()["tasks"]) == 3
    for bad in ("0", "-1", "ten", "1.5"):
        assert_error(client.get(f"/api/tasks?limit={bad}", headers=alice.headers), 400)
    assert_error(client.get("/api/tasks?status=exploded", headers=alice.headers), 400)


def test_detail_has_params_and_step_log(
    client: TestClient, alice: Account, agent_id: str, context: AppContext
) -> None:
    task_id = dispatch(client, alice, agent_id, "Hello, world!")
    with context.db.unit() as session:
        session.add(TaskLogEntry(task_id=task_id, step="navigate", status="ok"))
        session.add(
            TaskLogEntry(
                task_id=task_id,
                step="extract_post_url",
                status="ok",
                data={"url": "https://www.facebook.com/ada/posts/1"},
            )
        )
        session.add(
            TaskLogEntry(
                task_id=task_id,
                step="submit",
                status="error",
                message="blocked",
                error_code="fb_post_blocked",
            )
        )
    task = client.get(f"/api/tasks/{task_id}", headers=alice.headers).json()["task"]
    assert task["params"] == {"content": "Hello, world!"}
    steps = [(e["step"], e["status"]) for e in task["log"]]
    assert steps == [("navigate", "ok"), ("extract_post_url", "ok"), ("submit", "error")]
    assert task["log"][1]["data"] == {"url": "https://www.facebook.com/ada/posts/1"}
    assert task["log"][2]["errorCode"] == "fb_post_blocked"
    assert task["log"][2]["message"] == "blocked"
    assert all(e["ts"].endswith("Z") for e in task["log"])


def test_other_users_tasks_are_forbidden(
    client: TestClient, alice: Account, bob: Account, agent_id: str
) -> None:
    task_id = dispatch(client, alice, agent_id)
    assert_error(client.get(f"/api/tasks/{task_id}", headers=bob.headers), 403)
    assert_error(client.get("/api/tasks/nope", headers=alice.headers), 404)
    assert client.get("/api/tasks", headers=bob.headers).json()["tasks"] == []
    assert client.get(f"/api/tasks?agentId={agent_id}", headers=bob.headers).json()["tasks"] == []


def test_unknown_routes_and_methods_use_the_envelope(client: TestClient, alice: Account) -> None:
    assert_error(client.get("/api/nothing-here", headers=alice.headers), 404)
    assert_error(client.get("/nothing"), 404)
    assert_error(client.put("/api/tasks", headers=alice.headers), 405)
