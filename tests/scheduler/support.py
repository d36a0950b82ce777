"""Shared by the scheduler tests: a clock to set by hand, a clock that runs fast across
processes, and reading back what the scheduler did."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlmodel import col, select

from api.context import AppContext
from api.db.models import ScheduleRun, Task

SIM_CLOCK_ENV = "BREDGIO_TEST_SIM_CLOCK"


class ManualClock:
    """``now()`` for a scheduler in the test's own process: it moves only when told."""

    def __init__(self, start: datetime) -> None:
        self.value = start

    def __call__(self) -> datetime:
        return self.value

    def set(self, value: datetime) -> None:
        self.value = value


def sim_clock_spec(start: datetime, end: datetime, speed: float, epoch_file: Path) -> str:
    """The env var value for :func:`sim_clock`: every process given it reads the same time."""
    return f"{start.isoformat()},{end.isoformat()},{speed!r},{epoch_file}"


def start_sim_clock(epoch_file: Path) -> None:
    """Set the clocks of :func:`sim_clock_spec` going (from now, in every process)."""
    partial = epoch_file.with_suffix(".partial")
    partial.write_text(repr(time.time()))
    partial.replace(epoch_file)


def sim_clock(spec: str) -> Callable[[], datetime]:
    """A clock shared by processes: ``start`` until the test writes the real time it
    starts at into ``epoch_file``, then ``speed`` times faster than real time, stopping at
    ``end``."""
    start_text, end_text, speed_text, epoch_path = spec.split(",")
    start, end = datetime.fromisoformat(start_text), datetime.fromisoformat(end_text)
    speed, epoch_file = float(speed_text), Path(epoch_path)
    epoch: list[float] = []

    def now() -> datetime:
        if not epoch:
            try:
                epoch.append(float(epoch_file.read_text()))
            except FileNotFoundError:
                return start
        elapsed = max(0.0, time.time() - epoch[0])
        return min(end, start + timedelta(seconds=elapsed * speed))

    return now


def sim_clock_from_env() -> Callable[[], datetime]:
    return sim_clock(os.environ[SIM_CLOCK_ENV])


def runs_of(context: AppContext, schedule_id: str) -> list[ScheduleRun]:
    with context.db.unit(write=False) as session:
        return list(
            session.exec(
                select(ScheduleRun)
                .where(ScheduleRun.schedule_id == schedule_id)
                .order_by(col(ScheduleRun.fire_at))
            )
        )


def tasks_of(context: AppContext, schedule_id: str) -> list[Task]:
    with context.db.unit(write=False) as session:
        return list(
            session.exec(select(Task).where(Task.schedule_id == schedule_id).order_by(col(Task.id)))
        )


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)
