"""The scheduler in the test's process, on a clock the test moves: every kind of schedule
fires at its times and advances, oneoffs complete, late fires follow misfireGraceSec,
paused schedules and agents do not post, and GET /api/schedules/:id/runs tells it all."""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from api import scheduler as scheduler_module
from api import scheduling
from api.app import create_app
from api.components import components_for
from api.context import AppContext
from api.db.models import Schedule as ScheduleRow
from api.db.models import ScheduleRun
from api.scheduler import Scheduler
from tests.api.test_schedules import create, fetch, parse, stamp
from tests.helpers import Account, assert_error
from tests.scheduler.support import ManualClock, runs_of, tasks_of

TAIPEI = ZoneInfo("Asia/Taipei")


def body(agent_id: str, **timing: Any) -> dict[str, Any]:
    return {"agentId": agent_id, "platform": "facebook", "content": "Scheduled hello", **timing}


def minutes(after: datetime, until: datetime) -> Iterator[datetime]:
    """Every whole minute in (after, until]."""
    moment = after.replace(second=0, microsecond=0) + timedelta(minutes=1)
    while moment <= until:
        yield moment
        moment += timedelta(minutes=1)


def outcomes_for(outcomes: list[scheduler_module.Outcome], schedule_id: str) -> list[Any]:
    return [(o.outcome, o.fire_at) for o in outcomes if o.schedule_id == schedule_id]


@pytest.fixture
def start() -> datetime:
    return datetime.now(UTC)


@pytest.fixture
def clock(start: datetime) -> ManualClock:
    return ManualClock(start)


@pytest.fixture
def scheduler(context: AppContext, clock: ManualClock) -> Scheduler:
    return Scheduler(context, now=clock)


def test_each_kind_fires_at_its_times_and_advances(
    client: TestClient,
    alice: Account,
    agent_id: str,
    context: AppContext,
    start: datetime,
    clock: ManualClock,
    scheduler: Scheduler,
) -> None:
    run_at = (start + timedelta(hours=1)).replace(second=0, microsecond=0)
    kinds: dict[str, tuple[dict[str, Any], Callable[[datetime], bool]]] = {
        "daily": (
            {"frequency": "daily", "timeMinutesUTC": 540},
            lambda m: (m.hour, m.minute) == (9, 0),
        ),
        "weekly": (
            {"frequency": "weekly", "timeMinutesUTC": 810, "dayOfWeek": 3},
            lambda m: m.weekday() == 2 and (m.hour, m.minute) == (13, 30),
        ),
        "cron": (
            {"frequency": "cron", "cronExpr": "0 */6 * * *"},
            lambda m: m.minute == 0 and m.hour % 6 == 0,
        ),
        "cron_local": (
            {"frequency": "cron", "cronExpr": "0 9 * * 1-5", "cronTimezone": "Asia/Taipei"},
            lambda m: (
                m.astimezone(TAIPEI).weekday() < 5
                and (m.astimezone(TAIPEI).hour, m.minute) == (9, 0)
            ),
        ),
        "interval": (
            {
                "frequency": "interval",
                "intervalValue": 7,
                "intervalUnit": "hours",
                "runAt": stamp(run_at),
            },
            lambda m: m >= run_at and (m - run_at) % timedelta(hours=7) == timedelta(0),
        ),
    }
    ids = {
        name: create(client, alice, body(agent_id, **timing))["scheduleId"]
        for name, (timing, _) in kinds.items()
    }

    end = start + timedelta(days=9)
    fired: dict[str, list[datetime]] = defaultdict(list)
    while (due := scheduler.next_due_at()) is not None and due <= end:
        clock.set(due + timedelta(milliseconds=300))
        for outcome in scheduler.tick():
            assert outcome.outcome == "dispatched", outcome
            fired[outcome.schedule_id].append(outcome.fire_at)

    for name, (_, fires_at) in kinds.items():
        expected = [m for m in minutes(start, end) if fires_at(m)]
        assert fired[ids[name]] == expected, name
        assert len(tasks_of(context, ids[name])) == len(expected), name
        schedule = fetch(client, alice, ids[name])
        assert schedule["status"] == "active"
        assert schedule["lastRunAt"] == stamp(expected[-1]), name
        following = next(m for m in minutes(end, end + timedelta(days=8)) if fires_at(m))
        assert schedule["nextRunAt"] == stamp(following), name

    task = tasks_of(context, ids["daily"])[0]
    detail = client.get(f"/api/tasks/{task.id}", headers=alice.headers).json()["task"]
    assert detail["scheduleId"] == ids["daily"]
    assert (detail["action"], detail["platform"], detail["status"]) == (
        "post",
        "facebook",
        "pending",
    )
    assert detail["params"] == {"content": "Scheduled hello"}


def test_oneoff_fires_once_then_completes(
    client: TestClient,
    alice: Account,
    agent_id: str,
    context: AppContext,
    start: datetime,
    clock: ManualClock,
    scheduler: Scheduler,
) -> None:
    schedule = create(
        client,
        alice,
        body(agent_id, frequency="oneoff", runAt=stamp(start + timedelta(hours=1))),
    )
    run_at = parse(schedule["runAt"])
    clock.set(run_at - timedelta(milliseconds=10))
    assert scheduler.tick() == []

    clock.set(run_at + timedelta(milliseconds=400))
    [outcome] = scheduler.tick()
    assert (outcome.outcome, outcome.fire_at) == ("dispatched", run_at)
    done = fetch(client, alice, schedule["scheduleId"])
    assert done["status"] == "completed"
    assert done["nextRunAt"] is None
    assert done["lastRunAt"] == schedule["runAt"]

    clock.set(run_at + timedelta(days=2))
    assert scheduler.tick() == []
    [task] = tasks_of(context, schedule["scheduleId"])
    runs = client.get(f"/api/schedules/{schedule['scheduleId']}/runs", headers=alice.headers)
    assert runs.status_code == 200
    [run] = runs.json()["runs"]
    assert run["fireAt"] == schedule["runAt"]
    assert (run["outcome"], run["taskId"], run["reason"]) == ("dispatched", task.id, None)
    assert run["createdAt"]


def test_a_late_fire_within_the_grace_fires_once(
    client: TestClient,
    alice: Account,
    agent_id: str,
    context: AppContext,
    start: datetime,
    clock: ManualClock,
    scheduler: Scheduler,
) -> None:
    daily = create(client, alice, body(agent_id, frequency="daily", timeMinutesUTC=540))
    due = parse(daily["nextRunAt"])
    clock.set(due + timedelta(seconds=200))
    assert outcomes_for(scheduler.tick(), daily["scheduleId"]) == [("dispatched", due)]
    after = fetch(client, alice, daily["scheduleId"])
    assert after["lastRunAt"] == stamp(due)
    assert after["nextRunAt"] == stamp(due + timedelta(days=1))
    assert len(tasks_of(context, daily["scheduleId"])) == 1

    # Every minute, down for three: one post for the newest time, not four.
    first = (start + timedelta(minutes=10)).replace(second=0, microsecond=0)
    every_minute = create(
        client,
        alice,
        body(
            agent_id,
            frequency="interval",
            intervalValue=1,
            intervalUnit="minutes",
            runAt=stamp(first),
        ),
    )
    clock.set(first + timedelta(minutes=3, seconds=10))
    assert outcomes_for(scheduler.tick(), every_minute["scheduleId"]) == [
        ("skipped", first),
        ("dispatched", first + timedelta(minutes=3)),
    ]
    assert len(tasks_of(context, every_minute["scheduleId"])) == 1
    after = fetch(client, alice, every_minute["scheduleId"])
    assert after["lastRunAt"] == stamp(first + timedelta(minutes=3))
    assert after["nextRunAt"] == stamp(first + timedelta(minutes=4))
    skipped = runs_of(context, every_minute["scheduleId"])[0]
    assert skipped.task_id is None
    assert skipped.reason is not None and "no catch-up" in skipped.reason


def test_a_fire_later_than_the_grace_is_skipped_and_recorded(
    client: TestClient,
    alice: Account,
    agent_id: str,
    context: AppContext,
    start: datetime,
    clock: ManualClock,
    scheduler: Scheduler,
) -> None:
    daily = create(client, alice, body(agent_id, frequency="daily", timeMinutesUTC=540))
    daily_id = daily["scheduleId"]
    due = parse(daily["nextRunAt"])

    clock.set(due + timedelta(hours=2))
    assert outcomes_for(scheduler.tick(), daily_id) == [("skipped", due)]
    after = fetch(client, alice, daily_id)
    assert after["lastRunAt"] is None
    assert after["nextRunAt"] == stamp(due + timedelta(days=1))
    assert tasks_of(context, daily_id) == []

    clock.set(due + timedelta(days=1, seconds=60))
    assert outcomes_for(scheduler.tick(), daily_id) == [("dispatched", due + timedelta(days=1))]

    # Down for a day: yesterday's fire is skipped, today's (still in grace) fires once.
    clock.set(due + timedelta(days=3, seconds=30))
    assert outcomes_for(scheduler.tick(), daily_id) == [
        ("skipped", due + timedelta(days=2)),
        ("dispatched", due + timedelta(days=3)),
    ]
    assert len(tasks_of(context, daily_id)) == 2
    assert fetch(client, alice, daily_id)["nextRunAt"] == stamp(due + timedelta(days=4))

    response = client.get(f"/api/schedules/{daily_id}/runs", headers=alice.headers)
    runs = response.json()["runs"]
    assert [(r["fireAt"], r["outcome"]) for r in runs] == [
        (stamp(due + timedelta(days=3)), "dispatched"),
        (stamp(due + timedelta(days=2)), "skipped"),
        (stamp(due + timedelta(days=1)), "dispatched"),
        (stamp(due), "skipped"),
    ]
    assert runs[3]["reason"] == "missed by 2 h, more than the misfire grace of 5 min"
    assert runs[3]["taskId"] is None
    assert runs[1]["reason"].startswith("missed by 24 h, more than the misfire grace of 5 min")
    assert "no catch-up" in runs[1]["reason"]

    oneoff = create(
        client, alice, body(agent_id, frequency="oneoff", runAt=stamp(start + timedelta(hours=1)))
    )
    clock.set(parse(oneoff["runAt"]) + timedelta(minutes=10))
    assert outcomes_for(scheduler.tick(), oneoff["scheduleId"]) == [
        ("skipped", parse(oneoff["runAt"]))
    ]
    over = fetch(client, alice, oneoff["scheduleId"])
    assert (over["status"], over["nextRunAt"], over["lastRunAt"]) == ("completed", None, None)
    assert tasks_of(context, oneoff["scheduleId"]) == []


def test_paused_schedules_and_agents_do_not_post(
    client: TestClient,
    alice: Account,
    agent_id: str,
    context: AppContext,
    start: datetime,
    clock: ManualClock,
    scheduler: Scheduler,
) -> None:
    paused = create(
        client, alice, body(agent_id, frequency="daily", timeMinutesUTC=540, status="paused")
    )
    assert paused["nextRunAt"] is None

    def new_agent(name: str) -> str:
        response = client.post("/api/agents", headers=alice.headers, json={"name": name})
        return str(response.json()["agent"]["agentId"])

    resting, gone = new_agent("resting"), new_agent("gone")
    on_resting = create(client, alice, body(resting, frequency="daily", timeMinutesUTC=540))
    on_gone = create(client, alice, body(gone, frequency="daily", timeMinutesUTC=540))
    patched = client.patch(
        f"/api/agents/{resting}", headers=alice.headers, json={"status": "paused"}
    )
    assert patched.status_code == 200
    assert client.delete(f"/api/agents/{gone}", headers=alice.headers).status_code == 200

    due = parse(on_resting["nextRunAt"])
    clock.set(due + timedelta(seconds=1))
    outcomes = scheduler.tick()
    assert outcomes_for(outcomes, paused["scheduleId"]) == []
    assert outcomes_for(outcomes, on_resting["scheduleId"]) == [("skipped", due)]
    assert outcomes_for(outcomes, on_gone["scheduleId"]) == [("skipped", due)]

    [resting_run] = runs_of(context, on_resting["scheduleId"])
    assert resting_run.reason == "the agent is paused"
    still = fetch(client, alice, on_resting["scheduleId"])
    assert (still["status"], still["nextRunAt"]) == ("active", stamp(due + timedelta(days=1)))

    [gone_run] = runs_of(context, on_gone["scheduleId"])
    assert gone_run.reason == "the agent was deleted; cancelled"
    cancelled = fetch(client, alice, on_gone["scheduleId"])
    assert (cancelled["status"], cancelled["nextRunAt"]) == ("cancelled", None)

    client.patch(f"/api/agents/{resting}", headers=alice.headers, json={"status": "offline"})
    clock.set(due + timedelta(days=3, seconds=1))
    outcomes = scheduler.tick()
    assert outcomes_for(outcomes, on_resting["scheduleId"])[-1] == (
        "dispatched",
        due + timedelta(days=3),
    )
    assert outcomes_for(outcomes, paused["scheduleId"]) == []
    assert outcomes_for(outcomes, on_gone["scheduleId"]) == []
    assert tasks_of(context, paused["scheduleId"]) == []
    assert tasks_of(context, on_gone["scheduleId"]) == []


def test_runs_belong_to_the_schedule_owner(
    client: TestClient,
    alice: Account,
    bob: Account,
    agent_id: str,
    start: datetime,
    clock: ManualClock,
    scheduler: Scheduler,
) -> None:
    schedule = create(
        client,
        alice,
        body(agent_id, frequency="interval", intervalValue=1, intervalUnit="hours"),
    )
    for hours in range(1, 4):
        clock.set(parse(schedule["createdAt"]) + timedelta(hours=hours, seconds=1))
        scheduler.tick()
    url = f"/api/schedules/{schedule['scheduleId']}/runs"
    runs = client.get(url, headers=alice.headers).json()
    assert runs["success"] is True
    assert len(runs["runs"]) == 3
    assert set(runs["runs"][0]) == {"fireAt", "outcome", "taskId", "reason", "createdAt"}
    newest = client.get(f"{url}?limit=1", headers=alice.headers).json()["runs"]
    assert newest == runs["runs"][:1]
    assert_error(client.get(url, headers=bob.headers), 403)
    assert_error(
        client.get("/api/schedules/ffffffffffffffffffffffff/runs", headers=alice.headers), 404
    )
    assert_error(client.get(url), 401)
    assert_error(client.get(f"{url}?limit=zero", headers=alice.headers), 400)


def test_losing_the_race_for_a_fire_is_quiet(
    client: TestClient,
    alice: Account,
    agent_id: str,
    context: AppContext,
    clock: ManualClock,
    scheduler: Scheduler,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Another scheduler records the fire between this one's check and its insert: the
    unique (schedule, fire time) key rejects the second insert, and nothing is logged
    above debug."""
    schedule = create(client, alice, body(agent_id, frequency="daily", timeMinutesUTC=540))
    due = parse(schedule["nextRunAt"])
    with context.db.unit() as session:
        session.add(
            ScheduleRun(schedule_id=schedule["scheduleId"], fire_at=due, outcome="dispatched")
        )

    checks: list[int] = []
    real_check = scheduler_module.recorded_fire_times

    def blind_once(*args: Any) -> set[datetime]:
        checks.append(1)
        return set() if len(checks) == 1 else real_check(*args)

    monkeypatch.setattr(scheduler_module, "recorded_fire_times", blind_once)
    clock.set(due + timedelta(milliseconds=200))
    with caplog.at_level(logging.INFO):
        assert scheduler.tick() == []
        assert fetch(client, alice, schedule["scheduleId"])["nextRunAt"] == stamp(due)
        # The next pass sees the other scheduler's row and just moves on.
        assert scheduler.tick() == []
    assert [r for r in caplog.records if r.name.startswith("api")] == []
    assert tasks_of(context, schedule["scheduleId"]) == []
    after = fetch(client, alice, schedule["scheduleId"])
    assert after["nextRunAt"] == stamp(due + timedelta(days=1))
    assert len(runs_of(context, schedule["scheduleId"])) == 1


def test_the_api_process_fires_within_a_second(
    context: AppContext, alice: Account, agent_id: str
) -> None:
    """Real time: the scheduler running in the API's lifespan fires a oneoff on time."""
    app = create_app(context, lifespans=components_for(context, redis_url=None, scheduler=True))
    with TestClient(app, base_url="http://127.0.0.1") as api:
        run_at = datetime.now(UTC) + timedelta(seconds=1.5)
        schedule = create(api, alice, body(agent_id, frequency="oneoff", runAt=stamp(run_at)))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not tasks_of(context, schedule["scheduleId"]):
            time.sleep(0.05)
        [task] = tasks_of(context, schedule["scheduleId"])
        lag = task.dispatched_at - parse(schedule["runAt"])
        assert timedelta(0) <= lag < timedelta(seconds=1), lag
        assert fetch(api, alice, schedule["scheduleId"])["status"] == "completed"


def test_a_week_down_with_a_week_of_grace_fires_the_newest_minute_quickly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Finding the newest fire time in a week of every-minute fires takes a few steps, not
    one per minute (each step of a cron with a time zone walks hours of wall clock)."""
    calls: list[datetime] = []
    real_next_run = scheduling.next_run

    def counted(timing: scheduling.Timing, after: datetime, **kwargs: Any) -> datetime | None:
        calls.append(after)
        return real_next_run(timing, after, **kwargs)

    monkeypatch.setattr(scheduling, "next_run", counted)
    timing = scheduling.Timing("cron", cron_expr="* * * * *", cron_timezone="Asia/Taipei")
    now = datetime(2026, 11, 8, 12, 0, 30, tzinfo=UTC)
    due = now - timedelta(days=7)
    decision = scheduler_module.plan(timing, due, now, timedelta(days=7))
    assert len(calls) < 20
    assert decision.fire_at == datetime(2026, 11, 8, 12, 0, tzinfo=UTC)
    assert decision.skipped_at == due
    assert decision.next_run_at == datetime(2026, 11, 8, 12, 1, tzinfo=UTC)
    assert decision.reason == (
        "several fire times were due at once; only 2026-11-08T12:00:00.000Z fires, no catch-up"
    )


def test_editing_the_content_of_a_due_schedule_keeps_its_fire(
    client: TestClient,
    alice: Account,
    agent_id: str,
    context: AppContext,
    start: datetime,
    clock: ManualClock,
    scheduler: Scheduler,
) -> None:
    """A fire that is due but not yet taken (the scheduler is down, say) survives a PATCH
    of the content, and goes out with the new content."""
    schedule = create(client, alice, body(agent_id, frequency="daily", timeMinutesUTC=540))
    due = start - timedelta(seconds=30)
    with context.db.unit() as session:
        row = session.get(ScheduleRow, schedule["scheduleId"])
        assert row is not None
        row.next_run_at = due
        session.add(row)
    edited = client.patch(
        f"/api/schedules/{schedule['scheduleId']}",
        headers=alice.headers,
        json={"content": "Edited"},
    )
    assert edited.json()["schedule"]["nextRunAt"] == stamp(due)
    assert outcomes_for(scheduler.tick(), schedule["scheduleId"]) == [("dispatched", due)]
    [task] = tasks_of(context, schedule["scheduleId"])
    assert task.params == {"content": "Edited"}
