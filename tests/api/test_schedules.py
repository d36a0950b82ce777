"""Schedules: create for every frequency, validation, listing, PATCH, DELETE, ownership."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient

from api.context import AppContext
from api.db.models import Schedule as ScheduleRow
from tests.helpers import Account, assert_error

SEED_KEYS = {
    "scheduleId",
    "agentId",
    "platform",
    "content",
    "frequency",
    "runAt",
    "timeMinutesUTC",
    "dayOfWeek",
    "cronExpr",
    "timezone",
    "status",
    "nextRunAt",
    "lastRunAt",
    "createdAt",
}
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")

Schedule = dict[str, Any]


def parse(timestamp: str) -> datetime:
    assert TIMESTAMP.fullmatch(timestamp), timestamp
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00"))


def stamp(value: datetime) -> str:
    return (
        value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    )


def daily_body(agent_id: str, **extra: Any) -> dict[str, Any]:
    body = {
        "agentId": agent_id,
        "platform": "facebook",
        "content": "Good morning, world.",
        "frequency": "daily",
        "timeMinutesUTC": 540,
    }
    return {**body, **extra}


def create(client: TestClient, account: Account, body: dict[str, Any]) -> Schedule:
    response = client.post("/api/schedules", headers=account.headers, json=body)
    assert response.status_code == 200, response.text
    payload = response.json()
    assert payload["success"] is True
    return dict(payload["schedule"])


def fetch(client: TestClient, account: Account, schedule_id: str) -> Schedule:
    response = client.get(f"/api/schedules/{schedule_id}", headers=account.headers)
    assert response.status_code == 200, response.text
    return dict(response.json()["schedule"])


def patch(client: TestClient, account: Account, schedule_id: str, body: Any) -> Any:
    return client.patch(f"/api/schedules/{schedule_id}", headers=account.headers, json=body)


def next_after(now: datetime, minutes: int, weekday: int | None = None) -> datetime:
    """The first ``minutes``-past-UTC-midnight strictly after ``now`` (on a Sunday=0 day)."""
    candidate = now.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(minutes=minutes)
    while candidate <= now or (weekday is not None and (candidate.weekday() + 1) % 7 != weekday):
        candidate += timedelta(days=1)
    return candidate


def created_next_run(
    client: TestClient, account: Account, body: dict[str, Any], rule: Callable[[datetime], Any]
) -> tuple[Schedule, set[Any]]:
    """Create; return the schedule and what ``rule`` expects for a now before and after."""
    before = datetime.now(UTC)
    schedule = create(client, account, body)
    after = datetime.now(UTC)
    return schedule, {rule(before), rule(after)}


def test_daily_schedule_has_the_seed_shape(
    client: TestClient, alice: Account, agent_id: str
) -> None:
    schedule, expected = created_next_run(
        client,
        alice,
        daily_body(agent_id, timezone="Asia/Taipei"),
        lambda now: stamp(next_after(now, 540)),
    )
    assert set(schedule) >= SEED_KEYS
    assert schedule["scheduleId"]
    assert schedule["agentId"] == agent_id
    assert schedule["platform"] == "facebook"
    assert schedule["content"] == "Good morning, world."
    assert schedule["frequency"] == "daily"
    assert schedule["runAt"] is None
    assert schedule["timeMinutesUTC"] == 540
    assert schedule["dayOfWeek"] is None
    assert schedule["cronExpr"] is None
    assert schedule["timezone"] == "Asia/Taipei"
    assert schedule["status"] == "active"
    assert schedule["lastRunAt"] is None
    assert schedule["nextRunAt"] in expected
    assert parse(schedule["nextRunAt"]).strftime("%H:%M") == "09:00"
    created = parse(schedule["createdAt"])
    assert abs(datetime.now(UTC) - created) < timedelta(minutes=1)
    assert fetch(client, alice, schedule["scheduleId"]) == schedule


def test_oneoff_weekly_and_multiline_content(
    client: TestClient, alice: Account, agent_id: str
) -> None:
    run_at = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=678_000)
    oneoff = create(
        client,
        alice,
        {
            "agentId": agent_id,
            "platform": "twitter",
            "content": "Line one\nLine two",
            "frequency": "oneoff",
            "runAt": run_at.isoformat(),
        },
    )
    assert oneoff["runAt"] == stamp(run_at)
    assert oneoff["nextRunAt"] == oneoff["runAt"]
    assert oneoff["content"] == "Line one\nLine two"
    assert oneoff["timeMinutesUTC"] is None and oneoff["dayOfWeek"] is None

    # An offset is normalised to UTC.
    local = datetime(2030, 1, 2, 11, 4, 5, tzinfo=ZoneInfo("Asia/Taipei"))
    taipei = create(
        client,
        alice,
        daily_body(agent_id, frequency="oneoff", runAt=local.isoformat(), timeMinutesUTC=None),
    )
    assert taipei["runAt"] == "2030-01-02T03:04:05.000Z"

    for day in (0, 3, 6):

        def quarter_past_one(now: datetime, day: int = day) -> str:
            return stamp(next_after(now, 75, day))

        weekly, expected = created_next_run(
            client,
            alice,
            daily_body(agent_id, frequency="weekly", dayOfWeek=day, timeMinutesUTC=75),
            quarter_past_one,
        )
        assert weekly["dayOfWeek"] == day and weekly["timeMinutesUTC"] == 75
        assert weekly["nextRunAt"] in expected
        # Python counts Monday=0; the API counts Sunday=0.
        assert (parse(weekly["nextRunAt"]).weekday() + 1) % 7 == day


def test_cron_and_interval_schedules(client: TestClient, alice: Account, agent_id: str) -> None:
    def next_quarter(now: datetime) -> str:
        floor = now.replace(minute=now.minute - now.minute % 15, second=0, microsecond=0)
        return stamp(floor + timedelta(minutes=15))

    cron, expected = created_next_run(
        client,
        alice,
        daily_body(agent_id, frequency="cron", cronExpr="*/15 * * * *", timeMinutesUTC=None),
        next_quarter,
    )
    assert cron["cronExpr"] == "*/15 * * * *"
    assert cron["timeMinutesUTC"] is None
    assert cron["nextRunAt"] in expected

    new_york = ZoneInfo("America/New_York")
    local_nine = create(
        client,
        alice,
        daily_body(
            agent_id,
            frequency="cron",
            cronExpr="0 9 * * *",
            cronTimezone="America/New_York",
            timeMinutesUTC=None,
        ),
    )
    assert local_nine["cronTimezone"] == "America/New_York"
    fire = parse(local_nine["nextRunAt"])
    assert fire.astimezone(new_york).strftime("%H:%M") == "09:00"
    assert fire.strftime("%H:%M") in ("13:00", "14:00")  # EDT or EST, not 09:00 UTC
    assert timedelta(0) < fire - datetime.now(UTC) <= timedelta(days=1)

    start = (datetime.now(UTC) + timedelta(hours=2)).replace(microsecond=0)
    every_30_min = create(
        client,
        alice,
        daily_body(
            agent_id,
            frequency="interval",
            intervalValue=30,
            intervalUnit="minutes",
            runAt=start.isoformat(),
            timeMinutesUTC=None,
        ),
    )
    assert (every_30_min["intervalValue"], every_30_min["intervalUnit"]) == (30, "minutes")
    assert every_30_min["nextRunAt"] == stamp(start)

    past = (datetime.now(UTC) - timedelta(minutes=90)).replace(microsecond=0)
    hourly = create(
        client,
        alice,
        daily_body(
            agent_id,
            frequency="interval",
            intervalValue=1,
            intervalUnit="hours",
            runAt=past.isoformat(),
            timeMinutesUTC=None,
        ),
    )
    assert hourly["nextRunAt"] == stamp(past + timedelta(hours=2))

    every_2_days = create(
        client,
        alice,
        daily_body(
            agent_id,
            frequency="interval",
            intervalValue=2,
            intervalUnit="days",
            timeMinutesUTC=None,
        ),
    )
    # Without runAt it counts from creation.
    gap = parse(every_2_days["nextRunAt"]) - parse(every_2_days["createdAt"])
    assert abs(gap - timedelta(days=2)) < timedelta(seconds=1)


def test_every_documented_validation_error_is_a_400_envelope(
    client: TestClient, alice: Account, agent_id: str
) -> None:
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    cases: dict[str, Any] = {
        "oneoff without runAt": daily_body(agent_id, frequency="oneoff", timeMinutesUTC=None),
        "oneoff in the past": daily_body(agent_id, frequency="oneoff", runAt=past),
        "runAt not a date": daily_body(agent_id, frequency="oneoff", runAt="tomorrow"),
        "runAt past year 9999 in UTC": daily_body(
            agent_id, frequency="oneoff", runAt="9999-12-31T23:00:00-12:00"
        ),
        "interval runAt before year 1 in UTC": daily_body(
            agent_id,
            frequency="interval",
            intervalValue=1,
            intervalUnit="days",
            runAt="0001-01-01T00:00:00+14:00",
        ),
        "daily without time": daily_body(agent_id, timeMinutesUTC=None),
        "time -1": daily_body(agent_id, timeMinutesUTC=-1),
        "time 1440": daily_body(agent_id, timeMinutesUTC=1440),
        "time not a number": daily_body(agent_id, timeMinutesUTC="nine"),
        "weekly without day": daily_body(agent_id, frequency="weekly"),
        "day 7": daily_body(agent_id, frequency="weekly", dayOfWeek=7),
        "cron without expr": daily_body(agent_id, frequency="cron"),
        "bad cron": daily_body(agent_id, frequency="cron", cronExpr="every day"),
        "6-field cron": daily_body(agent_id, frequency="cron", cronExpr="0 */15 * * * *"),
        "cron minute 60": daily_body(agent_id, frequency="cron", cronExpr="60 * * * *"),
        "cron never fires": daily_body(agent_id, frequency="cron", cronExpr="0 0 31 2 *"),
        "bad cronTimezone": daily_body(
            agent_id, frequency="cron", cronExpr="0 9 * * *", cronTimezone="Mars/Olympus"
        ),
        "interval without unit": daily_body(agent_id, frequency="interval", intervalValue=5),
        "interval 0": daily_body(
            agent_id, frequency="interval", intervalValue=0, intervalUnit="hours"
        ),
        "interval 10**20 days": daily_body(
            agent_id, frequency="interval", intervalValue=10**20, intervalUnit="days"
        ),
        "bad frequency": daily_body(agent_id, frequency="monthly"),
        "bad platform": daily_body(agent_id, platform="myspace"),
        "twitter 281 chars": daily_body(agent_id, platform="twitter", content="a" * 281),
        "facebook 63,207 chars": daily_body(agent_id, content="a" * 63_207),
        "empty content": daily_body(agent_id, content=""),
        "missing content": {k: v for k, v in daily_body(agent_id).items() if k != "content"},
        "missing agentId": {k: v for k, v in daily_body(agent_id).items() if k != "agentId"},
        "bad timezone": daily_body(agent_id, timezone="Mars/Olympus"),
        "timezone a tzdata folder": daily_body(agent_id, timezone="America"),
        "unknown field": daily_body(agent_id, color="blue"),
        "array body": [daily_body(agent_id)],
        "string body": "daily",
    }
    for name, body in cases.items():
        response = client.post("/api/schedules", headers=alice.headers, json=body)
        assert response.status_code == 400, (name, response.text)
        assert_error(response, 400)
    unknown = client.post("/api/schedules", headers=alice.headers, json=daily_body(agent_id, x=1))
    assert "x" in assert_error(unknown, 400)["error"]
    malformed = client.post(
        "/api/schedules",
        headers={**alice.headers, "Content-Type": "application/json"},
        content=b'{"agentId": ',
    )
    assert_error(malformed, 400)

    # At the limits, the same bodies are fine.
    create(client, alice, daily_body(agent_id, platform="twitter", content="a" * 280))
    create(client, alice, daily_body(agent_id, content="a" * 63_206))
    create(client, alice, daily_body(agent_id, timeMinutesUTC=0))
    create(
        client, alice, daily_body(agent_id, frequency="weekly", dayOfWeek=6, timeMinutesUTC=1439)
    )
    listed = client.get("/api/schedules", headers=alice.headers).json()["schedules"]
    assert len(listed) == 4


def test_agent_must_exist_and_belong_to_the_caller(
    client: TestClient, alice: Account, bob: Account, agent_id: str
) -> None:
    assert_error(client.post("/api/schedules", headers=bob.headers, json=daily_body(agent_id)), 403)
    assert_error(
        client.post("/api/schedules", headers=alice.headers, json=daily_body("0" * 24)), 404
    )
    client.delete(f"/api/agents/{agent_id}", headers=alice.headers)
    assert_error(
        client.post("/api/schedules", headers=alice.headers, json=daily_body(agent_id)), 404
    )
    assert_error(client.post("/api/schedules", json=daily_body(agent_id)), 401)
    assert_error(client.get("/api/schedules"), 401)
    assert client.get("/api/schedules", headers=bob.headers).json() == {
        "success": True,
        "schedules": [],
    }


def test_list_filters_newest_first(client: TestClient, alice: Account, agent_id: str) -> None:
    other_agent = client.post(
        "/api/agents", headers=alice.headers, json={"name": "Seat 2", "platforms": ["facebook"]}
    ).json()["agent"]["agentId"]
    first = create(client, alice, daily_body(agent_id, content="first"))
    second = create(client, alice, daily_body(agent_id, content="second", status="paused"))
    third = create(client, alice, daily_body(other_agent, content="third"))
    assert second["status"] == "paused" and second["nextRunAt"] is None

    def ids(query: str = "") -> list[str]:
        response = client.get(f"/api/schedules{query}", headers=alice.headers)
        assert response.status_code == 200, response.text
        return [s["scheduleId"] for s in response.json()["schedules"]]

    everything = [third["scheduleId"], second["scheduleId"], first["scheduleId"]]
    assert ids() == everything
    assert ids(f"?agentId={agent_id}") == [second["scheduleId"], first["scheduleId"]]
    assert ids(f"?agentId={other_agent}") == [third["scheduleId"]]
    assert ids("?status=paused") == [second["scheduleId"]]
    assert ids("?status=active") == [third["scheduleId"], first["scheduleId"]]
    assert ids("?status=completed") == []
    assert ids("?limit=2") == everything[:2]
    assert ids(f"?agentId={agent_id}&status=active&limit=1") == [first["scheduleId"]]
    for bad in ("status=exploded", "limit=0", "limit=-3", "limit=many"):
        assert_error(client.get(f"/api/schedules?{bad}", headers=alice.headers), 400)


def test_patch_content_timing_and_status(client: TestClient, alice: Account, agent_id: str) -> None:
    schedule = create(client, alice, daily_body(agent_id))
    schedule_id = schedule["scheduleId"]

    response = patch(client, alice, schedule_id, {"content": "Edited\nbody"})
    assert response.status_code == 200, response.text
    edited = response.json()["schedule"]
    assert edited["content"] == "Edited\nbody"
    assert edited["nextRunAt"] == schedule["nextRunAt"]

    before = datetime.now(UTC)
    moved = patch(client, alice, schedule_id, {"timeMinutesUTC": 1000}).json()["schedule"]
    assert moved["timeMinutesUTC"] == 1000
    assert moved["nextRunAt"] in {
        stamp(next_after(before, 1000)),
        stamp(next_after(datetime.now(UTC), 1000)),
    }

    weekly = patch(
        client, alice, schedule_id, {"frequency": "weekly", "dayOfWeek": 0, "timeMinutesUTC": 60}
    ).json()["schedule"]
    assert (weekly["frequency"], weekly["dayOfWeek"], weekly["timeMinutesUTC"]) == (
        "weekly",
        0,
        60,
    )
    assert parse(weekly["nextRunAt"]).strftime("%w %H:%M") == "0 01:00"

    cron = patch(
        client, alice, schedule_id, {"frequency": "cron", "cronExpr": "*/15 * * * *"}
    ).json()["schedule"]
    # Fields the new frequency does not use are cleared.
    assert cron["timeMinutesUTC"] is None and cron["dayOfWeek"] is None
    assert parse(cron["nextRunAt"]).minute % 15 == 0

    paused = patch(client, alice, schedule_id, {"status": "paused"}).json()["schedule"]
    assert paused["status"] == "paused"
    assert paused["nextRunAt"] is None
    assert fetch(client, alice, schedule_id)["nextRunAt"] is None

    active = patch(client, alice, schedule_id, {"status": "active"}).json()["schedule"]
    assert active["status"] == "active"
    next_fire = parse(active["nextRunAt"])
    assert next_fire.minute % 15 == 0
    assert timedelta(0) < next_fire - datetime.now(UTC) <= timedelta(minutes=15)

    cancelled = patch(client, alice, schedule_id, {"status": "cancelled"}).json()["schedule"]
    assert cancelled["nextRunAt"] is None


def test_a_rejected_patch_changes_nothing(
    client: TestClient, alice: Account, agent_id: str
) -> None:
    schedule = create(client, alice, daily_body(agent_id, timezone="Asia/Taipei"))
    schedule_id = schedule["scheduleId"]
    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    rejected = {
        # A half-coherent timing group: weekly needs dayOfWeek.
        "weekly without dayOfWeek": {"frequency": "weekly"},
        "content with a bad timing": {"content": "lost?", "frequency": "weekly"},
        "content with a bad timezone": {"content": "lost?", "timezone": "Nowhere/City"},
        "time 1440": {"timeMinutesUTC": 1440},
        "oneoff without runAt": {"frequency": "oneoff"},
        "oneoff in the past": {"frequency": "oneoff", "runAt": past},
        "bad cron": {"frequency": "cron", "cronExpr": "* * *"},
        "bad status": {"status": "exploded"},
        "bad frequency": {"frequency": "hourly"},
        "too long": {"content": "a" * 63_207},
        "empty content": {"content": ""},
        "unknown field": {"agentId": agent_id},
        "array body": ["content"],
    }
    for name, body in rejected.items():
        response = patch(client, alice, schedule_id, body)
        assert response.status_code == 400, (name, response.text)
        assert_error(response, 400)
        assert fetch(client, alice, schedule_id) == schedule, name

    # The content limit is the schedule's platform's: 280 on X.
    tweet = create(client, alice, daily_body(agent_id, platform="twitter", content="short"))
    assert_error(patch(client, alice, tweet["scheduleId"], {"content": "a" * 281}), 400)
    assert fetch(client, alice, tweet["scheduleId"]) == tweet
    response = patch(client, alice, tweet["scheduleId"], {"content": "a" * 280})
    assert response.status_code == 200, response.text


def test_reactivating_a_passed_oneoff_needs_a_new_run_at(
    client: TestClient, alice: Account, agent_id: str, context: AppContext
) -> None:
    run_at = datetime.now(UTC) + timedelta(days=1)
    schedule = create(
        client,
        alice,
        daily_body(agent_id, frequency="oneoff", runAt=run_at.isoformat(), timeMinutesUTC=None),
    )
    schedule_id = schedule["scheduleId"]
    assert patch(client, alice, schedule_id, {"status": "paused"}).status_code == 200
    with context.db.unit() as session:
        row = session.get(ScheduleRow, schedule_id)
        assert row is not None
        row.run_at = datetime.now(UTC) - timedelta(hours=1)
    paused = fetch(client, alice, schedule_id)

    assert_error(patch(client, alice, schedule_id, {"status": "active"}), 400)
    assert fetch(client, alice, schedule_id) == paused

    later = run_at + timedelta(days=1)
    response = patch(client, alice, schedule_id, {"runAt": later.isoformat(), "status": "active"})
    assert response.status_code == 200, response.text
    assert response.json()["schedule"]["status"] == "active"
    assert response.json()["schedule"]["nextRunAt"] == stamp(later)


def test_delete_then_gone(client: TestClient, alice: Account, agent_id: str) -> None:
    schedule_id = create(client, alice, daily_body(agent_id))["scheduleId"]
    response = client.delete(f"/api/schedules/{schedule_id}", headers=alice.headers)
    assert response.status_code == 200, response.text
    assert response.json() == {"success": True}
    assert_error(client.get(f"/api/schedules/{schedule_id}", headers=alice.headers), 404)
    assert_error(client.delete(f"/api/schedules/{schedule_id}", headers=alice.headers), 404)
    assert_error(patch(client, alice, schedule_id, {"content": "x"}), 404)
    assert client.get("/api/schedules", headers=alice.headers).json()["schedules"] == []


def test_another_users_schedule_is_forbidden(
    client: TestClient, alice: Account, bob: Account, agent_id: str
) -> None:
    schedule = create(client, alice, daily_body(agent_id))
    url = f"/api/schedules/{schedule['scheduleId']}"
    assert_error(client.get(url, headers=bob.headers), 403)
    assert_error(client.patch(url, headers=bob.headers, json={"content": "mine now"}), 403)
    assert_error(client.patch(url, headers=bob.headers, json={"status": "paused"}), 403)
    assert_error(client.delete(url, headers=bob.headers), 403)
    assert_error(client.get(url), 401)
    assert fetch(client, alice, schedule["scheduleId"]) == schedule
    assert client.get("/api/schedules", headers=bob.headers).json()["schedules"] == []
    assert client.get(f"/api/schedules?agentId={agent_id}", headers=bob.headers).json() == {
        "success": True,
        "schedules": [],
    }


def test_nul_characters_are_refused_not_a_server_error(
    client: TestClient, alice: Account, agent_id: str
) -> None:
    # PostgreSQL cannot store NUL; whichever backend, the caller gets an answer, never a 500.
    schedule = create(client, alice, daily_body(agent_id))
    for path in (
        "/api/schedules?agentId=%00",
        "/api/schedules/%00",
        "/api/logs?agentId=%00",
        "/api/logs?platform=face%00book",
        "/api/media-proxy/bredgio/%00.jpg",
    ):
        response = client.get(path, headers=alice.headers)
        assert response.status_code in (200, 400, 404), (path, response.text)
        assert response.json()["success"] is (response.status_code == 200)
    for body in (daily_body("\x00"), daily_body(agent_id, content="a\x00b")):
        response = client.post("/api/schedules", headers=alice.headers, json=body)
        assert response.status_code in (200, 400, 404), response.text
    response = patch(client, alice, schedule["scheduleId"], {"content": "\x00"})
    assert response.status_code in (200, 400), response.text
    if response.status_code == 400:
        assert fetch(client, alice, schedule["scheduleId"]) == schedule
