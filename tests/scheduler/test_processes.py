"""Schedulers as real processes against one database: `bredgio scheduler` fires on time in
real time; two schedulers on a fast simulated clock, across a DST fall-back, a crash and a
restart, fire every time exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

from fastapi.testclient import TestClient
from sqlmodel import col, func, select

from api import scheduling
from api.config import Settings
from api.context import AppContext
from api.db.models import Schedule, ScheduleStatus
from api.services.schedules import timing_of
from tests.api.test_schedules import create, fetch, parse, stamp
from tests.conftest import TEST_SECRET
from tests.helpers import Account
from tests.scheduler.support import (
    SIM_CLOCK_ENV,
    runs_of,
    sim_clock_spec,
    start_sim_clock,
    tasks_of,
    utc,
)

ROOT = Path(__file__).resolve().parents[2]
BREDGIO = str(Path(sys.executable).parent / "bredgio")


class SchedulerProcess:
    """A scheduler process writing its log to a file."""

    def __init__(self, argv: list[str], env: dict[str, str], log_path: Path) -> None:
        self.log_path = log_path
        self.log_file: IO[str] = log_path.open("w")
        self.process = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=self.log_file, stderr=subprocess.STDOUT, text=True
        )

    @property
    def log(self) -> str:
        return self.log_path.read_text()

    def wait_started(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while "scheduler started" not in self.log:
            assert self.process.poll() is None, self.log
            assert time.monotonic() < deadline, self.log
            time.sleep(0.02)

    def stop(self) -> int:
        """SIGTERM, as a service manager stops it; the exit code."""
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=15)
        finally:
            self.kill()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.log_file.close()


def scheduler_env(settings: Settings, **extra: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("BREDGIO_")}
    return {
        **clean,
        "BREDGIO_DATA_DIR": str(settings.data_dir),
        "BREDGIO_DATABASE_URL": settings.resolved_database_url,
        "BREDGIO_SECRET_KEY": TEST_SECRET,
        "PYTHONUNBUFFERED": "1",
        **extra,
    }


def assert_clean(log: str) -> None:
    assert "Traceback" not in log, log
    assert " ERROR " not in log and " WARNING " not in log, log


def test_bredgio_scheduler_fires_within_a_second_and_stops_cleanly(
    settings: Settings,
    context: AppContext,
    client: TestClient,
    alice: Account,
    agent_id: str,
    tmp_path: Path,
) -> None:
    scheduler = SchedulerProcess(
        [BREDGIO, "scheduler"], scheduler_env(settings), tmp_path / "scheduler.log"
    )
    try:
        scheduler.wait_started()
        run_at = datetime.now(UTC) + timedelta(seconds=1.2)
        schedule = create(
            client,
            alice,
            {
                "agentId": agent_id,
                "platform": "twitter",
                "content": "On the dot",
                "frequency": "oneoff",
                "runAt": stamp(run_at),
            },
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not tasks_of(context, schedule["scheduleId"]):
            time.sleep(0.05)
        [task] = tasks_of(context, schedule["scheduleId"])
        lag = task.dispatched_at - parse(schedule["runAt"])
        assert timedelta(0) <= lag < timedelta(seconds=1), lag
        assert fetch(client, alice, schedule["scheduleId"])["status"] == "completed"
    finally:
        code = scheduler.stop()
    assert code == 0, scheduler.log
    assert f"fired for {schedule['runAt']}: task {task.id}" in scheduler.log
    assert "scheduler stopped" in scheduler.log
    assert_clean(scheduler.log)


# A fast clock: 24,000 simulated seconds per real second (a day in 3.6 s).
SPEED = 24_000.0
START = utc("2026-10-31T00:00:00")
RESTART = utc("2026-11-01T13:00:00")
END = utc("2026-11-02T12:30:00")
GRACE_S = 7 * 86_400  # a process late by a real blink is late by simulated minutes


def add_schedule(context: AppContext, alice: Account, agent_id: str, **timing: Any) -> str:
    with context.db.unit() as session:
        schedule = Schedule(
            user_id=alice.id,
            agent_id=agent_id,
            platform="facebook",
            content=f"simulated {timing['frequency']}",
            misfire_grace_sec=GRACE_S,
            created_at=START,
            **timing,
        )
        schedule.next_run_at = scheduling.next_run(timing_of(schedule), START, anchor=START)
        session.add(schedule)
        session.flush()
        return schedule.id


def wait_until_fired_through(context: AppContext, moment: datetime, timeout: float) -> None:
    """Until no active schedule has a fire time at or before ``moment`` left."""
    deadline = time.monotonic() + timeout
    while True:
        with context.db.unit(write=False) as session:
            left = session.exec(
                select(func.count())
                .select_from(Schedule)
                .where(
                    Schedule.status == ScheduleStatus.active.value,
                    col(Schedule.next_run_at) <= moment,
                )
            ).one()
        if not left:
            return
        assert time.monotonic() < deadline, f"{left} schedules still due at {moment}"
        time.sleep(0.1)


def test_two_schedulers_fire_each_time_once_across_dst_a_crash_and_a_restart(
    settings: Settings, context: AppContext, alice: Account, agent_id: str, tmp_path: Path
) -> None:
    ids = {
        # 01:30 New York time: on 2026-11-01 that wall time happens twice (EDT, then EST).
        "cron": add_schedule(
            context,
            alice,
            agent_id,
            frequency="cron",
            cron_expr="30 1 * * *",
            cron_timezone="America/New_York",
        ),
        "daily": add_schedule(context, alice, agent_id, frequency="daily", time_minutes_utc=360),
        "interval": add_schedule(
            context, alice, agent_id, frequency="interval", interval_value=4, interval_unit="hours"
        ),
        "oneoff": add_schedule(
            context, alice, agent_id, frequency="oneoff", run_at=utc("2026-11-01T06:15:00")
        ),
    }
    expected = {
        "cron": [
            utc("2026-10-31T05:30:00"),  # 01:30 EDT
            utc("2026-11-01T05:30:00"),  # 01:30 EDT; not again at 06:30Z (01:30 EST)
            utc("2026-11-02T06:30:00"),  # 01:30 EST
        ],
        "daily": [utc(f"2026-{day}T06:00:00") for day in ("10-31", "11-01", "11-02")],
        "interval": [START + timedelta(hours=4 * k) for k in range(1, 16)],
        "oneoff": [utc("2026-11-01T06:15:00")],
    }

    def run_phase(name: str, start: datetime, end: datetime, crash_one: bool) -> list[str]:
        epoch_file = tmp_path / f"{name}.epoch"
        env = scheduler_env(
            settings,
            BREDGIO_SCHEDULER_MAX_SLEEP_S="0.01",
            **{SIM_CLOCK_ENV: sim_clock_spec(start, end, SPEED, epoch_file)},
        )
        argv = [sys.executable, "-m", "tests.scheduler.simulated"]
        first = SchedulerProcess(argv, env, tmp_path / f"{name}-1.log")
        second = SchedulerProcess(argv, env, tmp_path / f"{name}-2.log")
        try:
            first.wait_started()
            second.wait_started()
            start_sim_clock(epoch_file)
            real_span = (end - start).total_seconds() / SPEED
            if crash_one:
                time.sleep(real_span / 2)
                second.kill()  # SIGKILL, mid-flight: whatever it had not committed is gone
            wait_until_fired_through(context, end, timeout=real_span + 30)
            codes = [first.stop(), *([] if crash_one else [second.stop()])]
        finally:
            first.kill()
            second.kill()
        assert codes == [0] * len(codes), (first.log, second.log)
        survivors = [first] if crash_one else [first, second]
        for process in survivors:
            assert_clean(process.log)
        return [process.log for process in survivors]

    run_phase("before", START, RESTART, crash_one=True)
    after_logs = run_phase("after", RESTART, END, crash_one=False)

    for name, times in expected.items():
        runs = runs_of(context, ids[name])
        assert [run.fire_at for run in runs] == times, name
        assert {run.outcome for run in runs} == {"dispatched"}, name
        tasks = tasks_of(context, ids[name])
        assert len(tasks) == len(times), name
        assert {task.id for task in tasks} == {run.task_id for run in runs}, name

    # After the restart, each fire was logged by exactly one of the two processes.
    fired_after = [t for times in expected.values() for t in times if t > RESTART]
    logged = sum(log.count(" fired for ") for log in after_logs)
    assert logged == len(fired_after)

    with context.db.unit(write=False) as session:
        oneoff = session.get(Schedule, ids["oneoff"])
        daily = session.get(Schedule, ids["daily"])
    assert oneoff is not None and oneoff.status == "completed" and oneoff.next_run_at is None
    assert daily is not None and daily.next_run_at == utc("2026-11-03T06:00:00")
    assert daily.last_run_at == utc("2026-11-02T06:00:00")
