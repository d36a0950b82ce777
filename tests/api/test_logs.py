"""GET /api/logs: the outreach event stream, its filters and the daily roll-up."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.context import AppContext
from api.db.models import OutreachLog
from tests.helpers import Account, assert_error

LOG_KEYS = {
    "logId",
    "agentId",
    "platform",
    "result",
    "targetUrl",
    "targetName",
    "messageSent",
    "errorMessage",
    "timestamp",
}


def add_log(
    context: AppContext,
    account: Account,
    agent_id: str,
    *,
    ago: timedelta,
    result: str = "sent",
    platform: str = "facebook",
    **fields: Any,
) -> str:
    with context.db.unit() as session:
        row = OutreachLog(
            user_id=account.id,
            agent_id=agent_id,
            platform=platform,
            result=result,
            timestamp=datetime.now(UTC) - ago,
            **fields,
        )
        session.add(row)
        session.flush()
        return row.id


def get_logs(client: TestClient, account: Account, query: str = "") -> dict[str, Any]:
    response = client.get(f"/api/logs{query}", headers=account.headers)
    assert response.status_code == 200, response.text
    body = dict(response.json())
    assert body["success"] is True
    return body


def day_of(ago: timedelta) -> str:
    return (datetime.now(UTC) - ago).strftime("%Y-%m-%d")


@pytest.fixture
def bob_agent(client: TestClient, bob: Account) -> str:
    response = client.post(
        "/api/agents", headers=bob.headers, json={"name": "Bob seat", "platforms": ["twitter"]}
    )
    return str(response.json()["agent"]["agentId"])


def test_logs_have_the_seed_shape_and_a_daily_summary(
    client: TestClient, context: AppContext, alice: Account, agent_id: str
) -> None:
    sent = add_log(
        context,
        alice,
        agent_id,
        ago=timedelta(minutes=5),
        target_url="https://facebook.com/groups/royale",
        target_name="Casino Royale Group",
        message_sent="Hello\nthere",
    )
    failed = add_log(
        context,
        alice,
        agent_id,
        ago=timedelta(days=1, minutes=1),
        result="failed",
        error_message="Composer not found",
    )
    skipped = add_log(context, alice, agent_id, ago=timedelta(days=1, minutes=2), result="skipped")
    add_log(context, alice, agent_id, ago=timedelta(days=3), platform="twitter")

    body = get_logs(client, alice)
    assert set(body) == {"success", "logs", "summary"}
    logs = body["logs"]
    assert len(logs) == 4
    newest = logs[0]
    assert set(newest) >= LOG_KEYS
    assert newest["logId"] == sent
    assert newest["agentId"] == agent_id
    assert newest["platform"] == "facebook"
    assert newest["result"] == "sent"
    assert newest["targetUrl"] == "https://facebook.com/groups/royale"
    assert newest["targetName"] == "Casino Royale Group"
    assert newest["messageSent"] == "Hello\nthere"
    assert newest["errorMessage"] is None
    stamp = datetime.fromisoformat(newest["timestamp"].replace("Z", "+00:00"))
    assert newest["timestamp"].endswith("Z") and len(newest["timestamp"]) == 24
    assert abs(datetime.now(UTC) - timedelta(minutes=5) - stamp) < timedelta(seconds=30)
    assert [log["logId"] for log in logs[1:3]] == [failed, skipped]
    assert logs[1]["errorMessage"] == "Composer not found"
    assert logs[1]["targetUrl"] is None and logs[1]["messageSent"] is None

    summary = body["summary"]
    assert {k: summary[k] for k in ("total", "sent", "failed", "skipped")} == {
        "total": 4,
        "sent": 2,
        "failed": 1,
        "skipped": 1,
    }
    expected_days: dict[str, dict[str, int]] = {}
    for ago, result in (
        (timedelta(minutes=5), "sent"),
        (timedelta(days=1, minutes=1), "failed"),
        (timedelta(days=1, minutes=2), "skipped"),
        (timedelta(days=3), "sent"),
    ):
        counts = expected_days.setdefault(day_of(ago), {"sent": 0, "failed": 0, "skipped": 0})
        counts[result] += 1
    assert sorted(summary["byDay"], key=lambda d: d["day"]) == [
        {"day": day, **counts} for day, counts in sorted(expected_days.items())
    ]


def test_days_window_and_filters(
    client: TestClient, context: AppContext, alice: Account, agent_id: str
) -> None:
    other_agent = client.post("/api/agents", headers=alice.headers, json={"name": "Seat 2"}).json()[
        "agent"
    ]["agentId"]
    inside = add_log(context, alice, agent_id, ago=timedelta(days=7) - timedelta(minutes=10))
    outside = add_log(context, alice, agent_id, ago=timedelta(days=7, minutes=10))
    old = add_log(context, alice, agent_id, ago=timedelta(days=20), result="failed")
    tweet = add_log(context, alice, agent_id, ago=timedelta(hours=1), platform="twitter")
    skip = add_log(context, alice, other_agent, ago=timedelta(hours=2), result="skipped")

    def ids(query: str) -> list[str]:
        return [log["logId"] for log in get_logs(client, alice, query)["logs"]]

    # Default lookback: 7 days.
    assert ids("") == [tweet, skip, inside]
    assert ids("?days=1") == [tweet, skip]
    assert ids("?days=8") == [tweet, skip, inside, outside]
    assert ids("?days=30") == [tweet, skip, inside, outside, old]
    assert get_logs(client, alice, "?days=30")["summary"]["failed"] == 1
    assert get_logs(client, alice)["summary"]["failed"] == 0

    assert ids(f"?agentId={other_agent}") == [skip]
    assert ids(f"?agentId={agent_id}") == [tweet, inside]
    assert ids("?platform=twitter") == [tweet]
    assert ids("?platform=linkedin") == []
    assert ids("?result=skipped") == [skip]
    assert ids("?result=failed&days=30") == [old]
    assert ids(f"?agentId={agent_id}&platform=facebook&result=sent&days=30") == [inside, outside]

    # limit trims the list; the summary still covers the whole window.
    limited = get_logs(client, alice, "?limit=1&days=30")
    assert [log["logId"] for log in limited["logs"]] == [tweet]
    assert limited["summary"]["total"] == 5
    assert sum(d["sent"] + d["failed"] + d["skipped"] for d in limited["summary"]["byDay"]) == 5
    filtered = get_logs(client, alice, "?result=sent&limit=1")["summary"]
    assert (filtered["total"], filtered["sent"], filtered["skipped"]) == (2, 2, 0)


def test_bad_query_is_a_400_and_logs_need_auth(
    client: TestClient, alice: Account, agent_id: str
) -> None:
    for bad in (
        "result=bounced",
        "result=SENT",
        "days=0",
        "days=-1",
        "days=week",
        "days=1.5",
        "days=100000",
        "limit=0",
        "limit=-5",
        "limit=all",
    ):
        assert_error(client.get(f"/api/logs?{bad}", headers=alice.headers), 400)
    assert_error(client.get("/api/logs"), 401)
    assert_error(client.get("/api/logs", headers={"Authorization": "Bearer bk_pat_nope"}), 401)
    empty = get_logs(client, alice)
    assert empty["logs"] == []
    assert empty["summary"] == {"total": 0, "sent": 0, "failed": 0, "skipped": 0, "byDay": []}


def test_users_never_see_each_others_logs(
    client: TestClient,
    context: AppContext,
    alice: Account,
    bob: Account,
    agent_id: str,
    bob_agent: str,
) -> None:
    mine = add_log(context, alice, agent_id, ago=timedelta(minutes=1), message_sent="secret")
    theirs = add_log(context, bob, bob_agent, ago=timedelta(minutes=2), platform="twitter")

    alice_logs = get_logs(client, alice)
    assert [log["logId"] for log in alice_logs["logs"]] == [mine]
    assert alice_logs["summary"]["total"] == 1
    bob_logs = get_logs(client, bob)
    assert [log["logId"] for log in bob_logs["logs"]] == [theirs]
    assert bob_logs["summary"]["total"] == 1
    # Naming alice's agent does not widen bob's view.
    snooping = get_logs(client, bob, f"?agentId={agent_id}")
    assert snooping["logs"] == [] and snooping["summary"]["total"] == 0
