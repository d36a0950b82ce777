"""When a schedule fires next. Pure functions over UTC-aware datetimes.

Cron expressions run in UTC unless ``cron_timezone`` names an IANA zone; then they are
evaluated on the local wall clock, each wall-clock time at most once: a time repeated by
a DST fall-back fires once (at its first occurrence), and a time skipped by a
spring-forward gap fires at the first instant after the gap, so no day is lost.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadCronError, CroniterBadDateError, croniter

INTERVAL_UNITS: dict[str, timedelta] = {
    "minutes": timedelta(minutes=1),
    "hours": timedelta(hours=1),
    "days": timedelta(days=1),
}
MIN_INTERVAL = timedelta(minutes=1)
MAX_INTERVAL = timedelta(days=366)


class TimingError(ValueError):
    """A frequency spec that cannot fire; the message is shown to users."""


@dataclass(frozen=True)
class Timing:
    frequency: str
    run_at: datetime | None = None
    time_minutes_utc: int | None = None
    day_of_week: int | None = None
    cron_expr: str | None = None
    cron_timezone: str | None = None
    interval_value: int | None = None
    interval_unit: str | None = None


def zone(name: str, field: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        # OSError: a tzdata folder such as "America" names no zone.
        raise TimingError(f"{field} must be an IANA time zone such as Asia/Taipei") from None


def validate(timing: Timing, now: datetime) -> Timing:
    """Check the fields the frequency needs; return the timing with the fields it does not
    use cleared."""
    frequency = timing.frequency
    if frequency == "oneoff":
        if timing.run_at is None:
            raise TimingError("runAt is required when frequency is oneoff")
        if timing.run_at <= now:
            raise TimingError("runAt must be in the future")
        return Timing(frequency, run_at=timing.run_at)
    if frequency in ("daily", "weekly"):
        minutes = timing.time_minutes_utc
        if minutes is None:
            raise TimingError(f"timeMinutesUTC is required when frequency is {frequency}")
        if not 0 <= minutes <= 1439:
            raise TimingError("timeMinutesUTC must be between 0 and 1439")
        if frequency == "daily":
            return Timing(frequency, time_minutes_utc=minutes)
        day = timing.day_of_week
        if day is None:
            raise TimingError("dayOfWeek is required when frequency is weekly")
        if not 0 <= day <= 6:
            raise TimingError("dayOfWeek must be between 0 (Sunday) and 6 (Saturday)")
        return Timing(frequency, time_minutes_utc=minutes, day_of_week=day)
    if frequency == "cron":
        expr = (timing.cron_expr or "").strip()
        if not expr:
            raise TimingError("cronExpr is required when frequency is cron")
        if len(expr.split()) != 5:
            raise TimingError("cronExpr must have 5 fields: minute hour day month weekday")
        try:
            croniter(expr)
        except (CroniterBadCronError, ValueError, KeyError) as error:
            raise TimingError(f"cronExpr is not a valid cron expression: {error}") from None
        if timing.cron_timezone:
            zone(timing.cron_timezone, "cronTimezone")
        try:
            _next_cron(now, expr, timing.cron_timezone)
        except CroniterBadDateError:
            raise TimingError("cronExpr never matches a real date") from None
        return Timing(frequency, cron_expr=expr, cron_timezone=timing.cron_timezone)
    if frequency == "interval":
        value, unit = timing.interval_value, timing.interval_unit
        if value is None or unit is None:
            raise TimingError(
                "intervalValue and intervalUnit are required when frequency is interval"
            )
        if unit not in INTERVAL_UNITS:
            raise TimingError("intervalUnit must be one of: minutes, hours, days")
        # Compared before multiplying: a huge value would overflow timedelta.
        if value > MAX_INTERVAL // INTERVAL_UNITS[unit]:
            raise TimingError("the interval must be at most a year")
        if value < 1 or INTERVAL_UNITS[unit] * value < MIN_INTERVAL:
            raise TimingError("intervalValue must be at least 1")
        return Timing(frequency, run_at=timing.run_at, interval_value=value, interval_unit=unit)
    raise TimingError("frequency must be one of: oneoff, daily, weekly, cron, interval")


def next_run(timing: Timing, after: datetime, *, anchor: datetime | None = None) -> datetime | None:
    """The first fire time strictly after ``after`` (``None`` once a oneoff has passed).
    ``anchor`` is where an interval schedule counts from (its runAt or creation time)."""
    after = after.astimezone(UTC)
    frequency = timing.frequency
    if frequency == "oneoff":
        assert timing.run_at is not None
        return timing.run_at if timing.run_at > after else None
    if frequency == "daily":
        assert timing.time_minutes_utc is not None
        return _next_daily(after, timing.time_minutes_utc, None)
    if frequency == "weekly":
        assert timing.time_minutes_utc is not None and timing.day_of_week is not None
        return _next_daily(after, timing.time_minutes_utc, timing.day_of_week)
    if frequency == "cron":
        assert timing.cron_expr is not None
        return _next_cron(after, timing.cron_expr, timing.cron_timezone)
    if frequency == "interval":
        assert timing.interval_value is not None and timing.interval_unit is not None
        step = INTERVAL_UNITS[timing.interval_unit] * timing.interval_value
        start = (timing.run_at or anchor or after).astimezone(UTC)
        if start > after:
            return start
        periods = (after - start) // step + 1
        return start + periods * step
    raise TimingError(f"unknown frequency {frequency!r}")


def _next_daily(after: datetime, minutes: int, day_of_week: int | None) -> datetime:
    midnight = after.replace(hour=0, minute=0, second=0, microsecond=0)
    candidate = midnight + timedelta(minutes=minutes)
    for _ in range(9):
        # Python: Monday=0; the document: Sunday=0.
        weekday_matches = day_of_week is None or (candidate.weekday() + 1) % 7 == day_of_week
        if candidate > after and weekday_matches:
            return candidate
        candidate += timedelta(days=1)
    raise AssertionError("unreachable: a weekday repeats within 7 days")


def _next_cron(after: datetime, expr: str, tz_name: str | None) -> datetime:
    if not tz_name:
        base = after.replace(tzinfo=None)
        nxt: datetime = croniter(expr, base).get_next(datetime)
        return nxt.replace(tzinfo=UTC)
    tz = ZoneInfo(tz_name)
    # Walk the local wall clock (naive), so each wall time is one candidate; map each to
    # the first instant it denotes (fold=0). Repeat until it lies after ``after``.
    wall = after.astimezone(tz).replace(tzinfo=None) - timedelta(hours=3)
    iterator = croniter(expr, wall)
    for _ in range(10_000):
        wall = iterator.get_next(datetime)
        instant = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
        if instant > after:
            return instant
    raise TimingError("cronExpr never fires")
